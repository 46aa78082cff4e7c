"""PDF inspection: the byte scan (`pdf_bytes`) and the structure (`pdf_structure`, with pikepdf)
together decide; either finding active content refuses the file."""

from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from onboarding.uploads.pdf_bytes import pdf_uncheckable, scan_pdf_bytes
from onboarding.uploads.pdf_structure import structure_findings

# The order in which refusals are reported when a file has several.
CODES = ("pdf_javascript", "pdf_launch", "pdf_embedded_file", "pdf_rich_media", "pdf_xfa")


def _messages() -> dict[str, str]:
    return {
        "pdf_javascript": _(
            "The PDF contains JavaScript, which is not allowed. Print it to a new PDF without scripts and upload that"
        ),
        "pdf_launch": _("The PDF contains an action that starts another program, which is not allowed"),
        "pdf_embedded_file": _(
            "The PDF contains attached files, which are not allowed. Upload each attachment as a separate file"
        ),
        "pdf_rich_media": _("The PDF contains embedded media or Flash content, which is not allowed"),
        "pdf_xfa": _(
            "The PDF contains an XFA form, which can run scripts and is not allowed. "
            "Print it to a new PDF and upload that"
        ),
    }


def check_pdf(file: IO[bytes], path: str | None = None) -> None:
    """Refuse a PDF with active content, or one that cannot be checked for it. `path` (the
    temporary file's) lets pikepdf read the file itself rather than through Python."""
    structure = structure_findings(path or file)
    file.seek(0)
    scanned = scan_pdf_bytes(file, skip_stream_data=structure is not None)
    codes = scanned.codes | (structure or set())
    for code in CODES:
        if code in codes:
            raise ValidationError(_messages()[code], code=code)
    # An object stream the byte scan could not inflate was read by pikepdf, when it could open the file.
    if structure is None and scanned.undecodable_object_streams:
        raise pdf_uncheckable()
