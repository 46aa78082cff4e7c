"""Print every registered certificate that has expired or expires soon; exit 1 when there is any.

For an organisation's own monitoring: `python manage.py certificates_check --days 30`.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from certificates import selectors


class Command(BaseCommand):
    help = "List certificates that have expired or expire within --days (default 30); exit 1 when any is found."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=selectors.DEFAULT_EXPIRING_DAYS, help="Days ahead to look.")

    def handle(self, *args, days: int, **options):
        if days < 0:
            self.stderr.write("--days must be zero or more.")
            raise SystemExit(2)
        now = timezone.now()
        rows = selectors.register_rows(selectors.certificates_expiring(within_days=days, now=now), now=now)
        for row in rows:
            state = "EXPIRED" if row.revision.not_after <= now else f"expires in {row.days_left} days"
            self.stdout.write(
                f"{state}\t{row.revision.not_after:%Y-%m-%d %H:%M} UTC\t{row.entry.get_environment_display()}\t"
                f"{row.entry.holder}\t{row.entry.name}\t{row.entry.get_purpose_display()}\t"
                f"owner {row.entry.owner.email}\t{row.revision.fingerprint_sha256}"
            )
        if rows:
            self.stderr.write(f"{len(rows)} certificate(s) expired or expiring within {days} days.")
            raise SystemExit(1)
        self.stdout.write(f"No certificate expired or expiring within {days} days.")
