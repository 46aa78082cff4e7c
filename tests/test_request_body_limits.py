"""Request bodies are bounded before anything reads them (nir_portal.request_limits).

In-process: which limit applies to which request, a chunked body spooled up to the limit, and the
development server's stream told that nothing is left to read. Over real HTTP, against a server
process of its own (runserver, as `make run` serves, and gunicorn): oversize bodies streamed by a
client that keeps sending whatever the answer are refused, and the serving process grows by no
more than 30 MB. (`make bench` reports the same figures at full size: benchmarks/body_limits.py.)
"""

import io
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks import body_limits
from nir_portal import request_limits
from nir_portal.accounts.models import Role
from nir_portal.request_limits import FORM_ALLOWANCE_BYTES, RequestBodyLimitMiddleware

MiB = 1024 * 1024


def _environ(path: str, *, length: int | None = None, chunked_body: bytes | None = None, cookie: str = "", **extra):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_COOKIE": cookie,
        **extra,
    }
    if chunked_body is not None:
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(chunked_body)})
    else:
        environ.update({"CONTENT_LENGTH": str(length or 0), "wsgi.input": io.BytesIO(b"")})
    return environ


class _App:
    """Stands in for Django: records what it was given, reads `reads` bytes, answers 200."""

    def __init__(self, reads: int = 0):
        self.reads = reads
        self.environ = None
        self.body = b""

    def __call__(self, environ, start_response):
        self.environ = environ
        self.body = environ["wsgi.input"].read(self.reads) if self.reads else b""
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def _call(app, environ):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers

    body = b"".join(app(environ, start_response))
    return int(seen["status"].split()[0]), dict(seen["headers"]), body


@pytest.fixture
def session_cookie(world):
    person = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    client = Client()
    client.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _upload_path(world) -> str:
    return reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk})


# --- which limit applies -----------------------------------------------------------------------------


def test_the_sign_in_page_refuses_a_body_over_the_default_limit_from_its_content_length(db):
    app = _App()
    status, headers, body = _call(
        RequestBodyLimitMiddleware(app),
        _environ("/accounts/login/", length=settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
    )

    assert status == 413 and app.environ is None  # Django never saw it
    assert "nhsuk-header" in body.decode() and "2.5\xa0MB" in body.decode()
    assert headers["Connection"] == "close" and "default-src 'self'" in headers["Content-Security-Policy"]


def test_a_body_within_the_default_limit_reaches_the_portal(db):
    app = _App()
    status, _, _ = _call(
        RequestBodyLimitMiddleware(app), _environ("/accounts/login/", length=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    )

    assert status == 200 and app.environ is not None


def test_an_upload_page_gives_the_evidence_limit_only_to_a_signed_in_session(world, session_cookie):
    path = _upload_path(world)
    evidence_limit = settings.EVIDENCE_MAX_FILE_BYTES + FORM_ALLOWANCE_BYTES
    middleware = RequestBodyLimitMiddleware(_App())

    anonymous = _call(middleware, _environ(path, length=50 * MiB))[0]
    forged = _call(middleware, _environ(path, length=50 * MiB, cookie="sessionid=not-a-session"))[0]
    signed_in = _call(middleware, _environ(path, length=evidence_limit, cookie=session_cookie))[0]
    over = _call(middleware, _environ(path, length=evidence_limit + 1, cookie=session_cookie))[0]

    assert (anonymous, forged, signed_in, over) == (413, 413, 200, 413)


def test_the_public_verify_page_has_its_own_limit_for_anyone(db):
    path = reverse("cscr:verify")
    limit = settings.CSCR_VERIFY_MAX_UPLOAD_BYTES + FORM_ALLOWANCE_BYTES
    middleware = RequestBodyLimitMiddleware(_App())

    assert _call(middleware, _environ(path, length=limit))[0] == 200
    assert _call(middleware, _environ(path, length=limit + 1))[0] == 413


def test_every_view_that_takes_files_declares_its_body_limit():
    from django import forms
    from django.urls import get_resolver

    from tests.test_permission_matrix import walk

    undeclared = []
    for route in walk(get_resolver()):
        view = getattr(route.pattern.callback, "view_class", None)
        form_class = getattr(view, "form_class", None)
        if form_class is None or not issubclass(form_class, forms.BaseForm):
            continue
        takes_files = any(isinstance(field, forms.FileField) for field in form_class.base_fields.values())
        if takes_files and not isinstance(getattr(view, "request_body_limit", None), request_limits.BodyLimit):
            undeclared.append(route.name)

    assert not undeclared


# --- chunked bodies ----------------------------------------------------------------------------------


def test_a_chunked_body_within_the_limit_is_passed_on_with_its_length(db):
    app = _App(reads=-1)
    body = b"email=a%40b.nhs.uk&password=x"
    status, _, _ = _call(
        RequestBodyLimitMiddleware(app),
        _environ("/accounts/login/", chunked_body=body, **{"wsgi.input_terminated": True}),
    )

    assert status == 200
    assert app.body == body and app.environ["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in app.environ


def test_a_chunked_body_is_cut_off_one_byte_past_the_limit(db):
    app = _App()
    stream = io.BytesIO(b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10 * MiB))
    environ = _environ("/accounts/login/", chunked_body=b"", **{"wsgi.input_terminated": True})
    environ["wsgi.input"] = stream

    status, _, _ = _call(RequestBodyLimitMiddleware(app), environ)

    assert status == 413 and app.environ is None
    assert stream.tell() == settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1


def test_a_server_that_cannot_decode_a_chunked_body_is_told_a_length_is_required(db):
    status, _, _ = _call(RequestBodyLimitMiddleware(_App()), _environ("/accounts/login/", chunked_body=b"x"))

    assert status == 411


# --- what is left unread is never read ----------------------------------------------------------------


def test_a_body_the_portal_stops_reading_is_not_drained_by_the_development_server(db):
    server_stream = LimitedStream(io.BytesIO(b"x" * MiB), MiB)
    environ = _environ("/accounts/login/", length=MiB)
    environ["wsgi.input"] = server_stream

    status, headers, _ = _call(RequestBodyLimitMiddleware(_App(reads=1000)), environ)

    assert status == 200
    assert server_stream.read() == b""  # what ServerHandler.close() reads: nothing left
    assert "Content-Length" not in headers  # so the development server closes the connection


def test_a_body_read_to_its_end_keeps_the_connection(db):
    server_stream = LimitedStream(io.BytesIO(b"x" * 1000), 1000)
    environ = _environ("/accounts/login/", length=1000)
    environ["wsgi.input"] = server_stream

    _, headers, _ = _call(RequestBodyLimitMiddleware(_App(reads=1000)), environ)

    assert headers["Content-Length"] == "2" and "Connection" not in headers


# --- real servers, real HTTP ---------------------------------------------------------------------------


@pytest.mark.skipif(
    not Path(sys.executable).with_name("gunicorn").exists(), reason="gunicorn is not installed in this environment"
)
@pytest.mark.parametrize("kind", ["runserver", "gunicorn"])
def test_oversize_bodies_streamed_at_a_live_server_are_refused_without_growing_it(kind, transactional_db):
    cookie, upload, missing = body_limits.prepare_people()
    evidence_limit = settings.EVIDENCE_MAX_FILE_BYTES + FORM_ALLOWANCE_BYTES
    server = body_limits.WebProcess(kind, body_limits.database_url_for(connection.settings_dict["NAME"]))
    failures = []
    try:
        for probe in body_limits.probes(
            upload_path=upload, missing_upload_path=missing, evidence_limit=evidence_limit, scale=0.25
        ):
            sent, growth = body_limits.send_probe(server, probe, cookie)
            wanted = body_limits.expected_status(server, probe)
            if sent.status != wanted or growth > body_limits.TARGET_GROWTH_MB:
                failures.append(f"{probe.label}: {sent.status} (wanted {wanted}), grew {growth:.1f} MB")
            if wanted == 413 and "What you sent is too large" not in sent.response:
                failures.append(f"{probe.label}: not the portal's refusal page")
    finally:
        server.stop()

    assert not failures, "\n".join(failures)
