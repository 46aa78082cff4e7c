"""The PARS content rules. Each takes one AuditEvent (as JSON) and returns its failures as
(JSON path, message) pairs; an empty list is a pass. The codes come from pars_rules.json."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from onboarding.pars.codes import pars_codes
from onboarding.pars.identifiers import dicom_uid_valid, home_community_id_valid, nhs_number_valid, ods_code_valid

Failure = tuple[str, str]
# Clocks drift; a timestamp further ahead than this is a wrong clock, not drift.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    check: Callable[[dict[str, Any], dict[str, Any]], list[Failure]]


def _identifier(reference: Any) -> dict[str, Any]:
    identifier = (reference or {}).get("identifier") if isinstance(reference, dict) else None
    return identifier if isinstance(identifier, dict) else {}


def _entities(event: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(event.get("entity") or [])


def _entities_of_type(event: dict[str, Any], kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    codes = pars_codes()
    wanted = (codes["entity_type_system"], codes["entity_types"][kind])
    for index, entity in _entities(event):
        entity_type = entity.get("type") or {}
        if (entity_type.get("system"), entity_type.get("code")) == wanted:
            yield index, entity


def _details(entity: dict[str, Any], detail_type: str) -> Iterator[tuple[int, Any]]:
    for index, detail in enumerate(entity.get("detail") or []):
        if detail.get("type") == detail_type:
            yield index, detail.get("valueString")


def _agents_with_system(event: dict[str, Any], systems: list[str]) -> list[tuple[int, str]]:
    found = []
    for index, agent in enumerate(event.get("agent") or []):
        identifier = _identifier(agent.get("who"))
        if identifier.get("system") in systems:
            found.append((index, identifier.get("value") or ""))
    return found


def check_event_type(event, transaction) -> list[Failure]:
    wanted = transaction["event_type"]
    found = event.get("type") or {}
    if (found.get("system"), found.get("code")) != (wanted["system"], wanted["code"]):
        return [("$.type", f"must be {wanted['display']} ({wanted['system']} code {wanted['code']})")]
    return []


def check_action(event, transaction) -> list[Failure]:
    if event.get("action") != transaction["action"]:
        return [("$.action", f"must be {transaction['action']}, found {event.get('action') or 'nothing'}")]
    return []


def check_recorded(event, transaction) -> list[Failure]:
    recorded = event.get("recorded")
    try:
        moment = datetime.fromisoformat(str(recorded).replace("Z", "+00:00"))
    except ValueError:
        return [("$.recorded", "must be a timestamp with a time zone")]
    if moment.tzinfo is None:
        return [("$.recorded", "must be a timestamp with a time zone")]
    if moment > timezone.now() + FUTURE_TOLERANCE:
        return [("$.recorded", f"{recorded} is in the future: the recording clock is wrong")]
    return []


def check_patient_nhs_number(event, transaction) -> list[Failure]:
    system = pars_codes()["identifier_systems"]["nhs_number"]
    failures, found = [], False
    for index, entity in _entities(event):
        identifier = _identifier(entity.get("what"))
        if identifier.get("system") == system:
            found = True
            value = identifier.get("value") or ""
            if not nhs_number_valid(value):
                failures.append(
                    (
                        f"$.entity[{index}].what.identifier.value",
                        f"{value or 'an empty value'} is not a valid NHS number (10 digits, modulus-11 check digit)",
                    )
                )
    if not found:
        failures.append(("$.entity", f"no entity identifies the patient by NHS number ({system})"))
    return failures


def check_requester_organisation(event, transaction) -> list[Failure]:
    system = pars_codes()["identifier_systems"]["ods_code"]
    agents = _agents_with_system(event, [system])
    if not agents:
        return [("$.agent", f"no agent identifies the requesting organisation by ODS code ({system})")]
    return [
        (f"$.agent[{index}].who.identifier.value", f"{value or 'an empty value'} is not an ODS code")
        for index, value in agents
        if not ods_code_valid(value)
    ]


def check_requester_identity(event, transaction) -> list[Failure]:
    systems = pars_codes()["identifier_systems"]
    wanted = systems["practitioner"] + systems["role_profile"] + systems["system"]
    if not any(value for _, value in _agents_with_system(event, wanted)):
        return [("$.agent", "no agent identifies the requesting practitioner, role profile or system")]
    return []


def check_requesting_system(event, transaction) -> list[Failure]:
    if not any(value for _, value in _agents_with_system(event, pars_codes()["identifier_systems"]["system"])):
        return [("$.agent", "no agent identifies the requesting system or gateway (ASID or product identifier)")]
    return []


def _one_identified(event, kind: str, label: str) -> list[Failure]:
    entities = list(_entities_of_type(event, kind))
    if not entities:
        return [("$.entity", f"no entity of type {kind} carries the {label}")]
    return [
        (f"$.entity[{index}].what.identifier.value", f"the {label} is empty")
        for index, entity in entities
        if not _identifier(entity.get("what")).get("value")
    ]


def check_transaction_id(event, transaction) -> list[Failure]:
    return _one_identified(event, "transaction", "transaction ID")


def check_endpoint(event, transaction) -> list[Failure]:
    for _, entity in _entities_of_type(event, "endpoint"):
        if entity.get("name") or entity.get("description") or entity.get("detail"):
            return []
    if any((agent.get("network") or {}).get("address") for agent in event.get("agent") or []):
        return []
    return [("$.entity", "no endpoint entity (with a name or detail) and no agent network address")]


def check_outcome(event, transaction) -> list[Failure]:
    outcomes = pars_codes()["outcomes"]
    outcome = event.get("outcome")
    if outcome not in outcomes:
        return [("$.outcome", f"must be one of {', '.join(outcomes)}, found {outcome or 'nothing'}")]
    if outcomes[outcome] != "success" and not (event.get("outcomeDesc") or "").strip():
        return [("$.outcomeDesc", "a failure or partial success must say what went wrong")]
    return []


def check_response_not_logged(event, transaction) -> list[Failure]:
    codes = pars_codes()
    failures = []
    for index, entity in _entities(event):
        if (entity.get("type") or {}).get("code") in codes["response_entity_types"]:
            failures.append((f"$.entity[{index}].type", "records the response: only the request is audited"))
        for detail_index, detail in enumerate(entity.get("detail") or []):
            if detail.get("type") in codes["response_detail_types"]:
                failures.append(
                    (
                        f"$.entity[{index}].detail[{detail_index}]",
                        f"carries response payload ({detail.get('type')}): only the request is audited",
                    )
                )
    return failures


def check_document_unique_id(event, transaction) -> list[Failure]:
    return _one_identified(event, "document", "document unique ID")


def _detail_check(event, detail_key: str, label: str, valid: Callable[[str], bool]) -> list[Failure]:
    detail_type = pars_codes()["detail_types"][detail_key]
    failures, found = [], False
    for index, entity in _entities_of_type(event, "document"):
        for detail_index, value in _details(entity, detail_type):
            found = True
            if not valid(value or ""):
                failures.append(
                    (f"$.entity[{index}].detail[{detail_index}].valueString", f"{value or 'nothing'} is not a {label}")
                )
    if not found:
        failures.append(("$.entity", f"no document entity carries its {label} (detail type {detail_type})"))
    return failures


def check_repository_unique_id(event, transaction) -> list[Failure]:
    return _detail_check(event, "repository_unique_id", "repository unique ID (an OID)", dicom_uid_valid)


def check_home_community_id(event, transaction) -> list[Failure]:
    return _detail_check(event, "home_community_id", "home community ID (urn:oid:...)", home_community_id_valid)


def _uids(event, kind: str, label: str) -> list[Failure]:
    entities = list(_entities_of_type(event, kind))
    if not entities:
        return [("$.entity", f"no entity of type {kind} carries the {label}")]
    failures = []
    for index, entity in entities:
        value = _identifier(entity.get("what")).get("value") or ""
        if not dicom_uid_valid(value):
            failures.append((f"$.entity[{index}].what.identifier.value", f"{value or 'nothing'} is not a DICOM UID"))
    return failures


def check_study_instance_uid(event, transaction) -> list[Failure]:
    return _uids(event, "study", "Study Instance UID")


def check_series_instance_uid(event, transaction) -> list[Failure]:
    return _uids(event, "series", "Series Instance UID")


def check_document_or_repository_id(event, transaction) -> list[Failure]:
    repository = pars_codes()["detail_types"]["repository_unique_id"]
    for _, entity in _entities_of_type(event, "document"):
        if _identifier(entity.get("what")).get("value") or any(v for _, v in _details(entity, repository)):
            return []
    return [("$.entity", "no document entity carries a document unique ID or repository unique ID")]


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("event-type", "Event type of the transaction", check_event_type),
        Rule("action", "Action code of the transaction", check_action),
        Rule("recorded", "Timestamp", check_recorded),
        Rule("patient-nhs-number", "Patient NHS number (modulus-11)", check_patient_nhs_number),
        Rule("requester-organisation", "Requesting organisation's ODS code", check_requester_organisation),
        Rule("requester-identity", "Requesting practitioner or system", check_requester_identity),
        Rule("requesting-system", "Requesting system or gateway", check_requesting_system),
        Rule("transaction-id", "Transaction ID", check_transaction_id),
        Rule("endpoint", "Endpoint details", check_endpoint),
        Rule("outcome", "Outcome, with error details on failure", check_outcome),
        Rule("response-not-logged", "The response is not logged", check_response_not_logged),
        Rule("document-unique-id", "Document unique ID", check_document_unique_id),
        Rule("repository-unique-id", "Repository unique ID", check_repository_unique_id),
        Rule("home-community-id", "Home community ID", check_home_community_id),
        Rule("study-instance-uid", "Study Instance UID (DICOM UID)", check_study_instance_uid),
        Rule("series-instance-uid", "Series Instance UID(s) (DICOM UID)", check_series_instance_uid),
        Rule("document-or-repository-id", "Document or repository identifiers", check_document_or_repository_id),
    )
}


def transaction_of(event: dict[str, Any]) -> str | None:
    codes = pars_codes()
    for coding in event.get("subtype") or []:
        if coding.get("system") == codes["transaction_system"] and coding.get("code") in codes["transactions"]:
            return coding["code"]
    return None


def outcome_kind(event: dict[str, Any]) -> str | None:
    return pars_codes()["outcomes"].get(event.get("outcome"))
