"""The text of a PDF as a reader would copy it, read with pyHanko's PDF reader: each page's content
stream in drawing order, with every shown string mapped to Unicode through its font's ToUnicode
CMap (WeasyPrint embeds one for every font). Enough for the PDFs WeasyPrint writes; not a general
text extractor."""

import io
import re

from pyhanko.pdf_utils.reader import PdfFileReader

_TOKENS = re.compile(rb"<([0-9A-Fa-f\s]*)>|\((?:\\.|[^\\)])*\)|/([^\s/\[\]()<>]+)|(-?[\d.]+)|([A-Za-z'\"*]+)|\[|\]")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_BFRANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")


def _utf16(hex_text: bytes) -> str:
    return bytes.fromhex(hex_text.decode()).decode("utf-16-be", errors="replace")


def _cmap(stream: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for code, text in _BFCHAR.findall(block):
            mapping[int(code, 16)] = _utf16(text)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", stream, re.S):
        for start, end, first in _BFRANGE.findall(block):
            base = int(first, 16)
            for offset, code in enumerate(range(int(start, 16), int(end, 16) + 1)):
                mapping[code] = chr(base + offset)
    return mapping


def _deref(value):
    return value.get_object() if hasattr(value, "get_object") else value


def _fonts(resources) -> dict[str, dict[int, str]]:
    fonts = {}
    for name in _deref(resources["/Font"]) if "/Font" in resources else {}:
        font = _deref(_deref(resources["/Font"])[name])
        fonts[str(name).lstrip("/")] = _cmap(_deref(font["/ToUnicode"]).data) if "/ToUnicode" in font else {}
    return fonts


def _page_text(page) -> str:
    contents = _deref(page["/Contents"])
    data = b"".join(_deref(c).data for c in contents) if isinstance(contents, list) else contents.data
    return _stream_text(data, _deref(page["/Resources"]))


def _stream_text(data: bytes, resources) -> str:
    """The text a content stream shows, with that of the form XObjects it draws (`Do`), such as a
    page-number overlay laid over a page."""
    fonts = _fonts(resources)
    xobjects = _deref(resources["/XObject"]) if "/XObject" in resources else {}
    out: list[str] = []
    current: dict[int, str] = {}
    operands: list[bytes] = []
    for match in _TOKENS.finditer(data):
        hex_string, name, number, operator = match.group(1), match.group(2), match.group(3), match.group(4)
        if name is not None:
            operands.append(name)
        elif hex_string is not None:
            raw = bytes.fromhex(re.sub(rb"\s", b"", hex_string).decode())
            out.append("".join(current.get(int.from_bytes(raw[i : i + 2], "big"), "") for i in range(0, len(raw), 2)))
        elif operator is not None:
            if operator == b"Tf" and operands:
                current = fonts.get(operands[-1].decode(), {})
            elif operator == b"Do" and operands and "/" + operands[-1].decode() in xobjects:
                form = _deref(xobjects["/" + operands[-1].decode()])
                if form.get("/Subtype") == "/Form":
                    out.append(_stream_text(form.data, _deref(form.get("/Resources", resources))))
            elif operator in (b"BT", b"ET", b"Tm", b"Td", b"TD", b"T*"):
                out.append("\n")
            operands = []
        elif number is None:
            continue
    return "".join(out)


def pdf_text(pdf: bytes) -> str:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    pages = []
    pending = [reader.root["/Pages"]]
    while pending:
        node = _deref(pending.pop(0))
        if node["/Type"] == "/Pages":
            pending[0:0] = list(node["/Kids"])
        else:
            pages.append(_page_text(node))
    return "\f".join(pages)


def normalised(text: str) -> str:
    """Whitespace (line and page breaks among it) as single spaces."""
    return " ".join(text.split())
