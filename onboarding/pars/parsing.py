"""Reading sample AuditEvents: one JSON resource, a Bundle of them, or NDJSON (one resource a
line). Structure is validated with fhir.resources' R4B models, so a malformed resource is
reported with the library's own error at its JSON path."""

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

ACCEPTED = "a FHIR AuditEvent, a Bundle of AuditEvents, or NDJSON with one AuditEvent a line"


class Unreadable(Exception):
    """Input that cannot be read as JSON or NDJSON at all."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


@dataclass(frozen=True)
class Sample:
    """One structurally valid AuditEvent and where it came from."""

    source: str  # the file, and the line for NDJSON
    path: str  # JSON path of the resource within its document
    resource: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    source: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "path": self.path, "message": self.message}


def json_path(prefix: str, location: tuple[Any, ...]) -> str:
    path = prefix
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _models():
    # Imported on first use: the R4B models take a moment to load and most requests need none.
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhir.resources.R4B.bundle import Bundle

    return AuditEvent, Bundle


def _validation_problems(source: str, prefix: str, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        location = tuple(part for part in item.get("loc", ()) if part != "__root__")
        problems.append(Problem(source, json_path(prefix, location), item.get("msg", "is not valid")))
    return problems


def _audit_event(source: str, prefix: str, resource: Any) -> tuple[list[Sample], list[Problem]]:
    AuditEvent, _ = _models()
    if not isinstance(resource, dict):
        return [], [Problem(source, prefix, f"is not a FHIR resource (a JSON object); expected {ACCEPTED}")]
    kind = resource.get("resourceType")
    if kind != "AuditEvent":
        found = f"a {kind} resource" if isinstance(kind, str) and kind else "not a FHIR resource (no resourceType)"
        return [], [Problem(source, f"{prefix}.resourceType", f"is {found}, not an AuditEvent; expected {ACCEPTED}")]
    try:
        AuditEvent.model_validate(resource)
    except ValidationError as error:
        return [], _validation_problems(source, prefix, error)
    return [Sample(source, prefix, resource)], []


def _resource(source: str, document: Any) -> tuple[list[Sample], list[Problem]]:
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        _, Bundle = _models()
        entries = document.get("entry") or []
        try:
            Bundle.model_validate({**document, "entry": []})
        except ValidationError as error:
            return [], _validation_problems(source, "$", error)
        if not isinstance(entries, list):
            return [], [Problem(source, "$.entry", "must be a list of entries")]
        samples, problems = [], []
        for index, entry in enumerate(entries):
            prefix = f"$.entry[{index}]"
            if not isinstance(entry, dict) or "resource" not in entry:
                problems.append(Problem(source, prefix, "has no resource"))
                continue
            found, wrong = _audit_event(source, f"{prefix}.resource", entry["resource"])
            samples += found
            problems += wrong
        if not entries:
            problems.append(Problem(source, "$.entry", "the Bundle holds no AuditEvent"))
        return samples, problems
    return _audit_event(source, "$", document)


def _decode(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Unreadable(source, f"is not UTF-8 text (byte {error.start})") from None


def samples_from_bytes(source: str, data: bytes) -> tuple[list[Sample], list[Problem]]:
    """Every AuditEvent in the input, and every structural problem found; raises Unreadable when
    the input is not JSON or NDJSON."""
    text = _decode(source, data)
    if not text.strip():
        raise Unreadable(source, f"is empty; expected {ACCEPTED}")
    try:
        return _resource(source, json.loads(text))
    except json.JSONDecodeError as whole_error:
        lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if len(lines) < 2 or not _is_json(lines[0][1]):
            # Not NDJSON either: report the error where the whole document breaks.
            raise Unreadable(source, f"is not valid JSON: {_describe(whole_error)}") from None
    samples, problems = [], []
    for number, line in lines:
        try:
            document = json.loads(line)
        except json.JSONDecodeError as error:
            raise Unreadable(source, f"line {number} is not valid JSON: {error.msg} at column {error.colno}") from None
        found, wrong = _resource(f"{source} line {number}", document)
        samples += found
        problems += wrong
    return samples, problems


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _describe(error: json.JSONDecodeError) -> str:
    return f"{error.msg} at line {error.lineno}, column {error.colno}"
