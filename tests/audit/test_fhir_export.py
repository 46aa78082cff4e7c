"""The audit trail as FHIR AuditEvent: the national screen (read-only, paginated, filtered), the
exports (Bundle and NDJSON) and the command, each parsed back with fhir.resources and checked
offline against its chain hashes."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle

from nir_portal.accounts.models import Role
from nir_portal.audit.fhir import CHAIN_EXTENSION, fhir_export_verify, resources_from_export
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record


@pytest.fixture
def national(world, signed_in):
    return signed_in(world.member(world.national, Role.NATIONAL_REVIEWER))


@pytest.fixture
def trail(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    for n in range(3):
        audit_event_record(action="test.trust_a", actor=lead, organisation=world.trust_a, changes={"n": n})
    audit_event_record(action="test.trust_b", organisation=world.trust_b, outcome=AuditEvent.Outcome.DENIED)
    return lead


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_bundle_export_parses_back_with_fhir_resources_and_every_chain_hash_verifies(national, trail):
    response = national.get(reverse("audit:export-json"))

    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "collection"
    # The export's own audit entry is written before the slice is read, so it is in the slice.
    assert len(bundle.entry) == AuditEvent.objects.count()
    resources = resources_from_export(response.content)
    first = resources[0]
    assert any(e["url"] == CHAIN_EXTENSION for e in first["extension"])
    assert fhir_export_verify(resources) == []


def test_an_ndjson_export_of_one_organisation_holds_only_its_entries_and_verifies(national, trail, world):
    response = national.get(reverse("audit:export-ndjson"), {"organisation": world.trust_a.pk})

    lines = _body(response).decode().splitlines()
    events = [FhirAuditEvent.model_validate_json(line) for line in lines]
    organisations = {
        entity.what.identifier.value
        for e in events
        for entity in e.entity or []
        if "organisation" in entity.what.identifier.system
    }
    assert organisations == {str(world.trust_a.pk)}
    assert len(events) == AuditEvent.objects.filter(organisation=world.trust_a).count()
    assert [e.type.code for e in events].count("test.trust_a") == 3
    assert fhir_export_verify(resources_from_export(_body(response))) == []


def test_an_altered_export_fails_offline_verification(national, trail):
    resources = resources_from_export(national.get(reverse("audit:export-json")).content)
    first, second = [r for r in resources if r["type"]["code"] == "test.trust_a"][:2]
    first["type"]["code"] = "test.something_else"
    chain = next(e for e in second["extension"] if e["url"] == CHAIN_EXTENSION)["extension"]
    hashed = next(p for p in chain if p["url"] == "hashedFields")
    hashed["valueString"] = hashed["valueString"].replace('"n":', '"m":')

    problems = fhir_export_verify(resources)

    assert problems == [
        f"entry {resources.index(first)} ({first['id']}): type.code differs from the hashed record",
        f"entry {resources.index(second)} ({second['id']}): its hash does not recompute",
    ]


def test_every_export_is_audited_with_its_filters(national, trail, world):
    national.get(reverse("audit:export-ndjson"), {"organisation": world.trust_a.pk})

    export = AuditEvent.objects.get(action="audit.export")
    assert export.changes["format"] == "ndjson"
    assert export.changes["filters"] == {"organisation": str(world.trust_a.pk)}
    assert export.changes["entries"] == AuditEvent.objects.filter(organisation=world.trust_a).count()


def test_the_screen_lists_filters_and_paginates_the_trail(national, trail, world):
    for n in range(60):
        audit_event_record(action="test.bulk", organisation=world.trust_b, changes={"n": n})

    first = national.get(reverse("audit:event-list"))
    second = national.get(reverse("audit:event-list"), {"page": 2})
    filtered = national.get(reverse("audit:event-list"), {"actor": trail.email})

    assert first.status_code == 200 and len(first.context["audit_events"]) == 50
    assert second.context["page_obj"].number == 2
    assert {e.action for e in filtered.context["audit_events"]} == {"test.trust_a"}


def test_the_command_exports_a_slice_that_verify_audit_export_accepts_and_a_tampered_one_it_refuses(
    trail, world, tmp_path
):
    path = tmp_path / "slice.json"
    call_command("export_audit", "--organisation", str(world.trust_a.pk), "--output", str(path))
    out = io.StringIO()
    call_command("verify_audit_export", str(path), stdout=out)
    assert f"PASS  {AuditEvent.objects.filter(organisation=world.trust_a).count()} AuditEvents" in out.getvalue()

    document = json.loads(path.read_text())
    document["entry"][0]["resource"]["recorded"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(document))
    with pytest.raises(SystemExit) as failed:
        call_command("verify_audit_export", str(path), stdout=io.StringIO())
    assert failed.value.code == 1


def test_an_entry_exported_before_it_is_chained_carries_no_hashes_and_is_named_offline(world):
    from nir_portal.audit import fhir
    from nir_portal.audit.services import audit_chain_extend

    audit_chain_extend()
    pending = audit_event_record(action="test.not_yet_chained")

    resources = resources_from_export("".join(fhir.fhir_ndjson([pending])).encode())

    chain = next(e for e in resources[0]["extension"] if e["url"] == CHAIN_EXTENSION)["extension"]
    assert [part["url"] for part in chain] == ["hashedFields"]
    assert fhir_export_verify(resources) == [
        f"entry 0 (nir-audit-{pending.pk}): was not yet chained when exported; export it again to check it"
    ]
