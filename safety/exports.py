"""The hazard log as a spreadsheet, in the column layout of NHS England's own hazard logs. Rows are
built once and written as CSV or XLSX, so both formats always carry the same content."""

import csv
import io
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font

from safety.models import DeploymentHazard
from safety.selectors import scale_label

HAZARD_LOG_COLUMNS = (
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
)
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _controls(hazard: DeploymentHazard) -> str:
    lines = []
    for control in hazard.controls.all():
        verified = "verified" if control.is_verified else "not verified"
        register = "; evidence: the certificate register" if control.cites_certificate_register else ""
        withdrawn = "; withdrawn" if control.is_withdrawn else ""
        lines.append(
            f"{control.get_kind_display()}: {control.description} "
            f"(owner: {control.owner.name}; {verified}{register}{withdrawn})"
        )
    return "\n".join(lines)


def _actions(hazard: DeploymentHazard) -> str:
    lines = []
    for action in hazard.actions.all():
        state = f"completed {action.completed_at:%d %B %Y}" if action.completed_at else f"due {action.due_on:%d %B %Y}"
        lines.append(f"{action.description} (owner: {action.owner.name}; {state})")
    return "\n".join(lines)


def _status(hazard: DeploymentHazard) -> str:
    status = hazard.get_status_display()
    if not hazard.is_applicable:
        status += f" (not applicable: {hazard.applicability_justification})"
    return status


def hazard_log_rows(hazards: Iterable[DeploymentHazard]) -> list[list[str | int | None]]:
    """One row per hazard, in HAZARD_LOG_COLUMNS order. Expects controls (with owner) and actions
    (with owner) prefetched, as `selectors.hazard_log` does."""
    rows: list[list[str | int | None]] = []
    for hazard in hazards:
        matrix = hazard.risk_matrix
        rows.append(
            [
                hazard.reference,
                hazard.name,
                hazard.description,
                hazard.clinical_impact,
                hazard.causes,
                hazard.existing_controls,
                scale_label(matrix, "severities", hazard.initial_severity),
                scale_label(matrix, "likelihoods", hazard.initial_likelihood),
                hazard.initial_rating,
                _controls(hazard),
                scale_label(matrix, "severities", hazard.residual_severity),
                scale_label(matrix, "likelihoods", hazard.residual_likelihood),
                hazard.residual_rating,
                _actions(hazard),
                _status(hazard),
            ]
        )
    return rows


def _csv_safe(value: str | int | None) -> str | int:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def hazard_log_csv(rows: list[list[str | int | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HAZARD_LOG_COLUMNS)
    writer.writerows([_csv_safe(value) for value in row] for row in rows)
    # A byte-order mark so Excel opens the UTF-8 text with its accents and dashes intact.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def hazard_log_xlsx(rows: list[list[str | int | None]], *, title: str = "Hazard log") -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    header = []
    for name in HAZARD_LOG_COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                # Text stays text: openpyxl would otherwise store "=..." as a formula.
                cell.data_type = "s"
            cell.alignment = wrap
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
