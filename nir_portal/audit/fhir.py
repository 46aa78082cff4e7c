"""The audit trail as FHIR R4 AuditEvent resources (fhir.resources' R4B models, which R4 clients
read), in a Bundle or as NDJSON. Each resource carries its chain hashes and the exact fields they
cover, so an exported slice is checked offline with `fhir_export_verify` and nothing else."""

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone

from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import hashed_fields

CHAIN_EXTENSION = "https://nir-portal.nhs.uk/fhir/StructureDefinition/audit-chain"
ACTION_SYSTEM = "https://nir-portal.nhs.uk/fhir/CodeSystem/audit-action"
USER_SYSTEM = "https://nir-portal.nhs.uk/fhir/Id/user"
ORGANISATION_SYSTEM = "https://nir-portal.nhs.uk/fhir/Id/organisation"
OBJECT_SYSTEM = "https://nir-portal.nhs.uk/fhir/Id/object/"
OUTCOME_CODES = {"success": "0", "denied": "4", "failure": "8"}
OBSERVER = {"display": "NIR onboarding portal"}


def _canonical(fields: dict[str, Any]) -> str:
    # The same serialisation the chain hashes (nir_portal.audit.services._entry_hash).
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)


def _chain_extension(event: AuditEvent) -> dict[str, Any]:
    """The entry's chain position (`sequence`) and hashes; an entry exported in the moment between
    its commit and its chaining carries only the fields that will be hashed."""
    hashed = {"url": "hashedFields", "valueString": _canonical(hashed_fields(event))}
    if not event.is_chained:
        return {"url": CHAIN_EXTENSION, "extension": [hashed]}
    return {
        "url": CHAIN_EXTENSION,
        "extension": [
            {"url": "sequence", "valueString": str(event.chain_seq)},
            {"url": "previousHash", "valueString": event.previous_hash},
            {"url": "entryHash", "valueString": event.entry_hash},
            hashed,
        ],
    }


def audit_event_resource(event: AuditEvent):
    """One portal audit entry as a FHIR AuditEvent model."""
    from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

    agent: dict[str, Any] = {"requestor": True}
    if event.actor_id or event.actor_email:
        agent["who"] = {"display": event.actor_email or f"user {event.actor_id}"}
        if event.actor_id:
            agent["who"]["identifier"] = {"system": USER_SYSTEM, "value": str(event.actor_id)}
    else:
        agent["who"] = {"display": "NIR onboarding portal (system)"}
    if event.ip_address:
        agent["network"] = {"address": event.ip_address, "type": "2"}
    entities = []
    if event.object_type or event.object_id:
        entity: dict[str, Any] = {
            "what": {"identifier": {"system": OBJECT_SYSTEM + (event.object_type or "none"), "value": event.object_id}}
        }
        if event.object_repr:
            entity["what"]["display"] = event.object_repr
        if event.changes:
            entity["detail"] = [{"type": "changes", "valueString": _canonical(event.changes)}]
        entities.append(entity)
    if event.organisation_id:
        entities.append({"what": {"identifier": {"system": ORGANISATION_SYSTEM, "value": str(event.organisation_id)}}})
    resource = {
        "resourceType": "AuditEvent",
        "id": f"nir-audit-{event.pk}",
        "extension": [_chain_extension(event)],
        "type": {"system": ACTION_SYSTEM, "code": event.action},
        "recorded": event.occurred_at.isoformat(),
        "outcome": OUTCOME_CODES.get(event.outcome, "8"),
        "agent": [agent],
        "source": {"observer": OBSERVER},
    }
    if event.outcome != AuditEvent.Outcome.SUCCESS:
        resource["outcomeDesc"] = event.get_outcome_display()
    if entities:
        resource["entity"] = entities
    return FhirAuditEvent.model_validate(resource)


def fhir_bundle(events: Iterable[AuditEvent]) -> str:
    from fhir.resources.R4B.bundle import Bundle

    entries = [{"resource": audit_event_resource(event)} for event in events]
    bundle = Bundle.model_validate(
        {"resourceType": "Bundle", "type": "collection", "timestamp": timezone.now().isoformat(), "entry": entries}
    )
    return bundle.model_dump_json(indent=2)


def fhir_ndjson(events: Iterable[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield audit_event_resource(event).model_dump_json() + "\n"


# --- offline verification -------------------------------------------------------------------------


def _chain_of(resource: dict[str, Any]) -> dict[str, str]:
    for extension in resource.get("extension") or []:
        if extension.get("url") == CHAIN_EXTENSION:
            return {part["url"]: part.get("valueString", "") for part in extension.get("extension") or []}
    return {}


def _visible_mismatch(resource: dict[str, Any], fields: dict[str, Any]) -> str | None:
    """A field shown in the resource that disagrees with the hashed fields it carries."""
    from datetime import datetime

    if (resource.get("type") or {}).get("code") != fields.get("action"):
        return "type.code"
    if datetime.fromisoformat(resource["recorded"]) != datetime.fromisoformat(fields["occurred_at"]):
        return "recorded"
    if resource.get("outcome") != OUTCOME_CODES.get(fields.get("outcome"), "8"):
        return "outcome"
    for entity in resource.get("entity") or []:
        identifier = (entity.get("what") or {}).get("identifier") or {}
        if identifier.get("system", "").startswith(OBJECT_SYSTEM) and identifier.get("value") != fields["object_id"]:
            return "entity.what.identifier.value"
    return None


def fhir_export_verify(resources: list[dict[str, Any]]) -> list[str]:
    """Problems found in exported AuditEvents (as JSON): an entry whose hash does not recompute,
    a shown field that differs from what was hashed, or consecutive entries not chained."""
    problems = []
    previous: dict[str, str] | None = None
    for index, resource in enumerate(resources):
        chain = _chain_of(resource)
        where = f"entry {index} ({resource.get('id')})"
        if "hashedFields" in chain and not chain.get("entryHash"):
            problems.append(f"{where}: was not yet chained when exported; export it again to check it")
            previous = None
            continue
        if not chain.get("entryHash") or "hashedFields" not in chain:
            problems.append(f"{where}: carries no chain hashes")
            previous = None
            continue
        recomputed = hashlib.sha256((chain["previousHash"] + chain["hashedFields"]).encode()).hexdigest()
        if recomputed != chain["entryHash"]:
            problems.append(f"{where}: its hash does not recompute")
        mismatch = _visible_mismatch(resource, json.loads(chain["hashedFields"]))
        if mismatch:
            problems.append(f"{where}: {mismatch} differs from the hashed record")
        consecutive = previous is not None and int(chain["sequence"]) == int(previous["sequence"]) + 1
        if consecutive and chain["previousHash"] != previous["entryHash"]:
            problems.append(f"{where}: does not follow entry {previous['sequence']} in the chain")
        previous = chain
    return problems


def resources_from_export(data: bytes) -> list[dict[str, Any]]:
    """The AuditEvents of an exported Bundle or NDJSON, each validated with fhir.resources."""
    from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
    from fhir.resources.R4B.bundle import Bundle

    text = data.decode("utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None  # NDJSON: one resource a line
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        bundle = Bundle.model_validate(document)
        resources = [json.loads(entry.resource.model_dump_json()) for entry in bundle.entry or []]
    else:
        resources = [
            json.loads(FhirAuditEvent.model_validate_json(line).model_dump_json())
            for line in text.splitlines()
            if line.strip()
        ]
    # In chain order; entries exported before they were chained last.
    return sorted(resources, key=lambda r: int(_chain_of(r).get("sequence") or 2**63))
