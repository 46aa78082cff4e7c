from pathlib import Path

from django.core.management.base import BaseCommand
from pydantic import ValidationError

from nir_portal.audit.fhir import fhir_export_verify, resources_from_export


class Command(BaseCommand):
    help = "Check an exported audit slice (FHIR Bundle or NDJSON) offline: every entry's chain hash. Exits 1 if not."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            resources = resources_from_export(Path(path).read_bytes())
        except (OSError, ValueError, ValidationError) as error:
            self.stdout.write(f"FAIL  {path} cannot be read as FHIR AuditEvents: {error}")
            raise SystemExit(2) from None
        problems = fhir_export_verify(resources)
        for problem in problems:
            self.stdout.write(f"FAIL  {problem}")
        if problems:
            raise SystemExit(1)
        self.stdout.write(f"PASS  {len(resources)} AuditEvents; every chain hash verifies.")
