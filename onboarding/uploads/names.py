"""File names: what a user's file name may say, and the harmless version of it that is shown."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# detected type -> extensions a file of that type may carry
EXTENSIONS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "xlsx": ("xlsx",),
    "csv": ("csv",),
    "txt": ("txt",),
    "json": ("json", "ndjson"),
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
    "json": "JSON text",
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


def strip_invisible(text: str) -> str:
    # Control and format characters (NUL, newlines, right-to-left overrides, zero-width joiners)
    # can disguise a name, e.g. "invoice\u202efdp.exe" displays as "invoiceexe.pdf".
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def sanitize_filename(name: str) -> str:
    """A readable, harmless version of a user's file name for display and downloads; never a path."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = strip_invisible(name)
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


def name_parts(safe_name: str) -> tuple[str, list[str]]:
    """The final extension and the inner ones ("a.tar.gz" -> ("gz", ["tar"]))."""
    parts = [part.strip().lower() for part in safe_name.split(".")]
    if len(parts) < 2:
        return "", []
    return parts[-1], parts[1:-1]


def check_name(safe_name: str) -> str:
    extension, inner = name_parts(safe_name)
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
                "The file must be a PDF, Word document (.docx), Excel spreadsheet (.xlsx), CSV, text, JSON, "
                "PNG, JPEG or ZIP file, not .%(extension)s"
            ),
            code="extension_not_allowed",
            params={"extension": extension},
        )
    return extension
