"""Request bodies bounded before anything reads them.

`RequestBodyLimitMiddleware` wraps the WSGI application (nir_portal/wsgi.py), so gunicorn and
`manage.py runserver` (what `make run` serves with) apply the same limits:

- a body whose Content-Length is larger than the URL's limit is refused with 413 and an NHS-styled
  page, unread;
- a chunked body (no Content-Length) is read into a temporary file up to the limit and refused the
  moment it passes it; a server that cannot hand over a chunked body gets 411;
- a body the portal did not read to the end (refused, or stopped part-way by an upload handler)
  is never read afterwards: the connection is closed instead.

A view that accepts files declares `request_body_limit = BodyLimit(...)`; every other URL, and
every anonymous request to a view whose limit is for signed-in people, gets
DATA_UPLOAD_MAX_MEMORY_SIZE.
"""

import logging
import tempfile
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream, get_path_info
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, parse_cookie
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils.csp import build_policy

logger = logging.getLogger(__name__)

# Room for the form's other fields and the multipart framing around the files.
FORM_ALLOWANCE_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
# A chunked body is kept in memory up to this size, then on disk.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """A view's own limit on the request body: the named setting (bytes) plus the form allowance.
    `signed_in_only`: anonymous requests get the default limit instead."""

    setting: str
    signed_in_only: bool = True

    def max_bytes(self) -> int:
        return int(getattr(settings, self.setting)) + FORM_ALLOWANCE_BYTES


def default_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def view_body_limit(path_info: str) -> BodyLimit | None:
    try:
        match = resolve(path_info)
    except Resolver404:
        return None
    view = getattr(match.func, "view_class", match.func)
    limit = getattr(view, "request_body_limit", None)
    return limit if isinstance(limit, BodyLimit) else None


def is_signed_in(environ) -> bool:
    """Whether the request carries the session of a signed-in person, checked as Django's own
    authentication does (the session's user exists, is active, and its session hash matches)."""
    from django.contrib.auth import get_user

    key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
    if not key:
        return False
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    for attempt in (1, 2):
        try:
            return get_user(request).is_authenticated
        except DatabaseError:
            if attempt == 2:
                logger.warning("Could not read the session for a request body limit; applying the default.")
                return False
            # A persistent connection that broke since its last request; Django drops such a
            # connection when a request starts, which has not happened yet here.
            close_old_connections()
            request.session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    return False


def body_limit_for(environ) -> int:
    limit = view_body_limit(get_path_info(environ) or "/")
    if limit is None:
        return default_limit()
    if limit.signed_in_only and not is_signed_in(environ):
        return default_limit()
    return max(limit.max_bytes(), default_limit())


class _CountingInput:
    """The request body as the application reads it, counting what was read."""

    def __init__(self, stream):
        self._stream = stream
        self.bytes_read = 0

    def read(self, size=-1, /):
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1, /):
        line = self._stream.readline(size)
        self.bytes_read += len(line)
        return line

    def readlines(self, hint=-1, /):
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


def _closing(headers: list[tuple[str, str]], server_input) -> list[tuple[str, str]]:
    """The response's headers, changed so that the server closes the connection after it."""
    headers = [(k, v) for k, v in headers if k.lower() != "connection"]
    if isinstance(server_input, LimitedStream):
        # The development server refuses hop-by-hop headers from the application; it closes the
        # connection itself after a response without a Content-Length.
        return [(k, v) for k, v in headers if k.lower() != "content-length"]
    return [*headers, ("Connection", "close")]


def _forget_unread_body(stream) -> None:
    """Django's development server reads whatever is left of the body into memory when it closes
    the request (basehttp.ServerHandler.close), all at once. Its stream is a LimitedStream, whose
    limit tells it how much is left: set it to nothing, and close the connection instead."""
    if isinstance(stream, LimitedStream):
        stream.limit = 0


class _ClosingResult:
    """The application's response, closing the spooled body with it."""

    def __init__(self, result, spooled):
        self._result = result
        self._spooled = spooled

    def __iter__(self):
        return iter(self._result)

    def close(self):
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._spooled.close()


def _security_headers() -> list[tuple[str, str]]:
    return [
        ("Content-Security-Policy", build_policy(settings.SECURE_CSP)),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    ]


def refusal(status: int, limit: int) -> tuple[str, list[tuple[str, str]], bytes]:
    reasons = {411: "Length Required", 413: "Content Too Large"}
    body = render_to_string(
        "errors/request_too_large.html",
        {
            "service_name": settings.PORTAL_SERVICE_NAME,
            "limit": filesizeformat(limit),
            "length_required": status == 411,
            "error_title": True,
        },
    ).encode("utf-8")
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))), *_security_headers()]
    return f"{status} {reasons[status]}", headers, body


class RequestBodyLimitMiddleware:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        server_input = environ.get("wsgi.input")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if chunked:
            return self._chunked(environ, start_response, server_input)
        if length > default_limit():
            limit = body_limit_for(environ)
            if length > limit:
                return self._refuse(start_response, server_input, 413, limit)
        return self._serve(environ, start_response, server_input, length)

    def _chunked(self, environ, start_response, server_input):
        if not environ.get("wsgi.input_terminated"):
            # The server does not decode chunked bodies (the development server does not), so the
            # body cannot be read at all: ask for a length instead.
            return self._refuse(start_response, server_input, 411, default_limit())
        limit = body_limit_for(environ)
        spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115  closed with the response
        received = 0
        while received <= limit:
            data = server_input.read(min(READ_CHUNK_BYTES, limit + 1 - received))
            if not data:
                break
            received += len(data)
            spooled.write(data)
        if received > limit:
            spooled.close()
            return self._refuse(start_response, server_input, 413, limit)
        spooled.seek(0)
        environ["wsgi.input"] = spooled
        environ["CONTENT_LENGTH"] = str(received)
        del environ["HTTP_TRANSFER_ENCODING"]
        return _ClosingResult(self._serve(environ, start_response, server_input, received), spooled)

    def _serve(self, environ, start_response, server_input, length: int):
        counting = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = counting

        def tracking_start_response(status, headers, exc_info=None):
            # Django calls this once the view has returned: whatever it has not read by now, it
            # never will.
            if counting.bytes_read < length:
                _forget_unread_body(server_input)
                headers = _closing(headers, server_input)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.application(environ, tracking_start_response)

    def _refuse(self, start_response, server_input, status: int, limit: int):
        _forget_unread_body(server_input)
        status_line, headers, body = refusal(status, limit)
        start_response(status_line, _closing(headers, server_input))
        # An iterator, not a list: the development server would work out a Content-Length for a
        # one-item list and then keep the connection open.
        return iter([body])
