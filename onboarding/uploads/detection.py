"""Type detection: a file's type is decided by its bytes, never by its name; text must be UTF-8
and a CSV must parse."""

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from onboarding.uploads.streaming import CHUNK_BYTES
from onboarding.uploads.zips import ZipBudget, classify_zip, is_zip_head, open_zip

CSV_MAX_LINE_CHARS = 1024 * 1024
# JSON is parsed whole to check it; larger JSON evidence (nothing the framework asks for is near
# this) would cost the web process many times its size in memory.
JSON_MAX_BYTES = 20 * 1024 * 1024


def chunks(file: IO[bytes], start: int = 0, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    file.seek(start)
    while chunk := file.read(size):
        yield chunk


def sha256_of(file: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks(file):
        hasher.update(chunk)
    return hasher.hexdigest()


def _text_kind(file: IO[bytes], head: bytes) -> str:
    """Classify bytes as "text" (UTF-8, with or without BOM, no NUL bytes), "utf16", "not_utf8" or "binary"."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks(file):
            if b"\x00" in chunk:
                return "binary"
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "not_utf8"
    return "text"


_LINE_BREAK = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def _text_lines(file: IO[bytes]) -> Iterator[str]:
    """Lines with their endings, as open(newline="") gives them, from UTF-8 bytes (BOM dropped)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for chunk in chunks(file):
        pending += decoder.decode(chunk)
        lines = _LINE_BREAK.split(pending)
        pending = lines.pop()  # may be incomplete, or a "\r" whose "\n" is in the next chunk
        yield from (line for line in lines if line)
        if len(pending) > CSV_MAX_LINE_CHARS:
            raise csv.Error(f"a line is longer than {CSV_MAX_LINE_CHARS:,} characters")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def check_csv(file: IO[bytes]) -> None:
    reader = csv.reader(_text_lines(file), strict=True)
    rows = 0
    try:
        for _row in reader:
            rows += 1
    except csv.Error as error:
        raise ValidationError(
            _("The file is not valid CSV (line %(line)s: %(problem)s). Check the file and upload it again"),
            code="invalid_csv",
            params={"line": reader.line_num, "problem": str(error)},
        ) from error
    if rows == 0:
        raise ValidationError(_("The CSV file has no rows"), code="invalid_csv")


def check_json(file: IO[bytes], extension: str) -> None:
    """A .json file must hold one JSON value; an .ndjson file one JSON value on each non-blank line."""
    file.seek(0, 2)
    if file.tell() > JSON_MAX_BYTES:
        raise ValidationError(
            _("A JSON file must be smaller than %(limit)s MB. Split it, or put the files in a ZIP"),
            code="json_too_large",
            params={"limit": JSON_MAX_BYTES // (1024 * 1024)},
        )
    file.seek(0)
    text = file.read().decode("utf-8-sig")
    documents = (
        [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if extension == "ndjson"
        else [(1, text)]
    )
    for first_line, document in documents:
        try:
            json.loads(document)
        except json.JSONDecodeError as error:
            raise ValidationError(
                _("The file is not valid JSON (line %(line)s, column %(column)s: %(problem)s)"),
                code="invalid_json",
                params={"line": first_line + error.lineno - 1, "column": error.colno, "problem": error.msg},
            ) from error
    if not documents:
        raise ValidationError(_("The JSON file holds no data"), code="invalid_json")


def detect_type(file: IO[bytes], head: bytes, extension: str, budget: ZipBudget) -> str:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if is_zip_head(head):
        with open_zip(file, budget) as archive:
            return classify_zip(archive.namelist())
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ValidationError(
            _("The file is in an older Office format (.doc or .xls). Save it as .docx or .xlsx and upload that"),
            code="legacy_office",
        )
    kind = _text_kind(file, head)
    if kind == "text":
        if extension in ("json", "ndjson"):
            return "json"
        return "csv" if extension == "csv" else "txt"
    if kind in ("utf16", "not_utf8") and extension in ("csv", "txt", "json", "ndjson"):
        raise ValidationError(
            _("The file's text is not UTF-8. Save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again"),
            code="not_utf8",
        )
    raise ValidationError(
        _(
            "The file's contents are not a PDF, Word document, Excel spreadsheet, CSV, text, JSON, PNG, JPEG or ZIP "
            "file. It may be damaged, or of a type that cannot be uploaded"
        ),
        code="unknown_type",
    )
