"""The PARS conformance check: conformant samples pass; each broken sample fails on exactly the
rule it breaks, at its JSON path; unreadable input and other resources get clear errors."""

import json
from pathlib import Path

import pytest

from onboarding.pars.identifiers import dicom_uid_valid, nhs_number_valid, ods_code_valid
from onboarding.pars.report import failed_rules, pars_report
from tests.onboarding.pars.samples import bundle, conformant_set, ndjson, replaced

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[3] / "onboarding" / "data" / "pars_examples"
ITI38_SUCCESS, ITI38_FAILURE, ITI39_SUCCESS, ITI39_PARTIAL, RAD75_SUCCESS = 0, 1, 3, 5, 6


def report_of(events):
    return pars_report([("samples.ndjson", ndjson(events))])


def failures_of(report, section, rule):
    rules = (
        report["input"]
        if section == "input"
        else next(t["rules"] for t in report["transactions"] if t["transaction"] == section)
    )
    return next(r for r in rules if r["rule"] == rule)["failures"]


def _set(path, value):
    def change(event):
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path):
    def change(event):
        target = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BROKEN = [
    ("ITI-38", "event-type", ITI38_SUCCESS, _set(["type", "code"], "110106"), "$.type"),
    ("ITI-38", "action", ITI38_SUCCESS, _set(["action"], "E"), "$.action"),
    ("ITI-38", "recorded", ITI38_SUCCESS, _set(["recorded"], "2099-01-01T00:00:00+00:00"), "$.recorded"),
    (
        "ITI-38",
        "patient-nhs-number",
        ITI38_SUCCESS,
        _set(["entity", 0, "what", "identifier", "value"], "9434765918"),  # wrong check digit
        "$.entity[0].what.identifier.value",
    ),
    (
        "ITI-38",
        "requester-organisation",
        ITI38_SUCCESS,
        _set(["agent", 0, "who", "identifier", "value"], "rz 1!"),
        "$.agent[0].who.identifier.value",
    ),
    ("ITI-38", "requester-identity", ITI38_SUCCESS, lambda e: e.update(agent=e["agent"][:1]), "$.agent"),
    (
        "ITI-38",
        "transaction-id",
        ITI38_SUCCESS,
        _set(["entity", 1, "what", "identifier"], {"system": "urn:ietf:rfc:3986"}),
        "$.entity[1].what.identifier.value",
    ),
    (
        "ITI-38",
        "endpoint",
        ITI38_SUCCESS,
        lambda e: (e["entity"].pop(2), e["agent"][2].pop("network")),
        "$.entity",
    ),
    ("ITI-38", "outcome", ITI38_FAILURE, _delete(["outcomeDesc"]), "$.outcomeDesc"),
    (
        "ITI-38",
        "response-not-logged",
        ITI38_SUCCESS,
        _set(["entity", 1, "detail"], [{"type": "AdhocQueryResponse", "valueBase64Binary": "PHJlc3BvbnNlLz4="}]),
        "$.entity[1].detail[0]",
    ),
    (
        "ITI-39",
        "document-unique-id",
        ITI39_SUCCESS,
        _set(["entity", 3, "what", "identifier"], {"system": "urn:ietf:rfc:3986"}),
        "$.entity[3].what.identifier.value",
    ),
    (
        "ITI-39",
        "repository-unique-id",
        ITI39_SUCCESS,
        _set(["entity", 3, "detail", 0, "valueString"], "1.2.03"),
        "$.entity[3].detail[0].valueString",
    ),
    (
        "ITI-39",
        "home-community-id",
        ITI39_SUCCESS,
        _set(["entity", 3, "detail", 1, "valueString"], "1.2.826.0.1"),
        "$.entity[3].detail[1].valueString",
    ),
    ("RAD-75", "requesting-system", RAD75_SUCCESS, lambda e: e["agent"].pop(2), "$.agent"),
    (
        "RAD-75",
        "study-instance-uid",
        RAD75_SUCCESS,
        _set(["entity", 3, "what", "identifier", "value"], "1.2.840.abc"),
        "$.entity[3].what.identifier.value",
    ),
    (
        "RAD-75",
        "series-instance-uid",
        RAD75_SUCCESS,
        _set(["entity", 5, "what", "identifier", "value"], "1.2.840."),
        "$.entity[5].what.identifier.value",
    ),
    ("RAD-75", "document-or-repository-id", RAD75_SUCCESS, lambda e: e["entity"].pop(6), "$.entity"),
]


def test_the_conformant_set_passes_every_rule_of_every_transaction():
    report = report_of(conformant_set())

    assert report["passed"], failed_rules(report)
    assert [t["events"] for t in report["transactions"]] == [3, 3, 3]
    assert all(t["outcomes"] == {"success": 1, "failure": 1, "partial": 1} for t in report["transactions"])


@pytest.mark.parametrize(
    "files",
    [
        ["iti-38-bundle.json", "iti-39.ndjson", "rad-75-success.json", "rad-75-failure-and-partial.ndjson"],
    ],
)
def test_conformant_sample_files_of_each_transaction_pass(files):
    report = pars_report([(name, (FIXTURES / name).read_bytes()) for name in files])

    assert report["passed"], failed_rules(report)
    for transaction in report["transactions"]:
        assert transaction["passed"] and transaction["events"] == 3


def test_the_example_set_published_for_suppliers_passes():
    for example in ("conformant.ndjson", "conformant-bundle.json"):
        report = pars_report([(example, (EXAMPLES / example).read_bytes())])
        assert report["passed"], (example, failed_rules(report))


@pytest.mark.parametrize(("transaction", "rule", "index", "change", "path"), BROKEN, ids=[b[1] for b in BROKEN])
def test_a_sample_breaking_one_rule_fails_on_exactly_that_rule_with_its_path(transaction, rule, index, change, path):
    report = report_of(replaced(conformant_set(), index, change))

    assert not report["passed"]
    assert failed_rules(report) == [(transaction, rule)]
    failures = failures_of(report, transaction, rule)
    assert [(f["source"], f["path"]) for f in failures] == [(f"samples.ndjson line {index + 1}", path)]


def test_every_content_rule_has_a_failing_sample():
    from onboarding.pars.codes import pars_codes

    used = {rule for t in pars_codes()["transactions"].values() for rule in t["rules"]}

    assert used == {b[1] for b in BROKEN}


def test_a_transaction_missing_an_outcome_fails_outcome_coverage_only():
    events = [e for i, e in enumerate(conformant_set()) if i != ITI39_PARTIAL]

    report = report_of(events)

    assert failed_rules(report) == [("ITI-39", "outcome-coverage")]
    assert [f["message"] for f in failures_of(report, "ITI-39", "outcome-coverage")] == [
        "no partial success sample of ITI-39"
    ]


def test_a_failure_inside_a_bundle_names_the_entry_in_its_path():
    events = replaced(conformant_set(), ITI38_SUCCESS, _set(["action"], "C"))

    report = pars_report([("bundle.json", bundle(events))])

    assert failures_of(report, "ITI-38", "action") == [
        {"source": "bundle.json", "path": "$.entry[0].resource.action", "message": "must be R, found C"}
    ]


def test_an_event_naming_no_transaction_is_reported_on_its_subtype():
    extra = conformant_set()[0] | {"subtype": [{"system": "urn:ihe:event-type-code", "code": "ITI-18"}]}

    report = report_of([*conformant_set(), extra])

    assert failed_rules(report) == [("input", "transaction")]
    assert failures_of(report, "input", "transaction")[0]["path"] == "$.subtype"


def test_malformed_json_is_unreadable_with_its_line_and_column():
    report = pars_report([("malformed.json", (FIXTURES / "malformed.json").read_bytes())])

    assert failures_of(report, "input", "readable") == [
        {
            "source": "malformed.json",
            "path": "$",
            "message": "is not valid JSON: Expecting ',' delimiter at line 4, column 3",
        }
    ]


def test_a_broken_ndjson_line_is_named():
    data = ndjson(conformant_set()[:2]) + b'{"resourceType": "AuditEvent",\n'

    report = pars_report([("s.ndjson", data)])

    assert failures_of(report, "input", "readable")[0]["message"].startswith("line 3 is not valid JSON")


def test_a_resource_other_than_an_audit_event_is_refused_by_name():
    report = pars_report([("patient.json", (FIXTURES / "patient.json").read_bytes())])

    [failure] = failures_of(report, "input", "fhir-structure")
    assert failure["path"] == "$.resourceType"
    assert failure["message"].startswith("is a Patient resource, not an AuditEvent")


def test_malformed_fhir_gets_the_librarys_error_at_each_path():
    report = pars_report([("x.json", (FIXTURES / "invalid-structure.json").read_bytes())])

    failures = failures_of(report, "input", "fhir-structure")
    assert {f["path"] for f in failures} == {"$.agent[0].requestor", "$.recorded"}
    assert any("valid boolean" in f["message"] for f in failures)


def test_text_that_is_not_utf8_is_unreadable():
    report = pars_report([("latin1.json", json.dumps({"a": "é"}).encode("latin-1").replace(b"\\u00e9", b"\xe9"))])

    assert "is not UTF-8" in failures_of(report, "input", "readable")[0]["message"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [("9434765919", True), ("9434765918", False), ("943476591", False), ("94347659190", False), ("1000000010", False)],
)
def test_nhs_numbers_need_a_valid_modulus_11_check_digit(value, valid):
    # 1000000010: the first nine digits give a check value of 10, which is never issued.
    assert nhs_number_valid(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("1.2.840.10008.1.2", True),
        ("1.2.840.010008", False),
        ("1..2", False),
        ("1.2.", False),
        ("1." * 32 + "1", False),
    ],
)
def test_dicom_uids_are_numeric_components_without_leading_zeros_up_to_64_characters(value, valid):
    assert dicom_uid_valid(value) is valid


def test_ods_codes_are_upper_case_letters_and_digits():
    assert ods_code_valid("RZ1") and ods_code_valid("YZ101") and not ods_code_valid("rz1")
