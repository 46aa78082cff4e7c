"""The hazard log exports: the NHS column layout, one row per hazard, the same rows in CSV and
XLSX, formula-looking text kept as text, and every export audited."""

import csv
import io

import openpyxl
from django.urls import reverse

from nir_portal.audit.models import AuditEvent
from safety.exports import HAZARD_LOG_COLUMNS
from safety.models import DeploymentHazard
from safety.services.controls import control_save
from tests.safety.conftest import score_all

NHS_COLUMNS = [
    "Hazard number",
    "Name",
    "Description",
    "Potential clinical impact",
    "Possible causes",
    "Existing controls",
    "Initial severity",
    "Initial likelihood",
    "Initial rating",
    "Additional controls (type and owner)",
    "Residual severity",
    "Residual likelihood",
    "Residual rating",
    "Actions and owner",
    "Status",
]


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx_rows(response) -> list[list[str]]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    return [["" if value is None else str(value) for value in row] for row in sheet.iter_rows(values_only=True)]


def _arrange(world, people):
    score_all(world.deployment_a)
    hazard = DeploymentHazard.objects.get(deployment=world.deployment_a, number=1)
    control_save(
        actor=people.cso_a,
        hazard=hazard,
        expected_version=hazard.version,
        kind="design",
        description="Verified NHS number only.",
        owner=world.supplier,
        is_verified=False,
        evidence_revisions=[],
    )
    return hazard


def test_the_csv_has_the_nhs_hazard_log_columns_and_one_row_per_hazard(world, people, as_user):
    _arrange(world, people)
    response = as_user(people.viewer_a).get(
        reverse("safety:hazard-log-export-csv", kwargs={"pk": world.deployment_a.pk})
    )

    rows = _csv_rows(response)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert rows[0] == NHS_COLUMNS == list(HAZARD_LOG_COLUMNS)
    hazards = DeploymentHazard.objects.filter(deployment=world.deployment_a).order_by("number")
    assert [row[0] for row in rows[1:]] == [h.reference for h in hazards]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Initial severity"] == "Major" and first["Initial rating"] == "3"
    assert first["Residual likelihood"] == "Low" and first["Residual rating"] == "1"
    assert (
        "Design: Verified NHS number only. (owner: Supplier S; not verified)"
        in first["Additional controls (type and owner)"]
    )
    assert first["Status"] == "Open"


def test_the_xlsx_opens_with_openpyxl_and_has_the_same_rows_as_the_csv(world, people, as_user):
    _arrange(world, people)
    client = as_user(people.viewer_a)
    kwargs = {"pk": world.deployment_a.pk}

    csv_rows = _csv_rows(client.get(reverse("safety:hazard-log-export-csv", kwargs=kwargs)))
    xlsx = client.get(reverse("safety:hazard-log-export-xlsx", kwargs=kwargs))

    assert xlsx["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert _xlsx_rows(xlsx) == csv_rows
    assert len(csv_rows) == 1 + DeploymentHazard.objects.filter(deployment=world.deployment_a).count()


def test_every_export_is_audited_with_its_format(world, people, as_user):
    client = as_user(people.viewer_a)
    for name in ("safety:hazard-log-export-csv", "safety:hazard-log-export-xlsx"):
        client.get(reverse(name, kwargs={"pk": world.deployment_a.pk}))

    events = AuditEvent.objects.filter(action="hazard_log.export", actor=people.viewer_a).order_by("id")
    assert [e.changes["format"] for e in events] == ["csv", "xlsx"]
    assert all(e.object_id == str(world.deployment_a.pk) for e in events)


def test_text_that_looks_like_a_formula_stays_text_in_both_formats(world, people, as_user):
    DeploymentHazard.objects.filter(deployment=world.deployment_a, number=1).update(
        name='=HYPERLINK("http://evil.example","click")'
    )
    client = as_user(people.viewer_a)
    kwargs = {"pk": world.deployment_a.pk}

    csv_rows = _csv_rows(client.get(reverse("safety:hazard-log-export-csv", kwargs=kwargs)))
    xlsx = client.get(reverse("safety:hazard-log-export-xlsx", kwargs=kwargs))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]

    assert csv_rows[1][1].startswith("'=")
    assert sheet.cell(row=2, column=2).data_type == "s"
    assert sheet.cell(row=2, column=2).value.startswith("=HYPERLINK")


def test_a_supplier_cannot_export_a_trusts_hazard_log(world, people, as_user):
    response = as_user(people.supplier_cso).get(
        reverse("safety:hazard-log-export-csv", kwargs={"pk": world.deployment_a.pk})
    )

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="hazard_log.export").exists()
