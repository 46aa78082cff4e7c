import json
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand

from onboarding.pars.files import documents_from
from onboarding.pars.report import pars_report, render_text

EXIT_PASS, EXIT_FAIL, EXIT_UNREADABLE = 0, 1, 2


class Command(BaseCommand):
    help = (
        "Check sample PARS AuditEvents (FHIR JSON, a Bundle, NDJSON, or a ZIP of them) before uploading them. "
        "Exits 0 when every rule passes, 1 when any fails, 2 when an input cannot be read."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, paths, **options):
        documents, unreadable = [], False
        for path in paths:
            try:
                documents += documents_from(Path(path).name, Path(path).read_bytes())
            except (OSError, zipfile.BadZipFile) as error:
                self.stderr.write(f"{path}: cannot be read: {getattr(error, 'strerror', None) or error}")
                unreadable = True
        report = pars_report(documents)
        self.stdout.write(_dumps(report) if options["json"] else render_text(report), ending="")
        unreadable = unreadable or not report["input"][0]["passed"]
        raise SystemExit(EXIT_UNREADABLE if unreadable else EXIT_PASS if report["passed"] else EXIT_FAIL)


def _dumps(report) -> str:
    return json.dumps(report, indent=2) + "\n"
