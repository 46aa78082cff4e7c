from django.core.management.base import BaseCommand

from nir_portal.audit.verification import audit_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain and check it against every signed checkpoint, in the database "
        "and in checkpoint storage. Exits 1 when an entry differs or a checkpoint no longer matches."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="Write nothing (a replica, or an account that may only read): entries not yet chained are "
            "counted, not chained and checked.",
        )

    def handle(self, *args, read_only=False, **options):
        result = audit_verify(read_only=read_only)
        for problem in result.problems:
            self.stdout.write(f"FAIL  {problem}")
        summary = f"{result.entries} entries, {result.checkpoints_checked} checkpoint copies checked"
        if result.unchained:
            summary += f"; {result.unchained} written since the last chaining not checked (read-only)"
        if result.intact:
            self.stdout.write(f"PASS  The audit trail is intact: {summary}.")
            return
        self.stdout.write(f"The audit trail does not verify: {summary}.")
        raise SystemExit(1)
