"""Conformant PARS sample AuditEvents, one per transaction and outcome, to copy and break."""

import copy
import json

NHS_NUMBER = "9434765919"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
ASID = "https://fhir.nhs.uk/Id/nhsSpineASID"
ENTITY = "https://fhir.nhs.uk/England/CodeSystem/England-PARSEntityType"
EVENT_TYPES = {
    "ITI-38": ({"system": DCM, "code": "110112", "display": "Query"}, "R"),
    "ITI-39": ({"system": DCM, "code": "110106", "display": "Export"}, "E"),
    "RAD-75": ({"system": DCM, "code": "110103", "display": "Study-Used"}, "R"),
}
OUTCOMES = {
    "success": ("0", None),
    "failure": ("8", "Responding gateway RZ9 timed out after 30 s"),
    "partial": (
        "4",
        "PartialSuccess: 1 of 3 responding gateways returned XDSRegistryError",
    ),
}


def _entity(kind: str, value: str, **extra) -> dict:
    return {"what": {"identifier": {"value": value}}, "type": {"system": ENTITY, "code": kind}, **extra}


def audit_event(transaction: str, outcome: str = "success", number: int = 1) -> dict:
    event_type, action = EVENT_TYPES[transaction]
    code, description = OUTCOMES[outcome]
    entities = [
        {"what": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBER}}},
        _entity("transaction", f"urn:uuid:6f1c1a52-4c7e-4a8e-9d2b-{number:012d}"),
        _entity("endpoint", "urn:oid:1.2.826.0.1.3680043.10.1001", name="https://nir.example.nhs.uk/xca/query"),
    ]
    if transaction == "ITI-39":
        entities.append(
            _entity(
                "document",
                "1.2.826.0.1.3680043.10.1001.77.1",
                detail=[
                    {"type": "Repository Unique Id", "valueString": "1.2.826.0.1.3680043.10.1001.5"},
                    {"type": "ihe:homeCommunityID", "valueString": "urn:oid:1.2.826.0.1.3680043.10.1001"},
                ],
            )
        )
    if transaction == "RAD-75":
        entities += [
            _entity("study", "1.2.826.0.1.3680043.10.1001.200.1"),
            _entity("series", "1.2.826.0.1.3680043.10.1001.200.1.1"),
            _entity("series", "1.2.826.0.1.3680043.10.1001.200.1.2"),
            _entity(
                "document",
                "1.2.826.0.1.3680043.10.1001.200.9",
                detail=[{"type": "Repository Unique Id", "valueString": "1.2.826.0.1.3680043.10.1001.5"}],
            ),
        ]
    event = {
        "resourceType": "AuditEvent",
        "id": f"{transaction.lower()}-{outcome}",
        "type": dict(event_type),
        "subtype": [{"system": "urn:ihe:event-type-code", "code": transaction}],
        "action": action,
        "recorded": "2026-03-02T09:15:00+00:00",
        "outcome": code,
        "agent": [
            {
                "type": {"text": "Requesting organisation"},
                "who": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RZ1"}},
                "requestor": True,
            },
            {
                "type": {"text": "Practitioner"},
                "who": {"identifier": {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "555042709107"}},
                "requestor": True,
            },
            {
                "type": {"text": "Requesting system"},
                "who": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhsSpineASID", "value": "200000001234"}},
                "requestor": True,
                "network": {"address": "nir-gateway.rz1.nhs.uk", "type": "1"},
            },
        ],
        "source": {
            "observer": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhsSpineASID", "value": "200000001234"}}
        },
        "entity": entities,
    }
    if description:
        event["outcomeDesc"] = description
    return event


def conformant_set() -> list[dict]:
    events, number = [], 0
    for transaction in EVENT_TYPES:
        for outcome in OUTCOMES:
            number += 1
            events.append(audit_event(transaction, outcome, number))
    return events


def ndjson(events: list[dict]) -> bytes:
    return "".join(json.dumps(event) + "\n" for event in events).encode()


def bundle(events: list[dict]) -> bytes:
    return json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in events]}, indent=2
    ).encode()


def replaced(events: list[dict], index: int, change) -> list[dict]:
    """A deep copy of the events with one of them changed in place by `change`."""
    copied = copy.deepcopy(events)
    change(copied[index])
    return copied
