"""Receiving, checking and storing uploaded evidence files.

Nothing here trusts the browser. A file's type is decided by its bytes and must agree with its
name; containers (ZIP, DOCX, XLSX) and PDFs are opened and refused when they could harm whoever
opens them; the stored name is generated, never derived from the user's file name. Malware
scanning happens after storage (`onboarding.scanning`), and a file stays quarantined until then.

Every refusal is a `ValidationError` with a stable `code` and a message that says what is wrong
with the file, so a form can show it as it is.
"""

import codecs
import csv
import hashlib
import itertools
import re
import stat
import struct
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

# Read and hashed in pieces that stay in the CPU cache and below malloc's mmap threshold:
# 256 KiB pieces received a 200 MB upload about twice as fast as 1 MiB pieces here.
CHUNK_BYTES = 256 * 1024
STORAGE_ALIAS = "evidence"

# detected type -> extensions a file of that type may carry
EXTENSIONS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "xlsx": ("xlsx",),
    "csv": ("csv",),
    "txt": ("txt",),
    "png": ("png",),
    "jpeg": ("jpg", "jpeg"),
    "zip": ("zip",),
}
ALLOWED_EXTENSIONS = frozenset(ext for exts in EXTENSIONS_BY_TYPE.values() for ext in exts)
ACCEPT_ATTRIBUTE = ",".join(f".{ext}" for exts in EXTENSIONS_BY_TYPE.values() for ext in exts)
TYPE_LABELS = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "xlsx": "an Excel spreadsheet",
    "csv": "CSV text",
    "txt": "plain text",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "zip": "a ZIP archive",
}

# Programs and things the operating system runs when opened: refused anywhere in a file name and
# inside ZIP files.
_EXECUTABLE_WORDS = (
    "exe dll com scr pif cpl msi msp msc mst bat cmd vb vbs vbe js jse wsf wsh wsc ps1 ps1xml psm1 "
    "psd1 hta lnk jar reg scf inf gadget application appref-ms appx msix sys drv ocx"
)
EXECUTABLE_EXTENSIONS = frozenset(_EXECUTABLE_WORDS.split())
# Scripts and active documents: refused as a hidden inner extension of a file name only, because
# software evidence in ZIP files legitimately contains them (test reports in HTML, for example).
_SCRIPT_WORDS = (
    "sh bash zsh csh ksh command py pyw pl rb php phtml asp aspx jsp cgi html htm xhtml shtml svg "
    "mht mhtml docm dotm xlsm xltm xlam pptm potm ppam sldm iso img vhd vhdx dmg apk deb rpm app url "
    "desktop chm"
)
SCRIPT_EXTENSIONS = frozenset(_SCRIPT_WORDS.split())
DANGEROUS_EXTENSIONS = EXECUTABLE_EXTENSIONS | SCRIPT_EXTENSIONS

WINDOWS_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))]
)
MAX_NAME_LENGTH = 255

# ZIP limits besides the configurable entry count and uncompressed size.
ZIP_MAX_NESTING = 2  # an archive may hold archives that hold archives, and no deeper
ZIP_MAX_RATIO = 200  # deflate reaches ~1000:1 only on degenerate data such as runs of zeros
ZIP_RATIO_MIN_BYTES = 1024 * 1024  # small entries may compress well without being a bomb
ZIP_CENTRAL_DIRECTORY_BYTES_PER_ENTRY = 1024
NESTED_IN_MEMORY_BYTES = 8 * 1024 * 1024
COMPRESSED_FORMATS = (  # archives that cannot be opened here, so cannot be checked for bombs
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x28\xb5\x2f\xfd", "Zstandard"),
    (b"MSCF", "Cabinet"),
)

# PDF: names that make a reader run code, start programs or carry hidden files.
PDF_FORBIDDEN = {
    "JavaScript": "pdf_javascript",
    "JS": "pdf_javascript",
    "Launch": "pdf_launch",
    "EmbeddedFile": "pdf_embedded_file",
    "EmbeddedFiles": "pdf_embedded_file",
    "RichMedia": "pdf_rich_media",
}
PDF_OVERLAP = 8192  # bytes carried between chunks: covers an object's dictionary before "stream"
PDF_MATCH_MARGIN = 256
PDF_STREAM_DECOMPRESSED_MAX = 64 * 1024 * 1024
PDF_TOTAL_DECOMPRESSED_MAX = 256 * 1024 * 1024
CSV_MAX_LINE_CHARS = 1024 * 1024


# --- receiving ----------------------------------------------------------------------------------


def _format_limit(limit_bytes: int) -> str:
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
    return ValidationError(message, code="too_large", params={"limit": _format_limit(limit)})


class HashedTemporaryUploadedFile(TemporaryUploadedFile):
    """An upload streamed to a temporary file, with its SHA-256 and size worked out on the way."""

    def __init__(self, name: str, content_type: str, charset: str | None, content_type_extra: Any = None) -> None:
        # TemporaryUploadedFile would put the user's extension into the temporary file's name.
        file = tempfile.NamedTemporaryFile(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115  closed with the upload
        UploadedFile.__init__(self, file, name, content_type, 0, charset, content_type_extra)
        self.sha256 = ""


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
    read. The parse stops with StopUpload(connection_reset=True) inside the multipart parser, so
    the form fields before the file (the CSRF token among them) are still available. (Raising
    StopUpload from handle_raw_input itself would escape the parser: request.POST would raise in
    csrf_protect and the person would see a server error instead of the message.)
    """

    chunk_size = CHUNK_BYTES
    form_allowance_bytes = 1024 * 1024
    # Set only while a file is being received: MultiPartParser closes `handler.file` when it
    # stops, so a finished (returned) file must not stay here.
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

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        if content_length is not None and content_length > self.max_bytes + self.form_allowance_bytes:
            self._refuse(whole_request=True)
        return None  # let the parser read the form fields; new_file stops at the first file

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if self.refused:
            raise StopUpload(connection_reset=True)
        self._hasher = hashlib.sha256()
        self._received = 0
        self.file = HashedTemporaryUploadedFile(file_name, content_type, charset, content_type_extra)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self._discard()
            self._refuse()
            raise StopUpload(connection_reset=True)
        self._hasher.update(raw_data)
        self.file.write(raw_data)
        return None  # consumed: later handlers get nothing

    def file_complete(self, file_size: int) -> HashedTemporaryUploadedFile | None:
        file = self.__dict__.pop("file", None)
        if file is None:
            return None
        file.seek(0)
        file.size = file_size
        file.sha256 = self._hasher.hexdigest()
        return file

    def upload_interrupted(self) -> None:
        self._discard()


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectedFile:
    """What inspect_upload learned about an accepted file."""

    original_name: str
    safe_name: str
    extension: str
    detected_type: str
    sha256: str
    size: int


def _strip_invisible(text: str) -> str:
    # Control and format characters (NUL, newlines, right-to-left overrides, zero-width joiners)
    # can disguise a name, e.g. "invoice\u202efdp.exe" displays as "invoiceexe.pdf".
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def sanitize_filename(name: str) -> str:
    """A readable, harmless version of a user's file name for display and downloads; never a path."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _strip_invisible(name)
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        name = "upload"
    if name.split(".", 1)[0].strip().upper() in WINDOWS_RESERVED_NAMES:
        name = "_" + name
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def _name_parts(safe_name: str) -> tuple[str, list[str]]:
    """The final extension and the inner ones ("a.tar.gz" -> ("gz", ["tar"]))."""
    parts = [part.strip().lower() for part in safe_name.split(".")]
    if len(parts) < 2:
        return "", []
    return parts[-1], parts[1:-1]


def _check_name(safe_name: str) -> str:
    extension, inner = _name_parts(safe_name)
    hidden = [part for part in inner if part in DANGEROUS_EXTENSIONS]
    if inner and (hidden or extension in DANGEROUS_EXTENSIONS):
        raise ValidationError(
            _(
                "The file name %(name)s has more than one extension and one of them (.%(extension)s) is for a "
                "program or script. Rename the file so that its name ends only in its real type, such as .pdf"
            ),
            code="double_extension",
            params={"name": safe_name, "extension": hidden[0] if hidden else extension},
        )
    if not extension:
        raise ValidationError(_("The file name must end in its type, such as .pdf or .docx"), code="missing_extension")
    if extension not in ALLOWED_EXTENSIONS:
        raise ValidationError(
            _(
                "The file must be a PDF, Word document (.docx), Excel spreadsheet (.xlsx), CSV, text file, "
                "PNG, JPEG or ZIP file, not .%(extension)s"
            ),
            code="extension_not_allowed",
            params={"extension": extension},
        )
    return extension


def _chunks(file: IO[bytes], start: int = 0, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    file.seek(start)
    while chunk := file.read(size):
        yield chunk


def _sha256_of(file: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in _chunks(file):
        hasher.update(chunk)
    return hasher.hexdigest()


# --- text ---


def _text_kind(file: IO[bytes], head: bytes) -> str:
    """Classify bytes as "text" (UTF-8, with or without BOM, no NUL bytes), "utf16", "not_utf8" or "binary"."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in _chunks(file):
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
    for chunk in _chunks(file):
        pending += decoder.decode(chunk)
        lines = _LINE_BREAK.split(pending)
        pending = lines.pop()  # may be incomplete, or a "\r" whose "\n" is in the next chunk
        yield from (line for line in lines if line)
        if len(pending) > CSV_MAX_LINE_CHARS:
            raise csv.Error(f"a line is longer than {CSV_MAX_LINE_CHARS:,} characters")
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _check_csv(file: IO[bytes]) -> None:
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


# --- ZIP, DOCX and XLSX ---


@dataclass
class _ZipBudget:
    """Limits shared by an archive and every archive nested in it."""

    max_entries: int
    max_uncompressed: int
    entries: int = 0
    uncompressed: int = 0


def _zip_error(message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError(message, code=code, params=params or None)


def _zip_damaged() -> ValidationError:
    return _zip_error(_("The ZIP file is damaged and cannot be opened"), "zip_invalid")


def _zip_declared_totals(file: IO[bytes]) -> tuple[int, int]:
    """Entry count and central directory size from the end record, read before zipfile parses
    the directory (a directory of millions of entries would otherwise be loaded into memory)."""
    size = file.seek(0, 2)
    tail_length = min(size, 22 + 65535 + 20)
    file.seek(size - tail_length)
    tail = file.read(tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _zip_damaged()
    _sig, _disk, _cd_disk, _disk_entries, entries, cd_size, cd_offset, _comment = struct.unpack(
        "<4s4H2LH", tail[at : at + 22]
    )
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            raise _zip_damaged()
        _sig, _disk, zip64_offset, _disks = struct.unpack("<4sLQL", locator)
        file.seek(zip64_offset)
        record = file.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise _zip_damaged()
        fields = struct.unpack("<4sQ2H2L4Q", record)
        entries, cd_size = fields[7], fields[8]
    return entries, cd_size


def _open_zip(file: IO[bytes], budget: _ZipBudget) -> zipfile.ZipFile:
    entries, cd_size = _zip_declared_totals(file)
    if entries + budget.entries > budget.max_entries:
        raise _too_many_entries(budget)
    if cd_size > max(64 * 1024, budget.max_entries * ZIP_CENTRAL_DIRECTORY_BYTES_PER_ENTRY):
        raise _zip_error(_("The ZIP file's list of contents is too large to check"), "zip_too_many_entries")
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as error:
        raise _zip_damaged() from error
    return archive


def _too_many_entries(budget: _ZipBudget) -> ValidationError:
    return _zip_error(
        _("The ZIP file contains more than %(limit)s files and folders"),
        "zip_too_many_entries",
        limit=f"{budget.max_entries:,}",
    )


def _unsafe_entry_name(name: str) -> bool:
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return True
    if any(unicodedata.category(ch) == "Cc" for ch in normal):
        return True
    return ".." in normal.split("/")


def _is_zip_head(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def _classify_zip(names: list[str]) -> str:
    if "[Content_Types].xml" in names:
        if any(name.startswith("word/") for name in names):
            return "docx"
        if any(name.startswith("xl/") for name in names):
            return "xlsx"
    return "zip"


def _check_zip(file: IO[bytes], *, detected_type: str | None, budget: _ZipBudget, depth: int = 0) -> None:
    """Refuse archives that are bombs, escape the folder they are extracted into, hide
    programs, cannot be read, or nest too deeply. Works from the central directory; nested
    archives are opened (within the shared budget) because their contents are what matters."""
    archive = _open_zip(file, budget)
    with archive:
        infos = archive.infolist()
        detected_type = detected_type or _classify_zip([info.filename for info in infos])
        budget.entries += len(infos)
        if budget.entries > budget.max_entries:
            raise _too_many_entries(budget)
        for info in infos:
            name = info.filename
            if _unsafe_entry_name(name):
                raise _zip_error(
                    _("The ZIP file contains an item with an unsafe path (%(path)s)"),
                    "zip_path_traversal",
                    path=_strip_invisible(name)[:100],
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _zip_error(
                    _("The ZIP file contains a link (%(path)s), which cannot be uploaded"), "zip_link", path=name[:100]
                )
            if info.flag_bits & 0x1:
                raise _zip_error(
                    _("The ZIP file contains password-protected files, which cannot be checked for viruses"),
                    "zip_encrypted",
                )
            budget.uncompressed += info.file_size
            if budget.uncompressed > budget.max_uncompressed:
                raise _zip_error(
                    _("The ZIP file's contents add up to more than %(limit)s when extracted"),
                    "zip_too_large",
                    limit=_format_limit(budget.max_uncompressed),
                )
            if info.file_size >= ZIP_RATIO_MIN_BYTES and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                raise _zip_error(
                    _(
                        "The ZIP file contains %(path)s, which expands to over %(ratio)s times its compressed size "
                        "(a 'zip bomb')"
                    ),
                    "zip_bomb",
                    path=name[:100],
                    ratio=ZIP_MAX_RATIO,
                )
            extension, _inner = _name_parts(name.rsplit("/", 1)[-1])
            if detected_type == "zip" and extension in EXECUTABLE_EXTENSIONS:
                raise _zip_error(
                    _("The ZIP file contains a program or script (%(path)s), which cannot be uploaded"),
                    "zip_executable",
                    path=name[:100],
                )
        _check_no_overlap(infos)
        if detected_type in ("docx", "xlsx"):
            _check_office_macros(archive, infos, detected_type)
        for info in infos:
            if info.is_dir() or info.file_size == 0:
                continue
            _check_nested(archive, info, budget=budget, depth=depth)


def _check_no_overlap(infos: list[zipfile.ZipInfo]) -> None:
    # Entries that share compressed bytes make a small file expand many times over
    # (the "non-recursive zip bomb"); honest archives never overlap.
    spans = sorted(
        (info.header_offset, info.header_offset + 30 + len(info.orig_filename) + info.compress_size) for info in infos
    )
    for (_start, end), (next_start, _next_end) in itertools.pairwise(spans):
        if end > next_start:
            raise _zip_error(_("The ZIP file has overlapping items (a 'zip bomb')"), "zip_bomb")


def _check_office_macros(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], detected_type: str) -> None:
    label = _("Word document") if detected_type == "docx" else _("Excel spreadsheet")
    has_macros = any(info.filename.lower().rsplit("/", 1)[-1] == "vbaproject.bin" for info in infos)
    if not has_macros:
        try:
            with archive.open("[Content_Types].xml") as types:
                has_macros = b"macroenabled" in types.read(1024 * 1024).lower()
        except (KeyError, zipfile.BadZipFile, OSError, zlib.error, EOFError) as error:
            raise _zip_damaged() from error
    if has_macros:
        raise _zip_error(
            _("The %(label)s contains macros, which cannot be uploaded. Save it without macros and upload it again"),
            "office_macros",
            label=label,
        )


def _check_nested(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, budget: _ZipBudget, depth: int) -> None:
    try:
        with archive.open(info) as member:
            head = member.read(8)
            compressed = next((label for magic, label in COMPRESSED_FORMATS if head.startswith(magic)), None)
            if compressed:
                raise _zip_error(
                    _(
                        "The ZIP file contains a %(format)s archive (%(path)s), which cannot be checked. "
                        "Use ZIP instead"
                    ),
                    "zip_nested_unsupported",
                    format=compressed,
                    path=info.filename[:100],
                )
            if not _is_zip_head(head):
                return
            if depth + 1 > ZIP_MAX_NESTING:
                raise _zip_error(
                    _("The ZIP file contains archives inside archives more than %(limit)s levels deep"),
                    "zip_nested_too_deep",
                    limit=ZIP_MAX_NESTING,
                )
            with tempfile.SpooledTemporaryFile(max_size=NESTED_IN_MEMORY_BYTES) as copy:
                copy.write(head)
                while chunk := member.read(CHUNK_BYTES):
                    copy.write(chunk)  # bounded: zipfile stops at the entry's declared size
                _check_zip(copy, detected_type=None, budget=budget, depth=depth + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        # NotImplementedError: a compression method zipfile cannot read, so cannot check.
        raise _zip_damaged() from error


# --- PDF ---


def _pdf_name_pattern(name: str) -> bytes:
    # PDF names may spell any character as #xx, e.g. /J#61vaScript is /JavaScript.
    pieces = []
    for char in name:
        hex_digits = f"{ord(char):02X}"
        hex_pattern = "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in hex_digits)
        pieces.append(f"(?:{re.escape(char)}|#{hex_pattern})")
    return "".join(pieces).encode()


_PDF_DELIMITER = rb"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%]|\Z)"
_PDF_FORBIDDEN_RE = re.compile(
    rb"/("
    + b"|".join(_pdf_name_pattern(n) for n in sorted(PDF_FORBIDDEN, key=len, reverse=True))
    + rb")"
    + _PDF_DELIMITER
)
_PDF_OBJSTM_RE = re.compile(rb"/" + _pdf_name_pattern("ObjStm") + _PDF_DELIMITER)
# Found with a literal search (a combined pattern without a literal prefix runs ~70x slower);
# each hit is then told apart: "endstream", the start of stream data, or neither.
_PDF_STREAM_WORD_RE = re.compile(rb"stream")
# Short enough to occur by chance in compressed data (a 200 MB stream of random bytes holds
# "/JS" plus a delimiter about 0.8 times), so it is looked for outside stream data only. The
# longer names are looked for everywhere; a JavaScript action needs /S /JavaScript anyway.
PDF_SHORT_NAMES = frozenset({"JS"})
_PDF_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def _pdf_canonical(raw_name: bytes) -> str:
    return _PDF_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw_name).decode("latin-1")


@dataclass
class _PdfFindings:
    names: set[str] = field(default_factory=set)
    undecodable_object_streams: int = 0
    decompressed: int = 0


def _pdf_inflate(file: IO[bytes], start: int, findings: _PdfFindings) -> None:
    """Decompress one FlateDecode object stream (bounded) and look inside it for forbidden names."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # zlib-wrapped as the spec says, or raw deflate
        decompressor = zlib.decompressobj(wbits)
        carried = b""
        produced = 0
        try:
            for chunk in _chunks(file, start, 64 * 1024):
                pending = chunk
                while pending and not decompressor.eof:
                    out = decompressor.decompress(pending, CHUNK_BYTES)
                    pending = decompressor.unconsumed_tail
                    produced += len(out)
                    findings.decompressed += len(out)
                    if produced > PDF_STREAM_DECOMPRESSED_MAX or findings.decompressed > PDF_TOTAL_DECOMPRESSED_MAX:
                        raise _pdf_uncheckable()
                    window = carried + out
                    final = decompressor.eof
                    findings.names.update(
                        _pdf_canonical(m.group(1))
                        for m in _PDF_FORBIDDEN_RE.finditer(window)
                        if final or m.end() < len(window)  # else the name may continue in the next piece
                    )
                    carried = window[-PDF_MATCH_MARGIN:]
                if decompressor.eof:
                    return
        except zlib.error:
            continue
    findings.undecodable_object_streams += 1


def _pdf_uncheckable() -> ValidationError:
    return ValidationError(
        _(
            "The PDF is encrypted or compressed in a way that cannot be checked for scripts. "
            "Save or print it as a new PDF without a password and upload that"
        ),
        code="pdf_uncheckable",
    )


def _pdf_events(window: bytes, accept: Callable[[int], bool]) -> list[tuple[int, str, int]]:
    """Forbidden names, stream data starts and "endstream" in a window, in order of position:
    (offset, kind, offset of the name or of the stream data)."""
    events = [(m.start(), "name", m.start()) for m in _PDF_FORBIDDEN_RE.finditer(window) if accept(m.start())]
    for match in _PDF_STREAM_WORD_RE.finditer(window):
        at = match.start()
        if not accept(at):
            continue
        if at >= 3 and window[at - 3 : at] == b"end":
            events.append((at, "end", at))
        elif not window[at - 1 : at].isalpha():
            eol = window[match.end() : match.end() + 2]
            if eol == b"\r\n" or eol[:1] == b"\n":  # the keyword ends its line; data starts after it
                events.append((at, "stream", match.end() + (2 if eol == b"\r\n" else 1)))
    events.sort()
    return events


def _check_pdf(file: IO[bytes]) -> None:
    """Scan the raw bytes, and the decompressed object streams, for forbidden names."""
    findings = _PdfFindings()
    position = 0  # file offset of window[0]
    done_upto = 0  # matches starting before this file offset were handled in the previous window
    in_stream = False
    window = b""
    while True:
        file.seek(position + len(window))
        chunk = file.read(CHUNK_BYTES)
        last = not chunk
        window += chunk
        limit = len(window) if last else len(window) - PDF_MATCH_MARGIN

        def accept(at: int, position: int = position, limit: int = limit, done_upto: int = done_upto) -> bool:
            return position + at >= done_upto and at < limit

        for at, kind, data_at in _pdf_events(window, accept):
            if kind == "name":
                name = _pdf_canonical(_PDF_FORBIDDEN_RE.match(window, data_at).group(1))  # type: ignore[union-attr]
                if not (in_stream and name in PDF_SHORT_NAMES):
                    findings.names.add(name)
            elif kind == "end":
                in_stream = False
            elif not in_stream:
                in_stream = True
                dictionary = window[max(0, at - PDF_OVERLAP + PDF_MATCH_MARGIN) : at]
                object_start = dictionary.rfind(b"obj")
                # Without "obj" nearby the dictionary is unusually long: decompress to be safe.
                if object_start < 0 or _PDF_OBJSTM_RE.search(dictionary[object_start:]):
                    _pdf_inflate(file, position + data_at, findings)
        if last:
            break
        done_upto = position + limit
        keep = min(len(window), PDF_OVERLAP)
        position += len(window) - keep
        window = window[-keep:]
    codes = [PDF_FORBIDDEN[name] for name in PDF_FORBIDDEN if name in findings.names]
    messages = {
        "pdf_javascript": _(
            "The PDF contains JavaScript, which is not allowed. Print it to a new PDF without scripts and upload that"
        ),
        "pdf_launch": _("The PDF contains an action that starts another program, which is not allowed"),
        "pdf_embedded_file": _(
            "The PDF contains attached files, which are not allowed. Upload each attachment as a separate file"
        ),
        "pdf_rich_media": _("The PDF contains embedded media or Flash content, which is not allowed"),
    }
    if codes:
        raise ValidationError(messages[codes[0]], code=codes[0])
    if findings.undecodable_object_streams:
        raise _pdf_uncheckable()


# --- the whole check ---


def _detect_type(file: IO[bytes], head: bytes, extension: str, budget: _ZipBudget) -> str:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if _is_zip_head(head):
        with _open_zip(file, budget) as archive:
            return _classify_zip(archive.namelist())
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ValidationError(
            _("The file is in an older Office format (.doc or .xls). Save it as .docx or .xlsx and upload that"),
            code="legacy_office",
        )
    kind = _text_kind(file, head)
    if kind == "text":
        return "csv" if extension == "csv" else "txt"
    if kind in ("utf16", "not_utf8") and extension in ("csv", "txt"):
        raise ValidationError(
            _("The file's text is not UTF-8. Save it as UTF-8 (in Excel: 'CSV UTF-8') and upload it again"),
            code="not_utf8",
        )
    raise ValidationError(
        _(
            "The file's contents are not a PDF, Word document, Excel spreadsheet, CSV, text, PNG, JPEG or ZIP "
            "file. It may be damaged, or of a type that cannot be uploaded"
        ),
        code="unknown_type",
    )


def inspect_upload(uploaded_file: UploadedFile) -> InspectedFile:
    """Check an uploaded file before it is stored; raise ValidationError saying what is wrong."""
    size = uploaded_file.size or 0
    if size == 0:
        raise ValidationError(_("The selected file is empty"), code="empty")
    if size > settings.EVIDENCE_MAX_FILE_BYTES:
        raise too_large_error()
    raw_name = uploaded_file.name or ""
    original_name = _strip_invisible(raw_name)[:MAX_NAME_LENGTH] or "upload"
    safe_name = sanitize_filename(raw_name)
    extension = _check_name(safe_name)

    file: IO[bytes] = uploaded_file  # type: ignore[assignment]  # a Django File proxies the file's methods
    file.seek(0)
    head = file.read(4096)
    budget = _ZipBudget(settings.EVIDENCE_ZIP_MAX_ENTRIES, settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES)
    detected_type = _detect_type(file, head, extension, budget)
    if extension not in EXTENSIONS_BY_TYPE[detected_type]:
        raise ValidationError(
            _("The file's contents are %(found)s but its name ends in .%(extension)s"),
            code="type_mismatch",
            params={"found": TYPE_LABELS[detected_type], "extension": extension},
        )
    if detected_type in ("zip", "docx", "xlsx"):
        _check_zip(file, detected_type=detected_type, budget=budget)
    elif detected_type == "pdf":
        _check_pdf(file)
    elif detected_type == "csv":
        _check_csv(file)

    sha256 = getattr(uploaded_file, "sha256", "") or _sha256_of(file)
    file.seek(0)
    return InspectedFile(
        original_name=original_name,
        safe_name=safe_name,
        extension=extension,
        detected_type=detected_type,
        sha256=sha256,
        size=size,
    )


# --- storing ------------------------------------------------------------------------------------

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def storage_name_for(sha256: str, extension: str) -> str:
    """A new, unguessable storage path such as evidence/ab/cd/<uuid4>.pdf; never the user's name."""
    if not _SHA256_RE.match(sha256):
        raise ValueError("sha256 must be 64 lowercase hexadecimal characters")
    if extension not in ALLOWED_EXTENSIONS:
        raise ValueError(f"extension {extension!r} is not allowed")
    return f"evidence/{sha256[:2]}/{sha256[2:4]}/{uuid.uuid4().hex}.{extension}"


def store_upload(uploaded_file: UploadedFile, inspected: InspectedFile) -> str:
    """Write an inspected file to evidence storage under a generated name; return that name.

    Storage never overwrites: FileSystemStorage creates the file exclusively, and the S3
    backend is configured with file_overwrite=False. The file stays quarantined until scanned.
    """
    storage = storages[STORAGE_ALIAS]
    name = storage_name_for(inspected.sha256, inspected.extension)
    uploaded_file.seek(0)
    # On a (uuid4) collision the storage picks another free name rather than overwrite; the
    # name it returns is the one to record.
    return storage.save(name, uploaded_file)


def open_stored(storage_name: str) -> File:
    """Open a stored evidence file for reading (the caller checks permission and scan status)."""
    return storages[STORAGE_ALIAS].open(storage_name, "rb")
