"""Oversize request bodies streamed at a real server process: memory growth against the 30 MB target.

The portal is served by `manage.py runserver --noreload` (what `make run` uses) and by gunicorn
(one sync worker, what production uses), each from the benchmark's throwaway database with
tests.settings. Over raw sockets, this process sends each hostile request: the headers, then as
much of the body as the server will take. Meanwhile the serving process's RSS is sampled every
2 ms (psutil); the figure is its peak above the level just before the request.

Requests: an anonymous 1 GiB POST to the sign-in page (Content-Length); the same, chunked with no
Content-Length; an anonymous and a signed-in POST to an evidence upload page, larger than the
evidence limit; and a signed-in upload-sized POST to an upload page that answers without reading
the body (no CSRF token: 403), whose unread rest the development server would otherwise read into
memory when it closes the request. Each is expected to be refused with the
status given, and to grow the process by no more than 30 MB.
"""

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from benchmarks import Measure

MiB = 1024 * 1024
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
TARGET_GROWTH_MB = 30.0
SEND_CHUNK = MiB
READY_PATH = "/accessibility/"


def database_url_for(name: str) -> str:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/nir_portal"
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class WebProcess:
    """The portal served by `runserver` or `gunicorn` in a process of its own."""

    def __init__(self, kind: str, database_url: str, extra_env: dict[str, str] | None = None):
        self.kind = kind
        self.port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(REPO),
            **(extra_env or {}),
        }
        if kind == "runserver":
            command = [sys.executable, str(REPO / "manage.py"), "runserver", "--noreload", f"{HOST}:{self.port}"]
        elif kind == "gunicorn":
            gunicorn = Path(sys.executable).with_name("gunicorn")
            command = [str(gunicorn), "nir_portal.wsgi:application", "--bind", f"{HOST}:{self.port}", "--workers", "1"]
            command += ["--worker-class", "sync", "--timeout", "120", "--log-level", "warning"]
        else:
            raise ValueError(kind)
        # A file, not a pipe: runserver logs every request, and a full pipe would stall it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  closed in stop()
        self.process = subprocess.Popen(  # noqa: S603  fixed command
            command, cwd=REPO, env=env, start_new_session=True, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: {self.output()[-2000:]}")
            with contextlib.suppress(OSError):
                status, _ = request(self.port, "GET", READY_PATH)
                if status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} did not answer within 90 s: {self.output()[-2000:]}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    @property
    def serving_pid(self) -> int:
        """The process that handles requests: runserver itself, or gunicorn's one worker."""
        if self.kind == "runserver":
            return self.process.pid
        children = psutil.Process(self.process.pid).children()
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {len(children)}")
        return children[0].pid

    def stop(self) -> None:
        # Only the process group started here.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class PeakRssOf:
    """Samples another process's RSS every 2 ms; `growth_mb` is the peak above the level at start."""

    def __init__(self, pid: int):
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self.start = self.peak = 0

    def __enter__(self) -> "PeakRssOf":
        self.start = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # anything the server does after the response (draining) shows up too
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


def request(port: int, method: str, path: str, *, headers: dict | None = None, body: bytes = b"") -> tuple[int, str]:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            head.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> tuple[int, str]:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    text = data.decode(errors="replace")
    if not text.startswith("HTTP/"):
        return 0, text
    return int(text.split(" ", 2)[1]), text


@dataclass
class Sent:
    status: int  # 0: no response before the connection closed
    response: str
    bytes_sent: int


def stream_body(
    port: int, path: str, *, total_bytes: int, chunked: bool = False, cookie: str = "", content_type: str = ""
) -> Sent:
    """Send the headers, then keep sending up to `total_bytes` of body whatever the server answers,
    as a hostile client would, until the server closes the connection; collect its answer."""
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total_bytes}")
    head.append(f"Content-Type: {content_type or 'application/x-www-form-urlencoded'}")
    if cookie:
        head.append(f"Cookie: {cookie}")
    block = b"x" * SEND_CHUNK
    sent = 0
    answer = b""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        with contextlib.suppress(OSError):
            while sent < total_bytes:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        break  # closed by the server
                    answer += data
                size = min(SEND_CHUNK, total_bytes - sent)
                payload = block[:size]
                if chunked:
                    payload = f"{size:x}\r\n".encode() + payload + b"\r\n"
                sock.sendall(payload)
                sent += size
            if chunked and sent >= total_bytes:
                sock.sendall(b"0\r\n\r\n")
        with contextlib.suppress(OSError):
            sock.settimeout(10)
            while data := sock.recv(65536):
                answer += data
    text = answer.decode(errors="replace")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
    return Sent(status, text, sent)


@dataclass(frozen=True)
class Probe:
    label: str
    path: str
    total_bytes: int
    expected_status: int
    chunked: bool = False
    signed_in: bool = False
    multipart: bool = False


def probes(*, upload_path: str, missing_upload_path: str, evidence_limit: int, scale: float = 1.0) -> list[Probe]:
    """The hostile requests. `scale` shrinks the bodies for a quicker run (the tests)."""

    def size(n: int) -> int:
        return max(int(n * scale), 8 * MiB)

    return [
        Probe("anonymous sign-in POST, Content-Length 1 GiB", "/accounts/login/", size(1024 * MiB), 413),
        Probe("anonymous sign-in POST, chunked", "/accounts/login/", size(1024 * MiB), 413, chunked=True),
        Probe("anonymous upload POST, 300 MB", upload_path, size(300 * MiB), 413, multipart=True),
        Probe(
            "signed-in upload POST over the evidence limit",
            upload_path,
            evidence_limit + 50 * MiB,
            413,
            signed_in=True,
            multipart=True,
        ),
        Probe(
            "signed-in upload-sized POST refused unread (403)",
            missing_upload_path,
            min(evidence_limit, size(200 * MiB)),
            403,
            signed_in=True,
            multipart=True,
        ),
    ]


def send_probe(server: WebProcess, probe: Probe, session_cookie: str) -> tuple[Sent, float]:
    content_type = "multipart/form-data; boundary=----nir-probe" if probe.multipart else ""
    with PeakRssOf(server.serving_pid) as peak:
        sent = stream_body(
            server.port,
            probe.path,
            total_bytes=probe.total_bytes,
            chunked=probe.chunked,
            cookie=session_cookie if probe.signed_in else "",
            content_type=content_type,
        )
    return sent, peak.growth_mb


def expected_status(server: WebProcess, probe: Probe) -> int:
    # The development server cannot decode a chunked body at all: it is refused as needing a length.
    return 411 if probe.chunked and server.kind == "runserver" else probe.expected_status


def prepare_people() -> tuple[str, str, str]:
    """A signed-in person with an authenticator (committed, so the server process sees it): their
    session cookie, an upload path of theirs, and an upload path of a deployment that does not exist."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.test import Client
    from django.urls import reverse

    from nir_portal.accounts.models import Organisation, Role, User
    from nir_portal.accounts.services import membership_grant
    from onboarding.models import Product, ProductVersion

    supplier = Organisation.objects.create(ods_code="YZ901", name="Probe supplier", kind=Organisation.Kind.SUPPLIER)
    user = User.objects.create_user("probe.lead@yz901.test", password=None, full_name="Probe Lead")
    membership_grant(actor=None, organisation=supplier, user=user, role=Role.SUPPLIER_ASSURANCE_LEAD)
    TOTP.activate(user, generate_totp_secret())
    version = ProductVersion.objects.create(
        product=Product.objects.create(supplier=supplier, name="Probe connector"), version="1.0"
    )
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    upload = reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": version.pk})
    missing = reverse("onboarding:deployment-evidence-create", kwargs={"deployment_pk": 987654321})
    return f"sessionid={client.cookies['sessionid'].value}", upload, missing


def run() -> list[Measure]:
    from django.conf import settings
    from django.db import connection

    from nir_portal.request_limits import FORM_ALLOWANCE_BYTES

    cookie, upload, missing = prepare_people()
    database_url = database_url_for(connection.settings_dict["NAME"])
    evidence_limit = settings.EVIDENCE_MAX_FILE_BYTES + FORM_ALLOWANCE_BYTES
    measures = []
    for kind in ("runserver", "gunicorn"):
        server = WebProcess(kind, database_url)
        try:
            for probe in probes(upload_path=upload, missing_upload_path=missing, evidence_limit=evidence_limit):
                sent, growth = send_probe(server, probe, cookie)
                wanted = expected_status(server, probe)
                measures.append(
                    Measure(
                        f"{kind}: {probe.label}: status",
                        sent.status,
                        "",
                        f"{wanted}",
                        sent.status == wanted,
                    )
                )
                measures.append(
                    Measure(
                        f"{kind}: {probe.label}: RSS growth",
                        growth,
                        "MB",
                        f"<= {TARGET_GROWTH_MB:.0f} MB",
                        growth <= TARGET_GROWTH_MB,
                    )
                )
        finally:
            server.stop()
    return measures
