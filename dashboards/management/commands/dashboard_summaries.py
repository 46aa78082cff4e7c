"""`dashboard_summaries --check`: the deployments whose dashboard summary row (every column,
including its packed share of the totals) differs from a fresh computation from its sources, or
that have none; exits 1 when there is any. `dashboard_summaries --refresh` recomputes every row
(after rows were written around the services)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboards.summary import summaries_out_of_step, summaries_refresh


class Command(BaseCommand):
    help = "Check (or refresh) the dashboards' per-deployment summary rows against their sources."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--check", action="store_true", help="list the rows out of step; exit 1 if any")
        action.add_argument("--refresh", action="store_true", help="recompute every row")

    def handle(self, *args, check: bool, refresh: bool, **options):
        if refresh:
            with transaction.atomic():
                written = summaries_refresh()
            self.stdout.write(f"Refreshed {written} summary rows.")
            return
        out_of_step = summaries_out_of_step()
        if out_of_step:
            shown = ", ".join(str(pk) for pk in out_of_step[:50])
            raise CommandError(f"{len(out_of_step)} summary rows out of step (deployments {shown}).")
        self.stdout.write("Every summary row is in step.")
