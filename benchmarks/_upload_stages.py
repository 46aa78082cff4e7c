"""The stages of an evidence upload, each timed on its own in this process on the same file, in CPU
seconds of this thread (time.thread_time: on a shared machine, wall time here is mostly waiting):
receive (the upload handler's multipart reader reading the body from memory, through Django's
MultiPartParser as a request does), write (to the temporary file), hash, type detection,
inspection and storage. Receive, write and hash are told apart by running the reader with
handlers that do less: one that drops the data, one that only writes it, and the real one. What
the request takes beyond these is the HTTP side: gunicorn reading the body from the socket, the
session, the form, the database and the response.

Inspection's reads are counted from /proc/self/io (rchar: bytes returned by read calls, whatever
reads them, qpdf included), so the figure covers everything inspection reads from the file.
"""

import io
import time
from pathlib import Path

from django.conf import settings
from django.http.multipartparser import MultiPartParser
from django.test import override_settings

from onboarding import uploads
from onboarding.uploads.detection import detect_type
from onboarding.uploads.names import check_name, sanitize_filename
from onboarding.uploads.pdfs import check_pdf
from onboarding.uploads.zips import ZipBudget

STAGES = ("receive", "write", "hash", "type detection", "inspection", "storage")


class _DroppingHandler(uploads.HashingUploadHandler):
    """Reads the body as the real handler does and keeps nothing: what reading it alone costs."""

    def receive_data_chunk(self, raw_data: bytes | memoryview, start: int) -> None:
        return None

    def file_complete(self, file_size: int) -> None:
        self.upload_interrupted()  # deletes the (empty) temporary file
        return None


class _WritingHandler(uploads.HashingUploadHandler):
    """Writes every piece to the temporary file, as the real handler does, without hashing; the
    file is returned, as the real one is, and deleted after the timing."""

    def receive_data_chunk(self, raw_data: bytes | memoryview, start: int) -> None:
        self._received += len(raw_data)
        self.file.reserve(self._received)
        self.file.write(raw_data)


class _DiskBody:
    """A multipart body as wsgi.input: prefix, the file read from disk, suffix."""

    def __init__(self, prefix: bytes, path: Path, suffix: bytes) -> None:
        self._parts = [io.BytesIO(prefix), path.open("rb"), io.BytesIO(suffix)]
        self.length = len(prefix) + path.stat().st_size + len(suffix)

    def read(self, size: int = -1) -> bytes:
        while self._parts:
            data = self._parts[0].read(size)
            if data:
                return data
            self._parts.pop(0).close()
        return b""


def _parse(handler: uploads.HashingUploadHandler, prefix: bytes, source: Path, suffix: bytes, boundary: str):
    body = _DiskBody(prefix, source, suffix)
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={boundary}", "CONTENT_LENGTH": str(body.length)}
    started = time.thread_time()
    _fields, files = MultiPartParser(meta, body, [handler]).parse()
    return time.thread_time() - started, files


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def measure(prefix: bytes, source: Path, suffix: bytes, boundary: str, work: Path) -> dict[str, float]:
    """Seconds per stage, and "inspection bytes" read by type detection and inspection."""
    store = work / "stages-store"
    evidence = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": store}}
    with override_settings(FILE_UPLOAD_TEMP_DIR=str(work), STORAGES={**settings.STORAGES, "evidence": evidence}):
        # Once untimed first, so that the timed runs write into page-cache memory the machine has
        # just freed (see upload.fresh_page_cost for what new memory costs on top).
        _seconds, warm_up = _parse(_WritingHandler(), prefix, source, suffix, boundary)
        warm_up["files"].close()
        dropping, _files = _parse(_DroppingHandler(), prefix, source, suffix, boundary)
        writing, written = _parse(_WritingHandler(), prefix, source, suffix, boundary)
        written["files"].close()
        handler = uploads.HashingUploadHandler()
        hashing, files = _parse(handler, prefix, source, suffix, boundary)
        if handler.errors:
            raise RuntimeError(f"upload refused: {handler.errors}")
        received = files["files"]
        try:
            read_before = _rchar()
            started = time.thread_time()
            extension = check_name(sanitize_filename(received.name))
            received.seek(0)
            detected = detect_type(
                received,
                received.read(4096),
                extension,
                ZipBudget(settings.EVIDENCE_ZIP_MAX_ENTRIES, settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES),
            )
            detected_at = time.thread_time()
            check_pdf(received, received.temporary_file_path())
            inspected_at = time.thread_time()
            read = _rchar() - read_before
            inspected = uploads.inspect_upload(received)  # the whole check, for the stored name
            if detected != "pdf" or inspected.detected_type != "pdf":
                raise RuntimeError(f"detected {detected!r}, not a PDF")
            stored_started = time.thread_time()
            uploads.store_upload(received, inspected)
            stored = time.thread_time() - stored_started
        finally:
            received.close()
    return {
        "receive": dropping,
        "write": max(writing - dropping, 0.0),
        "hash": max(hashing - writing, 0.0),
        "type detection": detected_at - started,
        "inspection": inspected_at - detected_at,
        "storage": stored,
        "inspection bytes": float(read),
    }
