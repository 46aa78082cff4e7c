import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from nir_portal.audit import fhir
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.selectors import audit_events_slice
from nir_portal.audit.services import audit_chain_extend, audit_event_record


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise CommandError(f"{value}: give a time zone, for example 2026-03-01T00:00:00+00:00")
    return moment


class Command(BaseCommand):
    help = "Export a slice of the audit trail as FHIR R4 AuditEvent resources (a Bundle or NDJSON)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "ndjson"], default="json")
        parser.add_argument("--organisation", type=int, help="organisation id")
        parser.add_argument("--deployment", type=int, help="deployment id")
        parser.add_argument("--start", type=_moment, help="from this moment (ISO 8601 with time zone)")
        parser.add_argument("--end", type=_moment, help="until this moment (ISO 8601 with time zone)")
        parser.add_argument("--actor", default="", help="the person's e-mail")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        events = audit_events_slice(
            AuditEvent.objects.all(),
            organisation_id=options["organisation"],
            deployment_id=options["deployment"],
            start=options["start"],
            end=options["end"],
            actor=options["actor"],
        ).order_by("id")
        filters = {k: str(options[k]) for k in ("organisation", "deployment", "start", "end", "actor") if options[k]}
        audit_event_record(
            action="audit.export",
            object_type="audit.auditevent",
            object_id="slice",
            changes={"format": options["format"], "filters": filters, "entries": events.count(), "via": "command"},
        )
        audit_chain_extend()  # so the slice carries the hashes of everything committed
        chunks = (
            fhir.fhir_ndjson(events.iterator(chunk_size=1000))
            if options["format"] == "ndjson"
            else [fhir.fhir_bundle(events.iterator(chunk_size=1000)) + "\n"]
        )
        output = open(options["output"], "w", encoding="utf-8") if options["output"] else sys.stdout  # noqa: SIM115  closed in the finally below
        try:
            for chunk in chunks:
                output.write(chunk)
        finally:
            if output is not sys.stdout:
                output.close()
