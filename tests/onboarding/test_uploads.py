"""Receiving, checking and storing evidence files (onboarding.uploads): every bad upload is
refused with its own message; good files are accepted with their real type and hash."""

import ctypes
import errno
import hashlib
import io
import json
import os
import platform
import random
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pikepdf
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParser
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from onboarding import uploads
from onboarding.uploads import (
    HashingUploadHandler,
    inspect_upload,
    pdf_structure,
    sanitize_filename,
    store_upload,
    storing,
    streaming,
)

MiB = 1024 * 1024


# --- building files -----------------------------------------------------------------------------


def pdf(*catalog_extra: bytes, objects: bytes = b"", padding: bytes = b"") -> bytes:
    """A small PDF; `catalog_extra` goes into the document catalog, `objects` after it."""
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R " + b" ".join(catalog_extra) + b" >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        + objects
        + padding
        + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def object_stream(number: int, content: bytes, *, compress=zlib.compress) -> bytes:
    data = compress(content)
    return (
        f"{number} 0 obj\n<< /Type /ObjStm /N 1 /First 6 /Filter /FlateDecode /Length {len(data)} >>\nstream\n".encode()
        + data
        + b"\nendstream\nendobj\n"
    )


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"


def zip_of(entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


CONTENT_TYPES = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx(**extra: bytes) -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document><w:body><w:p/></w:body></w:document>",
            **extra,
        }
    )


def xlsx() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Requirement", "Status"])
    book.active.append(["INT-01", "Met"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def refusal(name: str, data: bytes) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        inspect_upload(upload(name, data))
    return caught.value


@pytest.fixture
def evidence_storage(settings, tmp_path) -> Path:
    location = tmp_path / "evidence-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


# --- good files ---------------------------------------------------------------------------------

GOOD_FILES = [
    ("Safety case.pdf", pdf(b"/OpenAction [3 0 R /Fit]"), "pdf", "pdf"),
    ("screenshot.png", png(), "png", "png"),
    ("photo.JPG", JPEG, "jpeg", "jpg"),
    ("photo.jpeg", JPEG, "jpeg", "jpeg"),
    ("DCB0160 hazard log.docx", docx(), "docx", "docx"),
    ("Test results.xlsx", xlsx(), "xlsx", "xlsx"),
    ("results.csv", b'requirement,status\r\nINT-01,"Met, with notes"\r\n', "csv", "csv"),
    ("excel-utf8.csv", b"\xef\xbb\xbfname,town\r\nZo\xc3\xab,Cr\xc3\xaawe\r\n", "csv", "csv"),
    ("notes.txt", "Checked by the CSO on 3 March. £0 cost.\n".encode(), "txt", "txt"),
    ("audit-event.json", b'{"resourceType": "AuditEvent", "action": "R"}\n', "json", "json"),
    ("audit-events.ndjson", b'{"resourceType": "AuditEvent"}\n\n{"resourceType": "AuditEvent"}\n', "json", "ndjson"),
    (
        "bundle.zip",
        zip_of({"report.pdf": pdf(), "logs/run.txt": b"ok\n", "nested.zip": zip_of({"a.txt": b"a"})}),
        "zip",
        "zip",
    ),
]


@pytest.mark.parametrize(("name", "data", "detected_type", "extension"), GOOD_FILES, ids=[g[0] for g in GOOD_FILES])
def test_a_good_file_is_accepted_with_its_real_type_and_hash(name, data, detected_type, extension):
    inspected = inspect_upload(upload(name, data))

    assert inspected.detected_type == detected_type
    assert inspected.extension == extension
    assert inspected.sha256 == hashlib.sha256(data).hexdigest()
    assert inspected.size == len(data)
    assert inspected.safe_name == name


def test_a_pdf_whose_object_streams_hold_only_ordinary_objects_is_accepted():
    data = pdf(objects=object_stream(3, b"4 0 << /Type /Annot /Subtype /Link /A << /S /URI /URI (https://x) >> >>"))

    assert inspect_upload(upload("plain.pdf", data)).detected_type == "pdf"


def test_a_name_that_only_starts_like_a_forbidden_pdf_name_is_not_mistaken_for_it():
    assert inspect_upload(upload("data.pdf", pdf(b"/JSONData 1 /Launcher (x) /JSX 2"))).detected_type == "pdf"


# --- size ---------------------------------------------------------------------------------------


def test_an_empty_file_is_refused():
    error = refusal("report.pdf", b"")

    assert error.code == "empty"
    assert error.messages == ["The selected file is empty"]


def test_a_file_over_the_size_limit_is_refused_by_inspection(settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB

    error = refusal("big.txt", b"a" * (MiB + 1))

    assert error.code == "too_large"
    assert error.messages == ["The file must be smaller than 1 MB"]


def test_the_default_limit_is_250_mb(settings):
    assert 250 * MiB == settings.EVIDENCE_MAX_FILE_BYTES
    assert uploads.too_large_error().messages == ["The file must be smaller than 250 MB"]


class CountingStream(io.RawIOBase):
    """A request body of `size` bytes made on demand, counting how much was read."""

    def __init__(self, prefix: bytes, file_bytes: int, suffix: bytes) -> None:
        self.parts = [prefix, file_bytes, suffix]
        self.size = len(prefix) + file_bytes + len(suffix)
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        prefix, file_bytes, suffix = self.parts
        want = min(len(buffer), self.size - self.position)
        out = bytearray()
        while len(out) < want:
            at = self.position + len(out)
            if at < len(prefix):
                piece = prefix[at : at + want - len(out)]
            elif at < len(prefix) + file_bytes:
                piece = b"x" * min(want - len(out), len(prefix) + file_bytes - at)
            else:
                offset = at - len(prefix) - file_bytes
                piece = suffix[offset : offset + want - len(out)]
            out += piece
        buffer[: len(out)] = out
        self.position += len(out)
        return len(out)


BOUNDARY = "----nir-test-boundary"
CSRF = "a" * 32


def multipart_body(file_name: str, file_bytes: int) -> CountingStream:
    prefix = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{CSRF}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nPen test\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return CountingStream(prefix, file_bytes, f"\r\n--{BOUNDARY}--\r\n".encode())


def wsgi_request(body: CountingStream, *, csrf_cookie: bool = True) -> WSGIRequest:
    return WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/upload/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BufferedReader(body),
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(body.size),
            "HTTP_COOKIE": f"csrftoken={CSRF}" if csrf_cookie else "",
        }
    )


def parse(body: CountingStream, handler: HashingUploadHandler):
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body.size)}
    return MultiPartParser(meta, io.BufferedReader(body, buffer_size=64 * 1024), [handler]).parse()


def test_an_upload_declared_larger_than_the_limit_stops_before_the_file_is_read(settings, tmp_path):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    body = multipart_body("big.pdf", 50 * MiB)
    handler = HashingUploadHandler()

    post, files = parse(body, handler)

    # One read of the parser's chunk size reaches the file's headers; none of its bytes are taken.
    assert body.position <= uploads.CHUNK_BYTES, f"read {body.position} of {body.size} bytes"
    assert not files
    assert post["csrfmiddlewaretoken"] == CSRF  # fields before the file survive for the CSRF check
    assert [e.code for e in handler.errors] == ["too_large"]
    assert handler.errors[0].messages == [
        "The file must be smaller than 1 MB. Files uploaded together must add up to less than 1 MB"
    ]
    assert list(tmp_path.iterdir()) == []  # no temporary file was started


def test_an_upload_that_grows_past_the_limit_stops_there_and_its_temporary_file_is_deleted(settings, tmp_path):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    body = multipart_body("big.pdf", 50 * MiB)
    handler = HashingUploadHandler()
    handler.form_allowance_bytes = 100 * MiB  # as when Content-Length understates the body

    _post, files = parse(body, handler)

    # The limit, plus the piece that crossed it and the parser's look-ahead for the boundary.
    assert body.position <= MiB + 2 * uploads.CHUNK_BYTES, f"read {body.position} of {body.size} bytes"
    assert not files
    assert handler.errors[0].messages == ["The file must be smaller than 1 MB"]
    assert list(tmp_path.iterdir()) == []


def test_the_handler_hashes_the_file_as_it_streams_it_to_a_temporary_file(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    body = multipart_body("data.txt", 3 * MiB + 17)

    _post, files = parse(body, HashingUploadHandler())

    received = files["files"]
    assert isinstance(received, uploads.HashedTemporaryUploadedFile)
    assert received.size == 3 * MiB + 17
    assert received.sha256 == hashlib.sha256(b"x" * (3 * MiB + 17)).hexdigest()
    assert received.temporary_file_path().startswith(str(tmp_path))
    assert not received.temporary_file_path().endswith(".txt")  # the sender's extension is not used
    assert inspect_upload(received).sha256 == received.sha256


def test_the_temporary_file_is_reserved_a_little_ahead_and_trimmed_to_what_was_received(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    size = 20 * MiB + 17
    body = multipart_body("data.txt", size)
    handler = HashingUploadHandler()
    reserved_ahead = []
    reserve = uploads.HashedTemporaryUploadedFile.reserve

    def watched(self, received):
        reserve(self, received)
        reserved_ahead.append(self.reserved - received)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uploads.HashedTemporaryUploadedFile, "reserve", watched)
        _post, files = parse(body, handler)

    received = files["files"]
    stat = os.fstat(received.file.fileno())
    assert stat.st_size == received.size == size
    # Never more than RESERVE_AHEAD_BYTES beyond what had arrived, and nothing left over at the end.
    assert max(reserved_ahead) <= streaming.RESERVE_AHEAD_BYTES
    assert stat.st_blocks * 512 < size + 64 * 1024
    if streaming._fallocate is not None and received.reserved:
        assert min(reserved_ahead) >= 0  # every piece is written into space already reserved
    assert received.sha256 == hashlib.sha256(b"x" * size).hexdigest()


def test_an_upload_is_received_whole_where_space_cannot_be_reserved(settings, tmp_path, monkeypatch):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    calls = []

    def unsupported(fd, mode, offset, length):
        calls.append(length)
        ctypes.set_errno(errno.EOPNOTSUPP)
        return -1

    monkeypatch.setattr(streaming, "_fallocate", unsupported)
    _post, files = parse(multipart_body("data.txt", 3 * MiB + 5), HashingUploadHandler())

    received = files["files"]
    assert len(calls) == 1  # tried once, then not again for this file
    assert os.fstat(received.file.fileno()).st_size == received.size == 3 * MiB + 5
    assert received.read() == b"x" * (3 * MiB + 5)


@csrf_exempt
def upload_view(request):
    request.upload_handlers = [HashingUploadHandler(request)]
    return csrf_protect(_upload_view)(request)


def _upload_view(request):
    errors = [message for error in request.upload_errors for message in error.messages]
    files = {name: getattr(f, "sha256", "") for name, f in request.FILES.items()}
    return JsonResponse({"errors": errors, "files": files, "title": request.POST.get("title")})


def test_the_documented_view_pattern_shows_the_size_message_and_keeps_the_csrf_check(settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB
    body = multipart_body("big.pdf", 80 * MiB)

    response = upload_view(wsgi_request(body))

    assert response.status_code == 200
    result = json.loads(response.content)
    assert result["errors"][0].startswith("The file must be smaller than 1 MB")
    assert result["files"] == {}
    assert result["title"] == "Pen test"
    assert body.position <= uploads.CHUNK_BYTES


def test_the_documented_view_pattern_accepts_a_file_and_refuses_a_missing_csrf_token(settings):
    accepted = upload_view(wsgi_request(multipart_body("ok.txt", 1000)))
    assert json.loads(accepted.content)["files"] == {"files": hashlib.sha256(b"x" * 1000).hexdigest()}

    assert upload_view(wsgi_request(multipart_body("ok.txt", 1000), csrf_cookie=False)).status_code == 403


# --- type and name ------------------------------------------------------------------------------


def test_contents_that_disagree_with_the_extension_are_refused():
    error = refusal("report.pdf", png())

    assert error.code == "type_mismatch"
    assert error.messages == ["The file's contents are a PNG image but its name ends in .pdf"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.png", JPEG, "The file's contents are a JPEG image but its name ends in .png"),
        ("report.docx", pdf(), "The file's contents are a PDF but its name ends in .docx"),
        ("bundle.zip", docx(), "The file's contents are a Word document but its name ends in .zip"),
        ("sheet.docx", xlsx(), "The file's contents are an Excel spreadsheet but its name ends in .docx"),
        ("notes.pdf", b"just some text\n", "The file's contents are plain text but its name ends in .pdf"),
    ],
)
def test_each_kind_of_disguised_file_is_named_in_the_message(name, data, message):
    error = refusal(name, data)

    assert error.code == "type_mismatch"
    assert error.messages == [message]


def test_bytes_of_no_allowed_type_are_refused():
    error = refusal("report.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4)

    assert error.code == "unknown_type"
    assert error.messages[0].startswith("The file's contents are not a PDF, Word document")


def test_a_text_file_with_nul_bytes_is_not_text():
    assert refusal("notes.txt", b"abc\x00def").code == "unknown_type"


def test_a_csv_that_is_not_utf8_gets_a_message_saying_how_to_save_it():
    error = refusal("towns.csv", "name\r\nCrêwe\r\n".encode("cp1252"))

    assert error.code == "not_utf8"
    assert "CSV UTF-8" in error.messages[0]


def test_a_csv_that_does_not_parse_is_refused():
    error = refusal("broken.csv", b'a,b\r\n1,"unterminated"quote\r\n')

    assert error.code == "invalid_csv"
    assert error.messages[0].startswith("The file is not valid CSV (line 2")


def test_an_old_office_document_is_refused_with_advice():
    error = refusal("policy.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)

    assert error.code == "legacy_office"


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("report.pdf.exe", "exe"),
        ("invoice.exe.pdf", "exe"),
        ("scan.js.png", "js"),
        ("notes.txt.bat", "bat"),
        ("Invoice.PDF .EXE", "exe"),
    ],
)
def test_a_double_extension_hiding_a_program_is_refused(name, extension):
    error = refusal(name, pdf())

    assert error.code == "double_extension"
    assert f"(.{extension})" in error.messages[0]


def test_a_dotted_name_without_a_program_extension_is_fine():
    assert inspect_upload(upload("v1.2 final.report.pdf", pdf())).extension == "pdf"


@pytest.mark.parametrize(
    ("name", "code"),
    [("setup.exe", "extension_not_allowed"), ("slides.pptx", "extension_not_allowed"), ("README", "missing_extension")],
)
def test_a_name_without_an_allowed_extension_is_refused(name, code):
    assert refusal(name, b"hello\n").code == code


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y", "y"),
        ("..\\..\\Windows\\report.pdf", "report.pdf"),
        ("/var/www/html/shell.php", "shell.php"),
        ("..", "upload"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\x00b\nc\td.pdf", "abcd.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("lpt1", "_lpt1"),
        ("  .hidden report .pdf. ", "hidden report .pdf"),
        ('what?<is>"this"|*.pdf', "what__is__this___.pdf"),
    ],
)
def test_file_names_are_sanitised(raw, safe):
    assert sanitize_filename(raw) == safe


def test_a_long_file_name_is_cut_to_255_characters_keeping_its_extension():
    safe = sanitize_filename("é" * 400 + ".pdf")

    assert len(safe) == 255
    assert safe.endswith("é.pdf")


def test_a_path_traversal_name_is_sanitised_and_never_used_for_storage(evidence_storage):
    data = pdf()
    received = upload("../../etc/cron.d/report.pdf", data)
    received.name = "../../etc/cron.d/report.pdf"  # as a client that bypasses Django's own stripping

    inspected = inspect_upload(received)
    name = store_upload(received, inspected)

    assert inspected.safe_name == "report.pdf"
    digest = hashlib.sha256(data).hexdigest()
    assert re.fullmatch(rf"evidence/{digest[:2]}/{digest[2:4]}/[0-9a-f]{{32}}\.pdf", name)
    stored = evidence_storage / name
    assert stored.read_bytes() == data
    assert stored.resolve().is_relative_to(evidence_storage.resolve())
    assert [p.name for p in evidence_storage.rglob("*") if p.is_file()] == [stored.name]


def test_storage_never_overwrites_an_existing_file(evidence_storage, monkeypatch):
    first_data, second_data = pdf(b"/Lang (en-GB)"), pdf(b"/Lang (cy)")
    fixed = storing.uuid.UUID(int=7)
    monkeypatch.setattr(storing.uuid, "uuid4", lambda: fixed)
    first = store_upload(upload("a.pdf", first_data), inspect_upload(upload("a.pdf", first_data)))
    inspected = inspect_upload(upload("b.pdf", second_data))
    # The same generated name as the first file would need the same hash prefix: force it.
    inspected = uploads.InspectedFile(**{**inspected.__dict__, "sha256": hashlib.sha256(first_data).hexdigest()})

    second = store_upload(upload("b.pdf", second_data), inspected)

    assert second != first
    assert storages["evidence"].open(first).read() == first_data
    assert storages["evidence"].open(second).read() == second_data


def test_storage_names_are_generated_from_the_hash_not_the_name():
    digest = "ab" + "cd" + "0" * 60

    one, two = uploads.storage_name_for(digest, "pdf"), uploads.storage_name_for(digest, "pdf")

    assert one.startswith("evidence/ab/cd/") and one.endswith(".pdf") and one != two
    with pytest.raises(ValueError):
        uploads.storage_name_for("../../etc", "pdf")
    with pytest.raises(ValueError):
        uploads.storage_name_for(digest, "exe")


# --- ZIP and Office containers --------------------------------------------------------------------


def zip_bomb(uncompressed: int) -> bytes:
    buffer = io.BytesIO()
    zeros = bytes(MiB)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.txt", "w", force_zip64=True) as entry,
    ):
        for _ in range(uncompressed // MiB):
            entry.write(zeros)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_extracted():
    data = zip_bomb(200 * MiB)
    assert len(data) < MiB

    error = refusal("evidence.zip", data)

    assert error.code == "zip_bomb"
    assert "zeros.txt" in error.messages[0]


def test_a_zip_whose_contents_add_up_to_too_much_is_refused(settings):
    settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES = 100_000
    data = zip_of({f"part{i}.txt": bytes(range(256)) * 100 for i in range(5)}, compression=zipfile.ZIP_STORED)

    error = refusal("parts.zip", data)

    assert error.code == "zip_too_large"
    assert "when extracted" in error.messages[0]


def test_a_zip_with_too_many_entries_is_refused():
    error = refusal("many.zip", zip_of({f"f{i}.txt": b"" for i in range(1001)}, compression=zipfile.ZIP_STORED))

    assert error.code == "zip_too_many_entries"
    assert error.messages == ["The ZIP file contains more than 1,000 files and folders"]


@pytest.mark.parametrize(
    "entry", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini", "docs/../../x.txt", "..\\..\\startup.bat.txt"]
)
def test_a_zip_entry_that_escapes_the_folder_is_refused(entry):
    error = refusal("evidence.zip", zip_of({"ok.txt": b"fine", entry: b"owned"}))

    assert error.code == "zip_path_traversal"
    assert "unsafe path" in error.messages[0]


def test_office_documents_get_the_same_container_checks():
    error = refusal("report.docx", docx(**{"word/../../evil.xml": b"<x/>"}))

    assert error.code == "zip_path_traversal"


def test_archives_nested_too_deep_are_refused_and_one_level_less_is_fine():
    # Three archives inside one another (the top one and two nested) are fine; a fourth is not.
    level = zip_of({"deepest.txt": b"x"})
    for depth in range(3):
        level = zip_of({f"level{depth}.zip": level})
    accepted = zip_of({"deepest.txt": b"x"})
    for depth in range(2):
        accepted = zip_of({f"level{depth}.zip": accepted})

    assert refusal("nested.zip", level).code == "zip_nested_too_deep"
    assert inspect_upload(upload("nested.zip", accepted)).detected_type == "zip"


def test_a_bomb_inside_a_nested_archive_is_found():
    assert refusal("outer.zip", zip_of({"inner.zip": zip_bomb(50 * MiB)}, compression=zipfile.ZIP_STORED)).code == (
        "zip_bomb"
    )


def test_a_compressed_archive_of_another_format_inside_a_zip_is_refused():
    error = refusal("logs.zip", zip_of({"logs.tar.gz": b"\x1f\x8b\x08\x00" + b"\x00" * 64}))

    assert error.code == "zip_nested_unsupported"
    assert "gzip" in error.messages[0]


def test_a_program_inside_a_zip_is_refused():
    assert refusal("tools.zip", zip_of({"setup.exe": b"MZ" + b"\x00" * 64})).code == "zip_executable"


def test_a_password_protected_zip_is_refused():
    data = bytearray(zip_of({"secret.txt": b"hidden"}, compression=zipfile.ZIP_STORED))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_offset] |= 0x01

    error = refusal("secret.zip", bytes(data))

    assert error.code == "zip_encrypted"


def test_a_damaged_zip_is_refused():
    assert refusal("broken.zip", b"PK\x03\x04" + b"\x00" * 200).code == "zip_invalid"


def test_a_word_document_with_macros_is_refused():
    error = refusal("policy.docx", docx(**{"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"}))

    assert error.code == "office_macros"
    assert error.messages[0].startswith("The Word document contains macros")


# --- PDF active content -------------------------------------------------------------------------


def test_a_pdf_that_runs_javascript_when_opened_is_refused():
    error = refusal("report.pdf", pdf(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"))

    assert error.code == "pdf_javascript"
    assert error.messages[0].startswith("The PDF contains JavaScript")


def test_a_pdf_that_launches_a_program_is_refused():
    error = refusal("report.pdf", pdf(b"/OpenAction << /S /Launch /F (cmd.exe) >>"))

    assert error.code == "pdf_launch"
    assert error.messages == ["The PDF contains an action that starts another program, which is not allowed"]


def test_a_pdf_with_attached_files_is_refused():
    assert refusal("report.pdf", pdf(b"/Names << /EmbeddedFiles 5 0 R >>")).code == "pdf_embedded_file"


def test_javascript_spelt_with_hex_escapes_is_still_found():
    assert refusal("report.pdf", pdf(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>")).code == (
        "pdf_javascript"
    )


def test_javascript_hidden_in_a_compressed_object_stream_is_found():
    hidden = object_stream(3, b"4 0 << /S /JavaScript /JS (app.alert(1)) >>")

    assert refusal("report.pdf", pdf(b"/OpenAction 4 0 R", objects=hidden)).code == "pdf_javascript"


def test_javascript_across_a_read_boundary_is_found():
    data = pdf(objects=b"3 0 obj\n<< /S /JavaScript /F (x) >>\nendobj\n")
    head = data.index(b"3 0 obj")
    # A long comment before the object puts "/JavaScript" across the end of the first read.
    shift = uploads.CHUNK_BYTES - (head + len(b"3 0 obj\n<< /S /Java"))
    data = data[:head] + b"%" + b"p" * (shift - 2) + b"\n" + data[head:]
    at = data.index(b"/JavaScript")
    assert at < uploads.CHUNK_BYTES < at + len(b"/JavaScript")

    assert refusal("long.pdf", data).code == "pdf_javascript"


def test_a_harmless_name_split_by_a_read_boundary_is_not_mistaken_for_a_forbidden_one():
    data = pdf(b"/JSONData 1")
    at = data.index(b"/JSONData")
    # "/JS" ends exactly where the first read ends; "ONData" comes with the next read.
    data = data[:at] + b"%" + b"p" * (uploads.CHUNK_BYTES - 3 - at - 2) + b"\n" + data[at:]
    assert data[uploads.CHUNK_BYTES - 3 : uploads.CHUNK_BYTES] == b"/JS"

    assert inspect_upload(upload("long.pdf", data)).detected_type == "pdf"


def test_a_harmless_name_split_between_decompressed_pieces_is_not_mistaken_for_a_forbidden_one():
    content = b" " * (uploads.CHUNK_BYTES - 3) + b"/JSONData 1"

    assert inspect_upload(upload("long.pdf", pdf(objects=object_stream(3, content)))).detected_type == "pdf"


def binary_stream(number: int, data: bytes) -> bytes:
    return (
        f"{number} 0 obj\n<< /Length {len(data)} /Filter /DCTDecode >>\nstream\n".encode()
        + data
        + (b"\nendstream\nendobj\n")
    )


def test_a_short_name_occurring_by_chance_inside_image_data_is_not_mistaken_for_javascript():
    # Compressed data is random-looking: "/JS" plus a delimiter turns up about once in 200 MB.
    image = b"\x8a\x13/JS)\xfe\x00" * 10

    assert inspect_upload(upload("scan.pdf", pdf(objects=binary_stream(3, image)))).detected_type == "pdf"


def test_a_long_forbidden_name_is_found_even_inside_stream_data():
    assert refusal("scan.pdf", pdf(objects=binary_stream(3, b"<< /S /JavaScript >>"))).code == "pdf_javascript"


def test_javascript_after_stream_data_is_still_found():
    data = pdf(b"/AA << /O << /JS (app.alert(1)) >> >>", objects=binary_stream(3, b"\x00/JS "))
    data = data.replace(b"1 0 obj", binary_stream(9, b"\xff" * 100) + b"1 0 obj", 1)

    assert refusal("report.pdf", data).code == "pdf_javascript"


def test_a_pdf_whose_object_streams_cannot_be_read_is_refused():
    unreadable = object_stream(3, b"4 0 << /S /JavaScript >>", compress=lambda b: bytes(range(1, 200)))

    assert refusal("encrypted.pdf", pdf(objects=unreadable)).code == "pdf_uncheckable"


# --- PDF active content that only the structure shows (files built with pikepdf) ----------------


def hidden_pdf(build, *, user_password: str = "") -> bytes:
    """A one-page PDF changed by `build(pdf, page)`, saved the way a byte scan cannot read: its
    objects packed into compressed object streams and encrypted (AES-256) with an owner password,
    which every reader opens without asking (and with a user password when one is given)."""
    document = pikepdf.new()
    document.add_blank_page()
    build(document, document.pages[0].obj)
    buffer = io.BytesIO()
    document.save(
        buffer,
        object_stream_mode=pikepdf.ObjectStreamMode.generate,
        encryption=pikepdf.Encryption(owner="owner secret", user=user_password, R=6),
    )
    data = buffer.getvalue()
    for name in (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/RichMedia", b"/XFA"):
        assert name not in data
    return data


def javascript_action() -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))


def test_a_pdf_built_without_active_content_is_accepted_when_it_is_encrypted_for_its_owner_only():
    data = hidden_pdf(lambda document, page: None)

    assert inspect_upload(upload("report.pdf", data)).detected_type == "pdf"


def test_javascript_run_on_opening_hidden_in_an_encrypted_object_stream_is_found():
    def build(document, page):
        document.Root.OpenAction = document.make_indirect(javascript_action())

    assert refusal("report.pdf", hidden_pdf(build)).code == "pdf_javascript"


def test_javascript_in_a_pages_additional_actions_is_found():
    def build(document, page):
        page.AA = pikepdf.Dictionary(O=javascript_action())

    assert refusal("report.pdf", hidden_pdf(build)).code == "pdf_javascript"


def test_javascript_in_the_documents_javascript_names_is_found():
    def build(document, page):
        scripts = pikepdf.Array([pikepdf.String("startup"), document.make_indirect(javascript_action())])
        names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=scripts))
        document.Root.Names = document.make_indirect(names)

    assert refusal("report.pdf", hidden_pdf(build)).code == "pdf_javascript"


def test_a_hidden_launch_action_is_found():
    def build(document, page):
        launch = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))
        document.Root.OpenAction = document.make_indirect(launch)

    error = refusal("report.pdf", hidden_pdf(build))

    assert error.code == "pdf_launch"
    assert error.messages == ["The PDF contains an action that starts another program, which is not allowed"]


def test_a_hidden_embedded_file_is_found():
    def build(document, page):
        # The file's stream without its optional /Type: only the file specification, packed
        # into an object stream, says what it is.
        spec = pikepdf.Dictionary(
            Type=pikepdf.Name.Filespec,
            F=pikepdf.String("payload.txt"),
            EF=pikepdf.Dictionary(F=document.make_stream(b"not evidence")),
        )
        attached = pikepdf.Array([pikepdf.String("payload.txt"), document.make_indirect(spec)])
        document.Root.Names = document.make_indirect(
            pikepdf.Dictionary(EmbeddedFiles=pikepdf.Dictionary(Names=attached))
        )

    error = refusal("report.pdf", hidden_pdf(build))

    assert error.code == "pdf_embedded_file"
    assert error.messages[0].startswith("The PDF contains attached files")


def test_hidden_rich_media_is_found():
    def build(document, page):
        media = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.RichMedia,
            Rect=[0, 0, 100, 100],
            RichMediaContent=pikepdf.Dictionary(),
        )
        page.Annots = pikepdf.Array([document.make_indirect(media)])

    assert refusal("report.pdf", hidden_pdf(build)).code == "pdf_rich_media"


def test_a_hidden_xfa_form_is_found():
    def build(document, page):
        xfa = document.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
        document.Root.AcroForm = document.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=xfa))

    error = refusal("form.pdf", hidden_pdf(build))

    assert error.code == "pdf_xfa"
    assert error.messages[0].startswith("The PDF contains an XFA form")


def test_an_xfa_form_is_found_by_the_byte_scan_in_a_file_too_damaged_to_open():
    assert refusal("form.pdf", pdf(b"/AcroForm << /Fields [] /XFA 5 0 R >>")).code == "pdf_xfa"


def test_a_pdf_that_needs_a_password_to_open_is_refused_with_advice():
    error = refusal("protected.pdf", hidden_pdf(lambda document, page: None, user_password="reader secret"))

    assert error.code == "pdf_encrypted"
    assert error.messages == [
        "The PDF is protected with a password, so it cannot be checked for scripts. "
        "Remove the password (save or print it as a new PDF) and upload that"
    ]


def test_an_object_stream_that_inflates_past_the_limit_is_refused_without_inflating_it_all(monkeypatch):
    monkeypatch.setattr(pdf_structure, "PDF_STREAM_DECOMPRESSED_MAX", MiB)
    pdf_structure._limit_decoding.cache_clear()

    def build(document, page):
        document.Root.Padding = document.make_indirect(pikepdf.String(b" " * (2 * MiB)))

    try:
        assert refusal("bomb.pdf", hidden_pdf(build)).code == "pdf_uncheckable"
    finally:
        monkeypatch.undo()
        pdf_structure._limit_decoding.cache_clear()


# --- bounded reads: what inspection reads, and storing by moving --------------------------------


class CountingBytes(io.BytesIO):
    """A file in memory that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def pdf_with_image(image: bytes) -> bytes:
    document = pikepdf.new()
    document.add_blank_page()
    picture = document.make_stream(
        image, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=1000, Height=1000,
        ColorSpace=pikepdf.Name.DeviceGray, BitsPerComponent=8, Filter=pikepdf.Name.DCTDecode,
    )  # fmt: skip
    page = document.pages[0]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=picture))
    page.Contents = document.make_stream(b"q 100 0 0 100 0 0 cm /Im0 Do Q")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_inspection_reads_a_pdfs_structure_but_not_its_image_data():
    # Random-looking, like compressed image data; the names in it mean nothing to a reader.
    image = random.Random(7).randbytes(8 * MiB) + b"/JavaScript /JS /Launch" + random.Random(8).randbytes(MiB)
    data = pdf_with_image(image)
    counting = CountingBytes(data)

    received = InMemoryUploadedFile(counting, "file", "scan.pdf", "application/pdf", len(data), None)
    received.sha256 = hashlib.sha256(data).hexdigest()  # as the upload handler works it out

    inspected = inspect_upload(received)

    assert inspected.detected_type == "pdf"
    assert counting.bytes_read <= 256 * 1024, f"read {counting.bytes_read} of {len(data)} bytes"


def test_javascript_outside_every_object_qpdf_reads_is_still_found_by_the_byte_scan():
    data = pdf_with_image(b"\xff" * 1000) + b"99 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\n"

    assert refusal("report.pdf", data).code == "pdf_javascript"


def test_storing_a_received_upload_moves_its_temporary_file_rather_than_copying_it(
    evidence_storage, settings, tmp_path
):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    data = pdf_with_image(b"\xff" * 1000)
    received = uploads.HashedTemporaryUploadedFile("scan.pdf", "application/pdf", None)
    received.write(data)
    received.size, received.sha256 = len(data), hashlib.sha256(data).hexdigest()
    temporary = Path(received.temporary_file_path())
    inode = temporary.stat().st_ino

    name = store_upload(received, inspect_upload(received))
    received.close()

    stored = evidence_storage / name
    assert stored.stat().st_ino == inode
    assert stored.read_bytes() == data
    assert not temporary.exists()


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("events.json", b'{"resourceType": "AuditEvent",\n "action": }', "line 2, column 12"),
        ("events.ndjson", b'{"resourceType": "AuditEvent"}\n{"resourceType": \n', "line 2, column 18"),
    ],
)
def test_json_that_does_not_parse_is_refused_with_where_it_breaks(name, data, where):
    with pytest.raises(ValidationError) as refused:
        inspect_upload(upload(name, data))

    assert refused.value.code == "invalid_json"
    assert where in refused.value.messages[0]


def test_an_empty_ndjson_file_holds_no_data():
    with pytest.raises(ValidationError) as refused:
        inspect_upload(upload("events.ndjson", b"\n  \n"))

    assert refused.value.code == "invalid_json"


def test_a_pdf_named_json_is_refused_as_a_type_mismatch():
    with pytest.raises(ValidationError) as refused:
        inspect_upload(upload("events.json", pdf()))

    assert refused.value.code == "type_mismatch"


# --- the web process's allocator -----------------------------------------------------------------

_HEAP_GROWTH_SCRIPT = """
import ctypes, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
if sys.argv[1] == "wsgi":
    import nir_portal.wsgi
else:
    import django
    django.setup()
libc = ctypes.CDLL(None)
libc.sbrk.restype, libc.sbrk.argtypes = ctypes.c_void_p, [ctypes.c_long]
before = libc.sbrk(0)
buffer = bytearray(12 * 1024 * 1024)
print(libc.sbrk(0) - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's (mallopt)")
def test_a_web_process_keeps_the_buffers_of_large_request_bodies_in_its_heap():
    """Loading the WSGI application (as every gunicorn worker does) fixes glibc's thresholds, so a
    buffer of a few MiB comes from the heap and stays there, instead of being mapped and faulted in
    afresh on every read of a large upload. Without the WSGI module, the same buffer is mapped."""

    def heap_growth(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _HEAP_GROWTH_SCRIPT, mode],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        return int(done.stdout.split()[-1])

    assert heap_growth("wsgi") >= 8 * MiB
    assert heap_growth("django") < MiB
