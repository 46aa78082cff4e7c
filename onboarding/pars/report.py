"""Running the PARS rules over a set of sample files, and the report they give: per
transaction, per rule, pass or fail with the JSON path of each failure."""

from collections import Counter
from typing import Any

from onboarding.pars.codes import pars_codes
from onboarding.pars.parsing import Problem, Sample, Unreadable, samples_from_bytes
from onboarding.pars.rules import RULES, outcome_kind, transaction_of

INPUT_RULES = {
    "readable": "Readable as JSON or NDJSON",
    "fhir-structure": "FHIR structure: AuditEvent, Bundle of AuditEvents or NDJSON",
    "transaction": "Names its transaction (ITI-38, ITI-39 or RAD-75)",
}
COVERAGE_RULE = "outcome-coverage"
COVERAGE_TITLE = "Every outcome represented: success, failure with error details, partial success"


def _rule_result(code: str, title: str, failures: list[dict[str, str]]) -> dict[str, Any]:
    return {"rule": code, "title": title, "passed": not failures, "failures": failures}


def pars_report(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The report for a set of files given as (name, bytes)."""
    codes = pars_codes()
    unreadable: list[dict[str, str]] = []
    structure: list[Problem] = []
    samples: list[Sample] = []
    for name, data in files:
        try:
            found, problems = samples_from_bytes(name, data)
        except Unreadable as error:
            unreadable.append({"source": error.source, "path": "$", "message": error.message})
            continue
        samples += found
        structure += problems

    by_transaction: dict[str, list[Sample]] = {code: [] for code in codes["transactions"]}
    unnamed = []
    for sample in samples:
        transaction = transaction_of(sample.resource)
        if transaction is None:
            unnamed.append(
                {
                    "source": sample.source,
                    "path": f"{sample.path}.subtype",
                    "message": f"no subtype coding ({codes['transaction_system']}) names ITI-38, ITI-39 or RAD-75",
                }
            )
        else:
            by_transaction[transaction].append(sample)

    input_rules = [
        _rule_result("readable", INPUT_RULES["readable"], unreadable),
        _rule_result("fhir-structure", INPUT_RULES["fhir-structure"], [p.as_dict() for p in structure]),
        _rule_result("transaction", INPUT_RULES["transaction"], unnamed),
    ]
    transactions = [
        _transaction_result(code, config, by_transaction[code]) for code, config in codes["transactions"].items()
    ]
    passed = all(r["passed"] for r in input_rules) and all(t["passed"] for t in transactions)
    return {
        "rules_version": codes["version"],
        "sources": [name for name, _ in files],
        "events": len(samples),
        "passed": passed,
        "input": input_rules,
        "transactions": transactions,
    }


def _transaction_result(code: str, config: dict[str, Any], samples: list[Sample]) -> dict[str, Any]:
    results = []
    for rule_code in config["rules"]:
        rule = RULES[rule_code]
        failures = [
            {"source": sample.source, "path": sample.path + path.removeprefix("$"), "message": message}
            for sample in samples
            for path, message in rule.check(sample.resource, config)
        ]
        results.append(_rule_result(rule.code, rule.title, failures))
    outcomes = Counter(outcome_kind(sample.resource) for sample in samples)
    labels = pars_codes()["outcome_labels"]
    missing = [
        {"source": "(all samples)", "path": "$.outcome", "message": f"no {labels[kind]} sample of {code}"}
        for kind in ("success", "failure", "partial")
        if not outcomes.get(kind)
    ]
    results.append(_rule_result(COVERAGE_RULE, COVERAGE_TITLE, missing))
    return {
        "transaction": code,
        "name": config["name"],
        "events": len(samples),
        "outcomes": {kind: outcomes.get(kind, 0) for kind in ("success", "failure", "partial")},
        "passed": all(r["passed"] for r in results),
        "rules": results,
    }


def failed_rules(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(section, rule) of every failing rule; the section is "input" or a transaction code."""
    failed = [("input", r["rule"]) for r in report["input"] if not r["passed"]]
    for transaction in report["transactions"]:
        failed += [(transaction["transaction"], r["rule"]) for r in transaction["rules"] if not r["passed"]]
    return failed


def render_text(report: dict[str, Any]) -> str:
    lines = [f"PARS conformance report (rules version {report['rules_version']})", ""]
    sections = [("Input", report["input"])] + [
        (f"{t['transaction']} {t['name']}: {t['events']} event(s)", t["rules"]) for t in report["transactions"]
    ]
    for heading, rules in sections:
        lines.append(heading)
        for rule in rules:
            lines.append(f"  {'PASS' if rule['passed'] else 'FAIL'}  {rule['rule']}: {rule['title']}")
            for failure in rule["failures"]:
                lines.append(f"        {failure['source']}  {failure['path']}: {failure['message']}")
        lines.append("")
    count = len(failed_rules(report))
    lines.append("Result: PASS, every rule passed" if report["passed"] else f"Result: FAIL, {count} rule(s) failed")
    return "\n".join(lines) + "\n"
