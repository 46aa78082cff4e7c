"""Receiving an upload: the request body is streamed to a temporary file and hashed on the way,
and stopped as soon as it is known to be too large."""

import ctypes
import ctypes.util
import errno
import hashlib
import logging
import os
import tempfile
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

from onboarding.uploads.multipart import FormReader

# Received, hashed and scanned in 1 MiB pieces: gunicorn reads a request body from the socket up
# to 1 MiB at a time and copies whatever a read leaves over into a new buffer on every read, so
# 256 KiB reads copied each byte about three more times. Over HTTP a 200 MB upload took about
# half as long with 1 MiB pieces as with 256 KiB ones, and twice as long again with 2 MiB ones.
CHUNK_BYTES = 1024 * 1024
# The temporary file's disk space is reserved this far ahead of what has been received (see
# HashedTemporaryUploadedFile.reserve): never for bytes not yet sent, whatever Content-Length says.
RESERVE_AHEAD_BYTES = 8 * 1024 * 1024

logger = logging.getLogger(__name__)


def _load_fallocate():
    """fallocate(2) from the C library (Linux), or None. Not os.posix_fallocate: where a file system
    cannot reserve space, glibc's posix_fallocate writes a byte into every block instead."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fallocate.restype = ctypes.c_int
    return fallocate


_fallocate = _load_fallocate()


def format_limit(limit_bytes: int) -> str:
    if limit_bytes >= 1024 * 1024:
        return f"{limit_bytes / (1024 * 1024):.4g} MB"
    return f"{max(1, limit_bytes // 1024)} KB"


def too_large_error(limit_bytes: int | None = None, *, whole_request: bool = False) -> ValidationError:
    limit = settings.EVIDENCE_MAX_FILE_BYTES if limit_bytes is None else limit_bytes
    message = _("The file must be smaller than %(limit)s")
    if whole_request:
        # Seen from Content-Length before any file is read: one file or several together.
        message = _(
            "The file must be smaller than %(limit)s. Files uploaded together must add up to less than %(limit)s"
        )
    return ValidationError(message, code="too_large", params={"limit": format_limit(limit)})


class HashedTemporaryUploadedFile(TemporaryUploadedFile):
    """An upload streamed to a temporary file, with its SHA-256 and size worked out on the way."""

    def __init__(self, name: str, content_type: str, charset: str | None, content_type_extra: Any = None) -> None:
        # TemporaryUploadedFile would put the user's extension into the temporary file's name.
        file = tempfile.NamedTemporaryFile(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115  closed with the upload
        UploadedFile.__init__(self, file, name, content_type, 0, charset, content_type_extra)
        self.sha256 = ""
        self.reserved = 0
        self._can_reserve = _fallocate is not None

    def reserve(self, received: int) -> None:
        """Reserve the file's disk space RESERVE_AHEAD_BYTES beyond `received` bytes, once what was
        reserved runs out. On ext4 (and XFS, btrfs) the space is then allocated in one extent for
        every few MB instead of block by block as pages are written: the write into the page
        cache takes about a quarter less CPU, and the stored file is not fragmented. The file's
        size grows with the reservation; `trim` cuts it back to what was received."""
        if not self._can_reserve or received <= self.reserved:
            return
        end = received + RESERVE_AHEAD_BYTES
        if _fallocate(self.fileno(), 0, self.reserved, end - self.reserved) != 0:
            error = ctypes.get_errno()
            self._can_reserve = False  # unsupported here, or no space: the writes will say so
            if error not in (errno.EOPNOTSUPP, errno.ENOSYS):
                logger.warning("Could not reserve space for an upload: %s", os.strerror(error))
            return
        self.reserved = end

    def trim(self, size: int) -> None:
        """Cut the file back to `size` bytes, giving back what was reserved beyond them."""
        if self.reserved:
            self.flush()
            os.ftruncate(self.fileno(), size)


class HashingUploadHandler(FileUploadHandler):
    """Streams each uploaded file to a temporary file while hashing it, and stops the upload
    without reading the rest of the request body once it is known to be too large.

    Install it before anything reads the request body, with the CSRF check after it::

        @method_decorator(csrf_exempt)
        def dispatch(self, request, *args, **kwargs):
            request.upload_handlers = [HashingUploadHandler(request)]
            return csrf_protect(super().dispatch)(request, *args, **kwargs)

    (CsrfViewMiddleware reads request.POST, which would parse the body with the default
    handlers first; csrf_exempt on the outer view and csrf_protect on the inner one keep the
    check while letting this handler parse the body.)

    Refusals are recorded as `ValidationError`s in `request.upload_errors` (also `self.errors`);
    a view shows them against the file field. The size limit is
    settings.EVIDENCE_MAX_FILE_BYTES per file; a request whose Content-Length is larger than
    that plus `form_allowance_bytes` is refused at the first file part, before its bytes are
    read. The body is read by `onboarding.uploads.multipart.FormReader` (from handle_raw_input,
    in place of Django's parser): a refusal raises StopUpload(connection_reset=True) inside it,
    which stops reading the body and keeps the form fields read before the file (the CSRF token
    among them), so the view can show the message.
    """

    chunk_size = CHUNK_BYTES
    form_allowance_bytes = 1024 * 1024
    # Set only while a file is being received: the reader closes `handler.file` when it stops,
    # so a finished (returned) file must not stay here.
    file: HashedTemporaryUploadedFile

    def __init__(self, request: Any = None, *, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = settings.EVIDENCE_MAX_FILE_BYTES if max_bytes is None else max_bytes
        self.errors: list[ValidationError] = []
        self.refused = False
        self._hasher = hashlib.sha256()
        self._received = 0
        if request is not None:
            request.upload_errors = self.errors

    def _refuse(self, *, whole_request: bool = False) -> None:
        self.refused = True
        if not self.errors:
            self.errors.append(too_large_error(self.max_bytes, whole_request=whole_request))

    def _discard(self) -> None:
        file = self.__dict__.pop("file", None)
        if file is not None:
            file.close()  # NamedTemporaryFile deletes itself on close

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        """Reads the whole body (see `onboarding.uploads.multipart`): (POST, FILES)."""
        if content_length is not None and content_length > self.max_bytes + self.form_allowance_bytes:
            self._refuse(whole_request=True)  # the form fields are read; new_file stops at the first file
        reader = FormReader(self, boundary, encoding or settings.DEFAULT_CHARSET)
        return reader.read(input_data, self.chunk_size)

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if self.refused:
            raise StopUpload(connection_reset=True)
        self._hasher = hashlib.sha256()
        self._received = 0
        self.file = HashedTemporaryUploadedFile(file_name, content_type, charset, content_type_extra)

    def receive_data_chunk(self, raw_data: bytes | memoryview, start: int) -> None:
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self._discard()
            self._refuse()
            raise StopUpload(connection_reset=True)
        self.file.reserve(self._received)
        self._hasher.update(raw_data)
        self.file.write(raw_data)
        return None  # consumed: later handlers get nothing

    def file_complete(self, file_size: int) -> HashedTemporaryUploadedFile | None:
        file = self.__dict__.pop("file", None)
        if file is None:
            return None
        file.trim(file_size)
        file.seek(0)
        file.size = file_size
        file.sha256 = self._hasher.hexdigest()
        return file

    def upload_interrupted(self) -> None:
        self._discard()
