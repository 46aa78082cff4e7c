"""Reading a multipart/form-data request body for an upload handler, with python-multipart.

Django's MultiPartParser hands a file part to the upload handler in pieces it has copied about
three times: joining what it read ahead to the next read, then slicing off the tail that might be
the start of the next boundary (once to test the rest for emptiness, once to return it).
python-multipart finds the boundaries in each read as it is, and says where a part's bytes start
and end in it; a file's bytes then go from the server's read buffer to the hash and the temporary
file as a view of that buffer, uncopied.

Everything else is what Django's parser does, so a view sees the same `request.POST` and
`request.FILES` and the same refusals:

- the part headers are read with Django's `parse_header_parameters`; a part without a
  Content-Disposition name is skipped, one with a non-empty filename is a file;
- DATA_UPLOAD_MAX_NUMBER_FIELDS, DATA_UPLOAD_MAX_MEMORY_SIZE (the form fields, counted as Django
  counts them) and DATA_UPLOAD_MAX_NUMBER_FILES raise Django's own exceptions, which Django
  answers with 400;
- file names are sanitised as Django sanitises them (and again when the file is inspected);
- the handler's `new_file`, `receive_data_chunk`, `file_complete`, `upload_interrupted` and
  `upload_complete` are called as Django calls them; StopUpload from the handler stops reading
  the body at once, keeping the fields read so far;
- a malformed body raises MultiPartParserError, as Django's parser does.

Two differences, neither of which a browser meets (HTML's form submission writes neither): a part
with a Content-Transfer-Encoding other than the identity ones is refused, and so is a body with a
preamble (text before the first boundary).
"""

import html
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import StopUpload
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile
    from python_multipart.multipart import MultipartCallbacks

# A part's headers (Content-Disposition, Content-Type) are a few hundred bytes from a browser.
MAX_HEADER_COUNT = 16
MAX_HEADER_BYTES = 8 * 1024
IDENTITY_TRANSFER_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})


class FileReceiver(Protocol):
    """The parts of Django's FileUploadHandler interface the reader calls."""

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None): ...
    def receive_data_chunk(self, raw_data, start: int) -> Any: ...
    def file_complete(self, file_size: int) -> Any: ...
    def upload_interrupted(self) -> None: ...
    def upload_complete(self) -> None: ...


def sanitize_file_name(file_name: str) -> str | None:
    """Django's MultiPartParser.sanitize_file_name: the last path component, unescaped, printable."""
    file_name = html.unescape(file_name)
    file_name = file_name.rsplit("/")[-1].rsplit("\\")[-1]
    file_name = "".join(char for char in file_name if char.isprintable())
    return None if file_name in {"", ".", ".."} else file_name


class _Part:
    """The part being read: its headers, then what kind it is and what it has collected."""

    __slots__ = ("field_name", "headers", "kind", "name_bytes", "size", "value", "value_bytes")

    def __init__(self) -> None:
        self.headers: dict[str, tuple[str, dict[str, str]]] = {}
        self.name_bytes = bytearray()
        self.value_bytes = bytearray()
        self.kind = "skip"  # "field", "file" or "skip"
        self.field_name = ""
        self.value = bytearray()
        self.size = 0


class FormReader:
    """Reads one request body, calling one upload handler for its files.

    `read(stream, chunk_size)` returns (POST, FILES) as Django's MultiPartParser.parse() does.
    """

    def __init__(self, handler: FileReceiver, boundary: bytes, encoding: str) -> None:
        self._handler = handler
        self._encoding = encoding
        self._post = QueryDict(mutable=True)
        self._files: MultiValueDict[str, UploadedFile] = MultiValueDict()
        self._part = _Part()
        self._fields = 0
        self._files_seen = 0
        self._field_bytes = 0
        self._file_open = False
        self._ended = False
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        self._parser = MultipartParser(
            boundary, callbacks, max_header_count=MAX_HEADER_COUNT, max_header_size=MAX_HEADER_BYTES
        )

    def read(self, stream, chunk_size: int) -> tuple[QueryDict, MultiValueDict]:
        try:
            try:
                while not self._ended and (data := stream.read(chunk_size)):
                    self._parser.write(data)
            except MultipartParseError as error:
                raise MultiPartParserError(f"The multipart form could not be read: {error}") from error
        except StopUpload:
            # As Django does: the handler's unfinished file is closed; what was read is kept.
            unfinished = getattr(self._handler, "file", None)
            if unfinished is not None:
                unfinished.close()
        except BaseException:
            self._close_files()
            if self._file_open:
                self._handler.upload_interrupted()
            raise
        else:
            if self._file_open:  # the body ended inside a file part
                self._handler.upload_interrupted()
            # As Django does, the rest of the body (after the closing boundary) is read and dropped.
            while stream.read(chunk_size):
                pass
        self._handler.upload_complete()
        self._post._mutable = False
        return self._post, self._files

    # --- the parser's callbacks ----------------------------------------------------------------

    def _part_begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.name_bytes += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.value_bytes += data[start:end]

    def _header_end(self) -> None:
        part = self._part
        try:
            name = part.name_bytes.decode().lower().rstrip(" ")
            value, params = parse_header_parameters(part.value_bytes.decode().lstrip(" "))
        except (ValueError, LookupError):  # an invalid header is ignored, as Django does
            pass
        else:
            part.headers[name] = (value, params)
        part.name_bytes.clear()
        part.value_bytes.clear()

    def _headers_finished(self) -> None:
        part = self._part
        disposition = part.headers.get("content-disposition")
        if disposition is None:
            return  # not a form field at all: skipped, as Django skips it
        self._fields += 1
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        if limit is not None and self._fields > limit:
            raise TooManyFieldsSent(
                "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
            )
        if "name" not in disposition[1]:
            return
        field_name = disposition[1]["name"].strip()
        encoding = part.headers.get("content-transfer-encoding", ("", {}))[0].strip().lower()
        if encoding not in IDENTITY_TRANSFER_ENCODINGS:
            raise MultiPartParserError(f"Content-Transfer-Encoding {encoding!r} is not supported in a form.")
        part.field_name = force_str(field_name, self._encoding, errors="replace")
        file_name = disposition[1].get("filename")
        if not file_name:
            part.kind = "field"
            return
        self._files_seen += 1
        most_files = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        if most_files is not None and self._files_seen > most_files:
            raise TooManyFilesSent("The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES.")
        file_name = sanitize_file_name(force_str(file_name, self._encoding, errors="replace"))
        if not file_name:
            return
        content_type, extra = part.headers.get("content-type", ("", {}))
        try:
            content_length = int(part.headers["content-length"][0])
        except (KeyError, ValueError):
            content_length = None
        part.kind = "file"
        self._file_open = True
        self._handler.new_file(
            part.field_name, file_name, content_type.strip(), content_length, extra.get("charset"), extra
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.kind == "file":
            view = memoryview(data)[start:end]
            self._handler.receive_data_chunk(view, part.size)
            part.size += end - start
        elif part.kind == "field":
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and self._field_bytes + len(part.value) + (end - start) > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            part.value += data[start:end]

    def _part_end(self) -> None:
        part = self._part
        if part.kind == "field":
            # Counted as Django counts it: the value, and the name with "&=" as in a query string.
            self._field_bytes += len(part.value) + len(part.field_name) + 2
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and self._field_bytes > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            self._post.appendlist(part.field_name, force_str(bytes(part.value), self._encoding, errors="replace"))
        elif part.kind == "file":
            self._file_open = False
            received = self._handler.file_complete(part.size)
            if received is not None:
                self._files.appendlist(part.field_name, received)
        part.kind = "skip"

    def _end(self) -> None:
        self._ended = True

    def _close_files(self) -> None:
        for _name, received in self._files.lists():
            for file in received:
                file.close()
