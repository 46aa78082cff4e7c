"""PDF byte scan: names that make a reader run code, start programs or carry hidden files, found in
the raw bytes and inside Flate-compressed object streams, without parsing the file. It works on
files too damaged for a PDF library to open, and finds names a reader could reach by repairing
a file differently."""

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from onboarding.uploads.detection import chunks
from onboarding.uploads.streaming import CHUNK_BYTES

# PDF: names that make a reader run code, start programs or carry hidden files.
PDF_FORBIDDEN = {
    "JavaScript": "pdf_javascript",
    "JS": "pdf_javascript",
    "Launch": "pdf_launch",
    "EmbeddedFile": "pdf_embedded_file",
    "EmbeddedFiles": "pdf_embedded_file",
    "RichMedia": "pdf_rich_media",
    "XFA": "pdf_xfa",
}
PDF_OVERLAP = 8192  # bytes carried between chunks: covers an object's dictionary before "stream"
PDF_MATCH_MARGIN = 256
# Reads while jumping over stream data: a dictionary is rarely more than a few KiB, so each read
# takes in little of the data that follows it.
PDF_SKIM_BYTES = 64 * 1024
PDF_STREAM_DECOMPRESSED_MAX = 64 * 1024 * 1024
PDF_TOTAL_DECOMPRESSED_MAX = 256 * 1024 * 1024


def _pdf_name_pattern(name: str) -> bytes:
    # PDF names may spell any character as #xx, e.g. /J#61vaScript is /JavaScript.
    pieces = []
    for char in name:
        hex_digits = f"{ord(char):02X}"
        hex_pattern = "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in hex_digits)
        pieces.append(f"(?:{re.escape(char)}|#{hex_pattern})")
    return "".join(pieces).encode()


_PDF_DELIMITER = rb"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%]|\Z)"
PDF_FORBIDDEN_RE = re.compile(
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
PDF_SHORT_NAMES = frozenset({"JS", "XFA"})
# "/Length 1234" but not "/Length 12 0 R" (an indirect length, not known without parsing) nor
# "/Length1" (a font program's own lengths).
_PDF_DIRECT_LENGTH_RE = re.compile(
    rb"/Length[\x00\t\n\x0c\r ]+(\d{1,15})(?![\d.]|[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+R)"
)
_PDF_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def pdf_canonical(raw_name: bytes) -> str:
    return _PDF_HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw_name).decode("latin-1")


@dataclass
class PdfFindings:
    names: set[str] = field(default_factory=set)
    undecodable_object_streams: int = 0
    decompressed: int = 0
    bytes_read: int = 0

    @property
    def codes(self) -> set[str]:
        return {PDF_FORBIDDEN[name] for name in self.names}


def _pdf_inflate(file: IO[bytes], start: int, findings: PdfFindings) -> None:
    """Decompress one FlateDecode object stream (bounded) and look inside it for forbidden names."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # zlib-wrapped as the spec says, or raw deflate
        decompressor = zlib.decompressobj(wbits)
        carried = b""
        produced = 0
        try:
            for chunk in chunks(file, start, 64 * 1024):
                pending = chunk
                while pending and not decompressor.eof:
                    out = decompressor.decompress(pending, CHUNK_BYTES)
                    pending = decompressor.unconsumed_tail
                    produced += len(out)
                    findings.decompressed += len(out)
                    if produced > PDF_STREAM_DECOMPRESSED_MAX or findings.decompressed > PDF_TOTAL_DECOMPRESSED_MAX:
                        raise pdf_uncheckable()
                    window = carried + out
                    final = decompressor.eof
                    findings.names.update(
                        pdf_canonical(m.group(1))
                        for m in PDF_FORBIDDEN_RE.finditer(window)
                        if final or m.end() < len(window)  # else the name may continue in the next piece
                    )
                    carried = window[-PDF_MATCH_MARGIN:]
                if decompressor.eof:
                    return
        except zlib.error:
            continue
    findings.undecodable_object_streams += 1


def pdf_uncheckable() -> ValidationError:
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
    events = [(m.start(), "name", m.start()) for m in PDF_FORBIDDEN_RE.finditer(window) if accept(m.start())]
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


def _stream_end(file: IO[bytes], data_at: int, dictionary: bytes, findings: PdfFindings) -> int | None:
    """Where a stream's data ends, when its dictionary gives a direct /Length and "endstream"
    follows exactly there; None otherwise (the data is then scanned like everything else)."""
    lengths = set(_PDF_DIRECT_LENGTH_RE.findall(dictionary))
    if len(lengths) != 1:
        return None
    end = data_at + int(lengths.pop())
    file.seek(end)
    after = file.read(16)
    findings.bytes_read += len(after)
    return end if after.lstrip(b"\r\n \t\x0c\x00").startswith(b"endstream") else None


def scan_pdf_bytes(file: IO[bytes], *, skip_stream_data: bool = False) -> PdfFindings:
    """Scan the raw bytes for forbidden names. Either look inside stream data too and decompress
    the object streams, or, once qpdf has parsed the file, jump over the data of each stream
    whose length checks out: qpdf has decoded its object streams, and a name inside image or
    page data does nothing. Only the dictionaries, the cross-reference sections and whatever
    sits between objects are then read, a few kilobytes of a large scan."""
    findings = PdfFindings()
    position = 0  # file offset of window[0]
    done_upto = 0  # matches starting before this file offset were handled in the previous window
    in_stream = False
    window = b""
    while True:
        file.seek(position + len(window))
        chunk = file.read(PDF_SKIM_BYTES if skip_stream_data else CHUNK_BYTES)
        findings.bytes_read += len(chunk)
        last = not chunk
        window += chunk
        limit = len(window) if last else len(window) - PDF_MATCH_MARGIN

        def accept(at: int, position: int = position, limit: int = limit, done_upto: int = done_upto) -> bool:
            return position + at >= done_upto and at < limit

        skip_to = None
        for at, kind, data_at in _pdf_events(window, accept):
            if kind == "name":
                name = pdf_canonical(PDF_FORBIDDEN_RE.match(window, data_at).group(1))  # type: ignore[union-attr]
                if not (in_stream and name in PDF_SHORT_NAMES):
                    findings.names.add(name)
            elif kind == "end":
                in_stream = False
            elif not in_stream:
                in_stream = True
                dictionary = window[max(0, at - PDF_OVERLAP + PDF_MATCH_MARGIN) : at]
                object_start = dictionary.rfind(b"obj")
                if skip_stream_data:
                    skip_to = _stream_end(file, position + data_at, dictionary[max(object_start, 0) :], findings)
                    if skip_to is not None:
                        break  # later events in this window lie inside the skipped data
                # Without "obj" nearby the dictionary is unusually long: decompress to be safe.
                elif object_start < 0 or _PDF_OBJSTM_RE.search(dictionary[object_start:]):
                    _pdf_inflate(file, position + data_at, findings)
        if skip_to is not None:
            # Carry on from the end of the stream data: within this window when it got that far,
            # so that every byte is read once however many streams there are.
            window = window[skip_to - position :] if skip_to <= position + len(window) else b""
            position = done_upto = skip_to
            in_stream = False
            continue
        if last:
            break
        done_upto = position + limit
        keep = min(len(window), PDF_OVERLAP)
        position += len(window) - keep
        window = window[-keep:]
    return findings
