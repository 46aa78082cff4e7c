"""The upload handler's multipart reader (onboarding.uploads.multipart) against Django's own parser:
the same bodies give the same fields and files, the same limits and the same refusals."""

import hashlib
import io

import pytest
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.encoding import force_str

from onboarding.uploads import HashingUploadHandler
from onboarding.uploads.multipart import FormReader, sanitize_file_name

BOUNDARY = "----nir-reader-boundary"


class Trickle(io.RawIOBase):
    """A body that gives at most `step` bytes per read, so that boundaries and headers fall across
    reads, and counts what was read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step
        self.position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        out = self._data[self.position : self.position + size]
        self.position += len(out)
        return out


def part(name: str, value: bytes, *, filename: str | None = None, headers: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{headers}"
    if filename is not None and "Content-Type" not in headers:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def meta(data: bytes) -> dict[str, str]:
    return {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(len(data))}


def ours(data: bytes, step: int = 7):
    handler = HashingUploadHandler()
    return MultiPartParser(meta(data), Trickle(data, step), [handler]).parse(), handler


def djangos(data: bytes):
    return MultiPartParser(meta(data), io.BytesIO(data), [TemporaryFileUploadHandler()]).parse()


def summary(post, files) -> tuple[dict, dict]:
    return (
        {key: post.getlist(key) for key in post},
        # Django gives a part's charset as bytes, the reader as str (as UploadedFile documents).
        {key: [(f.name, f.content_type, force_str(f.charset), f.read()) for f in files.getlist(key)] for key in files},
    )


FILE = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n" + b"\r" * 3


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(body(part("title", b"Pen test"), part("files", FILE, filename="report.pdf")), id="field and file"),
        pytest.param(
            body(
                part("files", b"first", filename="a.txt"),
                part("note", "caf\u00e9".encode()),
                part("files", b"second", filename="b.txt", headers="Content-Type: text/plain; charset=utf-8\r\n"),
            ),
            id="two files in one field",
        ),
        pytest.param(body(part("files", b"", filename="empty.txt")), id="empty file"),
        pytest.param(body(part("files", b"ignored", filename="")), id="file part without a name is skipped"),
        pytest.param(body(part("", b"nameless"), part("title", b"kept")), id="field with an empty name"),
        pytest.param(
            body(f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nskipped\r\n".encode(), part("t", b"kept")),
            id="part without a name is skipped",
        ),
        pytest.param(body(f"--{BOUNDARY}\r\nX-Other: 1\r\n\r\nskipped\r\n".encode()), id="not a form part"),
        pytest.param(
            body(part("files", b"x", filename="C:\\Users\\me\\..\\secret&amp;.txt")),
            id="path and entities in a file name",
        ),
        pytest.param(
            body(
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
                "\r\n\r\nhi\r\n".encode()
            ),
            id="RFC 2231 file name",
        ),
        pytest.param(body(part("title", b"a\r\nb"), part("title", b"second")), id="repeated field, CRLF in value"),
        pytest.param(body(part("title", b"x")) + b"epilogue", id="epilogue"),
    ],
)
@pytest.mark.parametrize("step", [1, 7, 64 * 1024])
def test_the_reader_gives_what_djangos_parser_gives(settings, tmp_path, data, step):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    (post, files), handler = ours(data, step)

    assert summary(post, files) == summary(*djangos(data))
    assert not handler.errors
    for received in files.getlist("files"):
        received.seek(0)
        assert received.sha256 == hashlib.sha256(received.read()).hexdigest()


def test_a_file_split_into_single_bytes_is_hashed_and_stored_whole(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    content = b"--" + BOUNDARY.encode()[:-1] + b"\r\n" + FILE  # almost a boundary, inside the file
    (_post, files), _handler = ours(body(part("files", content, filename="a.bin")), step=1)

    received = files["files"]
    assert received.read() == content
    assert (received.size, received.sha256) == (len(content), hashlib.sha256(content).hexdigest())


def test_too_many_fields_are_refused_as_django_refuses_them(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    data = body(*(part(f"f{n}", b"v") for n in range(4)))
    with pytest.raises(TooManyFieldsSent):
        djangos(data)
    with pytest.raises(TooManyFieldsSent):
        ours(data)
    allowed = body(*(part(f"f{n}", b"v") for n in range(3)))
    assert summary(*ours(allowed)[0]) == summary(*djangos(allowed))


def test_too_many_files_are_refused_and_none_is_left_on_disk(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    data = body(*(part("files", b"data", filename=f"{n}.txt") for n in range(3)))
    with pytest.raises(TooManyFilesSent):
        ours(data)
    assert list(tmp_path.iterdir()) == []


def test_form_fields_larger_than_the_memory_limit_are_refused_without_being_held(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    just_fits = body(part("title", b"x" * 93))  # 93 + len("title") + 2 == 100
    assert summary(*ours(just_fits)[0]) == summary(*djangos(just_fits))
    too_big = body(part("title", b"x" * 94))
    with pytest.raises(RequestDataTooBig):
        djangos(too_big)
    with pytest.raises(RequestDataTooBig):
        ours(too_big)
    # A huge field is refused as soon as it passes the limit, not after it has been read.
    stream = Trickle(body(part("title", b"x" * 10_000_000)), 64 * 1024)
    with pytest.raises(RequestDataTooBig):
        MultiPartParser(meta(b"x" * 10_000_100), stream, [HashingUploadHandler()]).parse()
    assert stream.position <= 64 * 1024


def test_a_body_that_ends_inside_a_file_leaves_no_file(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    whole = body(part("title", b"kept"), part("files", FILE, filename="cut.pdf"))
    cut = whole[: whole.index(FILE) + 100]

    (post, files), _handler = ours(cut)

    assert post["title"] == "kept"
    assert not files
    assert list(tmp_path.iterdir()) == []
    assert summary(post, files) == summary(*djangos(cut))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=x\r\n".encode() + b"H" * 20_000 + b"\r\n\r\nv",
            id="header line too long",
        ),
        pytest.param(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=x\r\n".encode() + b"X-A: b\r\n" * 40 + b"\r\nv",
            id="too many headers",
        ),
        pytest.param(f"--{BOUNDARY}\r\nno colon here\r\n\r\nvalue".encode(), id="header without a colon"),
        pytest.param(b"preamble\r\n" + body(part("title", b"x")), id="preamble"),
    ],
)
def test_a_malformed_body_is_refused_as_a_bad_request(settings, tmp_path, data):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    with pytest.raises(MultiPartParserError, match="could not be read"):
        ours(data)
    assert list(tmp_path.iterdir()) == []


def test_an_encoded_part_is_refused(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    data = body(part("files", b"aGVsbG8=", filename="a.txt", headers="Content-Transfer-Encoding: base64\r\n"))
    with pytest.raises(MultiPartParserError, match="base64"):
        ours(data)
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_from_the_handler_stops_reading_and_keeps_the_fields(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.EVIDENCE_MAX_FILE_BYTES = 1000
    data = body(part("csrfmiddlewaretoken", b"token"), part("files", b"x" * 50_000, filename="big.pdf"))
    stream = Trickle(data, 4096)
    handler = HashingUploadHandler()

    post, files = FormReader(handler, BOUNDARY.encode(), "utf-8").read(stream, 4096)

    assert post["csrfmiddlewaretoken"] == "token"
    assert not files
    assert [e.code for e in handler.errors] == ["too_large"]
    assert stream.position <= 1000 + 2 * 4096  # not read to the end
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\a\\b.txt", "b.txt"),
        ("a&amp;b.txt", "a&b.txt"),
        ("..", None),
        ("\x00", None),
    ],
)
def test_file_names_are_sanitised_as_django_sanitises_them(raw, safe):
    assert sanitize_file_name(raw) == safe == MultiPartParser.sanitize_file_name(None, raw)  # type: ignore[arg-type]
