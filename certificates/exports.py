"""The register as a spreadsheet for the national team, in CSV or XLSX, written with the same
library and the same guard against spreadsheet formulas as the dashboard exports."""

import csv
import io

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    "Certificate",
    "Held by",
    "Organisation",
    "ODS code",
    "Purpose",
    "Environment",
    "Endpoint host name",
    "Owner",
    "Owner e-mail",
    "Revision",
    "Subject",
    "Issuer",
    "Serial number",
    "Key",
    "Signature algorithm",
    "Valid from",
    "Expires",
    "Days left",
    "Findings",
    "SHA-256 fingerprint",
]


def rows(register_rows) -> list[list]:
    out = []
    for row in register_rows:
        entry, revision = row.entry, row.revision
        out.append(
            [
                entry.name,
                str(entry.holder),
                entry.organisation.name,
                entry.organisation.ods_code,
                entry.get_purpose_display(),
                entry.get_environment_display(),
                entry.endpoint_hostname,
                entry.owner.full_name,
                entry.owner.email,
                revision.number,
                revision.subject,
                revision.issuer,
                revision.serial_number,
                f"{revision.key_type} {revision.key_size or ''}".strip(),
                revision.signature_algorithm,
                f"{revision.not_before:%Y-%m-%d %H:%M}",
                f"{revision.not_after:%Y-%m-%d %H:%M}",
                row.days_left,
                "; ".join(f["label"] for f in row.flags),
                revision.fingerprint_sha256,
            ]
        )
    return out


def _csv_safe(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(data: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows([_csv_safe(value) for value in row] for row in data)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(data: list[list]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="Certificate register")
    header = []
    for name in COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in data:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text: never a formula
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
