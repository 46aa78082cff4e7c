"""The whole check of an uploaded file before it is stored."""

from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from onboarding.uploads.detection import check_csv, check_json, detect_type, sha256_of
from onboarding.uploads.names import (
    EXTENSIONS_BY_TYPE,
    MAX_NAME_LENGTH,
    TYPE_LABELS,
    check_name,
    sanitize_filename,
    strip_invisible,
)
from onboarding.uploads.pdfs import check_pdf
from onboarding.uploads.streaming import too_large_error
from onboarding.uploads.zips import ZipBudget, check_zip


@dataclass(frozen=True)
class InspectedFile:
    """What inspect_upload learned about an accepted file."""

    original_name: str
    safe_name: str
    extension: str
    detected_type: str
    sha256: str
    size: int


def inspect_upload(uploaded_file: UploadedFile) -> InspectedFile:
    """Check an uploaded file before it is stored; raise ValidationError saying what is wrong."""
    size = uploaded_file.size or 0
    if size == 0:
        raise ValidationError(_("The selected file is empty"), code="empty")
    if size > settings.EVIDENCE_MAX_FILE_BYTES:
        raise too_large_error()
    raw_name = uploaded_file.name or ""
    original_name = strip_invisible(raw_name)[:MAX_NAME_LENGTH] or "upload"
    safe_name = sanitize_filename(raw_name)
    extension = check_name(safe_name)

    file: IO[bytes] = uploaded_file  # type: ignore[assignment]  # a Django File proxies the file's methods
    file.seek(0)
    head = file.read(4096)
    budget = ZipBudget(settings.EVIDENCE_ZIP_MAX_ENTRIES, settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES)
    detected_type = detect_type(file, head, extension, budget)
    if extension not in EXTENSIONS_BY_TYPE[detected_type]:
        raise ValidationError(
            _("The file's contents are %(found)s but its name ends in .%(extension)s"),
            code="type_mismatch",
            params={"found": TYPE_LABELS[detected_type], "extension": extension},
        )
    if detected_type in ("zip", "docx", "xlsx"):
        check_zip(file, detected_type=detected_type, budget=budget)
    elif detected_type == "pdf":
        check_pdf(file, getattr(uploaded_file, "temporary_file_path", lambda: None)())
    elif detected_type == "csv":
        check_csv(file)
    elif detected_type == "json":
        check_json(file, extension)

    sha256 = getattr(uploaded_file, "sha256", "") or sha256_of(file)
    file.seek(0)
    return InspectedFile(
        original_name=original_name,
        safe_name=safe_name,
        extension=extension,
        detected_type=detected_type,
        sha256=sha256,
        size=size,
    )
