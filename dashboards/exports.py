"""The national dashboard's current filtered view as a spreadsheet. Rows are built once and written
as CSV or XLSX, so both formats always carry the same content."""

import csv
import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from dashboards.selectors import RATINGS, UNRATED, DsptState, GoLiveState, SignOffState

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | None


def columns(areas: list[tuple[str, str]]) -> list[str]:
    return [
        "Deployment",
        "Organisation",
        "ODS code",
        "Region",
        "Supplier",
        "Product",
        "Version",
        "Stage",
        "In stage since",
        "Days in stage",
        "Mandatory requirements accepted",
        "Mandatory requirements",
        *[f"{name}: mandatory accepted" for _code, name in areas],
        *[f"Open hazards rated {rating}" for rating in RATINGS],
        "Open hazards not assessed",
        "Sign-off",
        "Go-live",
        "Evidence expiring within 30 days",
        "Reviews overdue",
        "DSPT status",
    ]


def national_rows(deployments, areas: list[tuple[str, str]]) -> list[list[Cell]]:
    """One row per deployment, in `columns(areas)` order. Expects the measures that
    `dashboards.selectors.attach_row_measures` adds."""
    rows: list[list[Cell]] = []
    for d in deployments:
        hazards = dict(d.hazards_by_rating)
        progress = d.area_progress
        rows.append(
            [
                d.name,
                d.organisation.name,
                d.organisation.ods_code,
                d.organisation.get_region_display(),
                d.product_version.product.supplier.name,
                d.product_version.product.name,
                d.product_version.version,
                d.get_stage_display(),
                f"{d.stage_changed_at:%Y-%m-%d}",
                d.days_in_stage,
                d.mandatory_accepted,
                d.mandatory_total,
                *[
                    f"{progress[code].accepted} of {progress[code].total}" if code in progress else ""
                    for code, _name in areas
                ],
                *[hazards.get(rating, 0) for rating in RATINGS],
                hazards.get(UNRATED, 0),
                SignOffState(d.sign_off_state).label,
                GoLiveState(d.go_live_state).label,
                d.expiring_count,
                d.overdue_count,
                DsptState(d.dspt_state).label,
            ]
        )
    return rows


def _csv_safe(value: Cell) -> Cell:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(header: list[str], rows: list[list[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_csv_safe(value) for value in row] for row in rows)
    # A byte-order mark so Excel opens the UTF-8 text with its accents and dashes intact.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(header: list[str], rows: list[list[Cell]], *, title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    bold = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        bold.append(cell)
    sheet.append(bold)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                # Text stays text: openpyxl would otherwise store "=..." as a formula.
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
