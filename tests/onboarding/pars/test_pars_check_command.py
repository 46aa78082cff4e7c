"""`manage.py pars_check PATH...`: the same report as the portal's, and an exit status a
supplier's build can act on (0 pass, 1 fail, 2 unreadable)."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command

from onboarding.pars.report import pars_report, render_text
from tests.onboarding.pars.samples import conformant_set, ndjson

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[3] / "onboarding" / "data" / "pars_examples" / "conformant.ndjson"


def run(*paths) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("pars_check", *map(str, paths), stdout=out, stderr=err)
    return exit_info.value.code, out.getvalue(), err.getvalue()


def test_a_conformant_set_exits_0_and_prints_the_same_report_as_the_portal():
    status, out, _ = run(EXAMPLE)

    assert status == 0
    assert out == render_text(pars_report([(EXAMPLE.name, EXAMPLE.read_bytes())]))
    assert out.endswith("Result: PASS, every rule passed\n")


def test_a_failing_rule_exits_1_and_names_the_rule_and_path(tmp_path):
    events = conformant_set()
    events[0]["entity"][0]["what"]["identifier"]["value"] = "9434765918"
    sample = tmp_path / "samples.ndjson"
    sample.write_bytes(ndjson(events))

    status, out, _ = run(sample)

    assert status == 1
    assert "FAIL  patient-nhs-number" in out
    assert "samples.ndjson line 1  $.entity[0].what.identifier.value: 9434765918 is not a valid NHS number" in out


def test_another_fhir_resource_exits_1_with_a_clear_error():
    status, out, _ = run(FIXTURES / "patient.json")

    assert status == 1
    assert "$.resourceType: is a Patient resource, not an AuditEvent" in out


@pytest.mark.parametrize("name", ["malformed.json", "does-not-exist.json"])
def test_unreadable_input_exits_2(name):
    status, out, err = run(FIXTURES / name)

    assert status == 2
    assert "is not valid JSON: Expecting ',' delimiter at line 4, column 3" in out or "cannot be read" in err


def test_a_zip_of_samples_is_checked_member_by_member(tmp_path):
    archive = tmp_path / "samples.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in FIXTURES.glob("*-*.*"):
            if name.name.startswith(("iti", "rad")):
                zipped.write(name, name.name)

    status, out, _ = run(archive)

    assert status == 0, out
