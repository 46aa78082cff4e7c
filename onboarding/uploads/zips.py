"""ZIP inspection (also DOCX and XLSX, which are ZIP containers): bombs, unsafe paths, links,
encryption, programs, macros and archives nested too deep are refused."""

import itertools
import re
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from onboarding.uploads.names import EXECUTABLE_EXTENSIONS, name_parts, strip_invisible
from onboarding.uploads.streaming import CHUNK_BYTES, format_limit

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


@dataclass
class ZipBudget:
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


def open_zip(file: IO[bytes], budget: ZipBudget) -> zipfile.ZipFile:
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


def _too_many_entries(budget: ZipBudget) -> ValidationError:
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


def is_zip_head(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def classify_zip(names: list[str]) -> str:
    if "[Content_Types].xml" in names:
        if any(name.startswith("word/") for name in names):
            return "docx"
        if any(name.startswith("xl/") for name in names):
            return "xlsx"
    return "zip"


def check_zip(file: IO[bytes], *, detected_type: str | None, budget: ZipBudget, depth: int = 0) -> None:
    """Refuse archives that are bombs, escape the folder they are extracted into, hide
    programs, cannot be read, or nest too deeply. Works from the central directory; nested
    archives are opened (within the shared budget) because their contents are what matters."""
    archive = open_zip(file, budget)
    with archive:
        infos = archive.infolist()
        detected_type = detected_type or classify_zip([info.filename for info in infos])
        budget.entries += len(infos)
        if budget.entries > budget.max_entries:
            raise _too_many_entries(budget)
        for info in infos:
            name = info.filename
            if _unsafe_entry_name(name):
                raise _zip_error(
                    _("The ZIP file contains an item with an unsafe path (%(path)s)"),
                    "zip_path_traversal",
                    path=strip_invisible(name)[:100],
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
                    limit=format_limit(budget.max_uncompressed),
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
            extension, _inner = name_parts(name.rsplit("/", 1)[-1])
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


def _check_nested(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, budget: ZipBudget, depth: int) -> None:
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
            if not is_zip_head(head):
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
                check_zip(copy, detected_type=None, budget=budget, depth=depth + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        # NotImplementedError: a compression method zipfile cannot read, so cannot check.
        raise _zip_damaged() from error
