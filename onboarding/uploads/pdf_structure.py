"""PDF structure inspection with pikepdf (qpdf): every object is parsed, every object stream is
decompressed (within limits), and every dictionary is checked for what makes a reader run code,
start programs, play media, fill an XFA form or carry files.

The byte scan (`pdf_bytes`) cannot see inside encrypted streams or streams compressed with
filters other than Flate, nor tell a name used as an action type from the same word elsewhere;
the structure can.
"""

import functools
from collections.abc import Iterator
from typing import IO

import pikepdf
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from onboarding.uploads.pdf_bytes import (
    PDF_FORBIDDEN,
    PDF_FORBIDDEN_RE,
    PDF_STREAM_DECOMPRESSED_MAX,
    pdf_canonical,
    pdf_uncheckable,
)

# Keys whose presence is enough: a script, attached files, rich media, an XFA form.
FORBIDDEN_KEYS = {
    "/JS": "pdf_javascript",
    "/JavaScript": "pdf_javascript",
    "/EmbeddedFiles": "pdf_embedded_file",
    "/EF": "pdf_embedded_file",
    "/RichMediaContent": "pdf_rich_media",
    "/RichMediaSettings": "pdf_rich_media",
    "/XFA": "pdf_xfa",
}
# (key, name value) pairs: action types, and the types of objects that are files or media.
FORBIDDEN_VALUES = {
    ("/S", "/JavaScript"): "pdf_javascript",
    ("/S", "/Launch"): "pdf_launch",
    ("/S", "/GoToE"): "pdf_embedded_file",
    ("/S", "/RichMediaExecute"): "pdf_rich_media",
    ("/Type", "/EmbeddedFile"): "pdf_embedded_file",
    ("/Subtype", "/FileAttachment"): "pdf_embedded_file",
    ("/Subtype", "/RichMedia"): "pdf_rich_media",
}
_CONTAINERS = (pikepdf.ObjectType.dictionary, pikepdf.ObjectType.array, pikepdf.ObjectType.stream)


def pdf_encrypted() -> ValidationError:
    return ValidationError(
        _(
            "The PDF is protected with a password, so it cannot be checked for scripts. "
            "Remove the password (save or print it as a new PDF) and upload that"
        ),
        code="pdf_encrypted",
    )


@functools.cache
def _limit_decoding() -> None:
    # qpdf decodes a stream in memory; these limits make a decompression bomb an error rather
    # than gigabytes. They are process-wide, and only this module uses pikepdf.
    pikepdf.settings.set_qpdf_limits(
        flate_max_memory=PDF_STREAM_DECOMPRESSED_MAX,
        run_length_max_memory=PDF_STREAM_DECOMPRESSED_MAX,
        png_max_memory=PDF_STREAM_DECOMPRESSED_MAX,
        tiff_max_memory=PDF_STREAM_DECOMPRESSED_MAX,
    )


def structure_findings(source: str | IO[bytes]) -> set[str] | None:
    """The refusal codes the PDF's structure calls for; None when qpdf cannot open the file at
    all (then only the byte scan speaks for it). A password-protected PDF is refused here."""
    _limit_decoding()
    try:
        # Stream access rather than mmap: pages of a mapped file would count as this process's memory.
        pdf = pikepdf.open(source, access_mode=pikepdf.AccessMode.stream)
    except pikepdf.PasswordError as error:
        raise pdf_encrypted() from error
    except (pikepdf.PdfError, ValueError, OSError):
        return None
    findings: set[str] = set()
    with pdf:
        try:
            # Object streams first, each checked before qpdf resolves the objects inside it.
            checked: set[int] = set()
            for entry in pdf.get_xref_table().values():
                if entry.type == 2 and entry.obj_stream_number not in checked:
                    checked.add(entry.obj_stream_number)
                    findings |= _object_stream_findings(pdf.get_object(entry.obj_stream_number, 0))
            for obj in pdf.objects:
                if obj is None:
                    continue
                if _is_object_stream(obj) and obj.objgen[0] not in checked:
                    # Not referenced from the cross-reference table (a damaged file rebuilt by
                    # qpdf): qpdf leaves its objects unparsed, but another reader may not.
                    checked.add(obj.objgen[0])
                    findings |= _object_stream_findings(obj)
                findings.update(_object_findings(obj))
        except (pikepdf.PdfError, RuntimeError) as error:
            raise pdf_uncheckable() from error
    return findings


def _is_object_stream(obj: pikepdf.Object) -> bool:
    return obj._type_code == pikepdf.ObjectType.stream and obj.get("/Type") == pikepdf.Name.ObjStm


def _object_stream_findings(stream: pikepdf.Object) -> set[str]:
    if stream._type_code != pikepdf.ObjectType.stream:
        raise pdf_uncheckable()
    filters = stream.get("/Filter")
    names = [filters] if filters is None or filters._type_code == pikepdf.ObjectType.name_ else list(filters)
    # Writers compress object streams with Flate; qpdf bounds Flate's output, not LZW's.
    if any(name is not None and name != pikepdf.Name.FlateDecode for name in names):
        raise pdf_uncheckable()
    data = stream.read_bytes()  # bounded by flate_max_memory: a bomb raises instead
    # Object syntax throughout, so the short names count here too.
    return {PDF_FORBIDDEN[pdf_canonical(match.group(1))] for match in PDF_FORBIDDEN_RE.finditer(data)}


def _object_findings(obj: pikepdf.Object) -> Iterator[str]:
    """Codes for one indirect object and the direct objects inside it; indirect objects it
    refers to are visited on their own."""
    pending = [obj]
    while pending:
        item = pending.pop()
        if item._type_code == pikepdf.ObjectType.array:
            pending.extend(value for value in item if _is_direct_container(value))
            continue
        for key, value in item.items():
            if key in FORBIDDEN_KEYS:
                yield FORBIDDEN_KEYS[key]
            if isinstance(value, pikepdf.Object) and value._type_code == pikepdf.ObjectType.name_:
                code = FORBIDDEN_VALUES.get((key, str(value)))
                if code:
                    yield code
            elif _is_direct_container(value):
                pending.append(value)


def _is_direct_container(value: object) -> bool:
    return isinstance(value, pikepdf.Object) and value._type_code in _CONTAINERS and not value.is_indirect
