"""A 200 MB evidence upload over HTTP to gunicorn: the real upload view, hashing handler, inspection and storage.

gunicorn (one sync worker, tests.settings, the benchmark's throwaway database) runs pinned to
CPU 0; this process, the HTTP client, runs pinned to CPU 1, and so do `sha256sum` and
`openssl dgst -sha256`, which it runs on the same file in the same rounds. A supplier's
assurance lead with an authenticator, signed in, POSTs a valid 200 MB PDF to the product-version
evidence upload view (the body streamed from disk with http.client, 1 MiB at a time, so the
client never holds the file); the view hashes it while receiving, inspects it, stores it and
answers 302 to the new evidence's page, which is checked. Rounds alternate sha256sum, openssl and
the upload; medians are reported.

Headline figures: throughput as sha256sum seconds / upload request seconds (the whole request,
first byte sent to response read), the same against openssl, and the gunicorn worker's peak RSS
above its level before the upload, sampled every 2 ms through psutil and cross-checked with
VmHWM (reset through /proc/<pid>/clear_refs before each upload). A secondary, in-process figure
feeds the same body to Django's MultiPartParser with the hashing handler, with no HTTP around it.
"""

import contextlib
import hashlib
import http.client
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from http.cookies import SimpleCookie
from pathlib import Path

import psutil

from benchmarks import Measure
from benchmarks.dashboard import HOST, REPO, TASKSET, Server, _bench_database_url, _free_port

MiB = 1024 * 1024
FILE_BYTES = 200 * MiB
SEND_BYTES = MiB
ROUNDS = 3
BOUNDARY = "----nir-benchmark-boundary"
TARGET_RATIO_SHA256SUM = 0.7
TARGET_MEMORY_MB = 30.0
SAMPLE_SECONDS = 0.002
SERVER_CPU, CLIENT_CPU = 0, 1


# --- the file and the baselines -----------------------------------------------------------------


def _write_pdf(path: Path) -> None:
    """A PDF of one large binary stream: random-looking like the compressed images of a scan."""
    block = random.Random(160).randbytes(MiB)  # noqa: S311  test data, not a secret
    head = f"%PDF-1.7\n1 0 obj\n<< /Type /XObject /Subtype /Image /Length {FILE_BYTES - 200} >>\nstream\n".encode()
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 2 0 R >>\n%%EOF\n"
    with path.open("wb") as out:
        out.write(head)
        body_bytes = FILE_BYTES - len(head) - len(tail)
        while body_bytes > 0:
            piece = block[: min(MiB, body_bytes)]
            out.write(piece)
            body_bytes -= len(piece)
        out.write(tail)


def _command(command: list[str], path: Path) -> tuple[float, str]:
    """Wall seconds of a command run on the file, and its output."""
    started = time.perf_counter()
    done = subprocess.run([*command, str(path)], check=True, capture_output=True, text=True)  # noqa: S603  fixed tools
    return time.perf_counter() - started, done.stdout


# --- the server, the session and the request ----------------------------------------------------


class UploadServer(Server):
    """gunicorn with one sync worker (so the worker whose memory is measured is the one that
    serves), pinned to SERVER_CPU; stop() is dashboard.Server's (its own process group only)."""

    def __init__(self, database_url: str, work: Path, *, pin: bool) -> None:
        self.port = _free_port()
        broker = work / "broker"
        for folder in ("queue", "processed", "control"):
            (broker / folder).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(REPO),
            # The virus scan queued on commit goes to a broker of the benchmark's own, not a shared one.
            "CELERY_BROKER_URL": "memory://",
            "CELERY_FILESYSTEM_BROKER_DIR": str(broker),
            # Upload temporary files (FILE_UPLOAD_TEMP_DIR is unset) land where they are cleaned up.
            "TMPDIR": str(work),
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), "nir_portal.wsgi:application", "--bind", f"{HOST}:{self.port}"]
        command += ["--workers", "1", "--worker-class", "sync", "--timeout", "300", "--log-level", "warning"]
        self.process = subprocess.Popen(  # noqa: S603  fixed command
            [TASKSET, "-c", str(SERVER_CPU), *command] if pin else command,
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_ready()

    def worker(self) -> psutil.Process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = psutil.Process(self.process.pid).children()
            if len(children) == 1:
                return children[0]
            time.sleep(0.1)
        raise RuntimeError("gunicorn's worker process not found")


def _prepare() -> tuple[object, str]:
    """A supplier, its product version and a signed-in assurance lead with an authenticator:
    the product version and the session key."""
    import json

    from django.test import Client

    from nir_portal.accounts.models import Organisation, Role
    from onboarding.services.framework import framework_current, framework_load
    from tests import factories

    if framework_current() is None:
        data = json.loads((REPO / "onboarding" / "data" / "framework.json").read_text())
        framework_load(actor=None, data=data, publish=True)
    supplier = factories.OrganisationFactory(kind=Organisation.Kind.SUPPLIER, name="Benchmark supplier", region="")
    version = factories.product_version(supplier)
    lead = factories.member(supplier, Role.SUPPLIER_ASSURANCE_LEAD, full_name="Benchmark assurance lead")
    client = Client()
    client.force_login(lead, backend="django.contrib.auth.backends.ModelBackend")
    return version, client.cookies["sessionid"].value


def _csrf(port: int, path: str, session: str) -> tuple[str, str]:
    """GET the form signed in: (the csrftoken cookie, the form's csrfmiddlewaretoken)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request("GET", path, headers={"Host": HOST, "Cookie": f"sessionid={session}"})
        response = connection.getresponse()
        html = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
    finally:
        connection.close()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if "csrftoken" not in cookies or token is None:
        raise RuntimeError("the upload form gave no CSRF cookie or token")
    return cookies["csrftoken"].value, token.group(1)


def _form_parts(fields: list[tuple[str, str]], filename: str) -> tuple[bytes, bytes]:
    prefix = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields
    )
    prefix += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    )
    return prefix.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


def _post(port: int, path: str, cookie: str, prefix: bytes, source: Path, suffix: bytes) -> tuple[float, int, str]:
    """POST the multipart body, the file streamed from disk: (seconds, status, Location)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=300)
    try:
        started = time.perf_counter()
        connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", HOST)
        connection.putheader("Cookie", cookie)
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Content-Length", str(len(prefix) + source.stat().st_size + len(suffix)))
        connection.endheaders(prefix)
        with source.open("rb") as file:
            while chunk := file.read(SEND_BYTES):
                connection.send(chunk)
        connection.send(suffix)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    if response.status != 302:
        raise RuntimeError(f"upload answered {response.status}: {body.decode(errors='replace')[:2000]}")
    return elapsed, response.status, response.getheader("Location") or ""


class WorkerPeak:
    """The worker's peak RSS above its level before the upload: psutil samples every 2 ms from a
    thread here, and VmHWM from /proc (reset with clear_refs before, read after)."""

    def __init__(self, worker: psutil.Process) -> None:
        self._worker = worker
        self._stop = threading.Event()
        self._status = Path(f"/proc/{worker.pid}/status")
        self.start_rss = self.peak_rss = self.hwm = 0

    def _vm(self, key: str) -> int:
        with contextlib.suppress(OSError):
            for line in self._status.read_text().splitlines():
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
        return 0

    def __enter__(self) -> "WorkerPeak":
        with contextlib.suppress(OSError):
            Path(f"/proc/{self._worker.pid}/clear_refs").write_text("5")  # resets VmHWM to VmRSS
        self.start_rss = self.peak_rss = self._worker.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak_rss = max(self.peak_rss, self._worker.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._worker.memory_info().rss)
        self.hwm = self._vm("VmHWM")

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.start_rss) / MiB

    @property
    def hwm_growth_mb(self) -> float | None:
        return (self.hwm - self.start_rss) / MiB if self.hwm else None


# --- the secondary, in-process figure -----------------------------------------------------------


class _Body:
    """A multipart body as wsgi.input: prefix, the file read from disk, suffix."""

    def __init__(self, prefix: bytes, path: Path, suffix: bytes) -> None:
        self._parts = [io.BytesIO(prefix), path.open("rb"), io.BytesIO(suffix)]
        self.length = len(prefix) + path.stat().st_size + len(suffix)

    def read(self, size: int = -1) -> bytes:
        while self._parts:
            data = self._parts[0].read(size)
            if data:
                return data
            self._parts.pop(0).close()
        return b""


def _receive_in_process(source: Path, work: Path) -> float:
    """Seconds for MultiPartParser + HashingUploadHandler to receive the file in this process."""
    from django.http.multipartparser import MultiPartParser
    from django.test import override_settings

    from onboarding.uploads import HashingUploadHandler

    prefix, suffix = _form_parts([("title", "In-process receive")], "report.pdf")
    body = _Body(prefix, source, suffix)
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body.length)}
    with override_settings(FILE_UPLOAD_TEMP_DIR=str(work)):
        started = time.perf_counter()
        handler = HashingUploadHandler()
        _fields, files = MultiPartParser(meta, body, [handler]).parse()
        elapsed = time.perf_counter() - started
    if handler.errors:
        raise RuntimeError(f"upload refused: {handler.errors}")
    files["files"].close()
    return elapsed


def _hashlib_only(path: Path) -> float:
    from onboarding.uploads import CHUNK_BYTES

    started = time.perf_counter()
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            hasher.update(chunk)
    hasher.hexdigest()
    return time.perf_counter() - started


# --- the benchmark ------------------------------------------------------------------------------


def _upload_and_check(server: UploadServer, url: str, cookie: str, token: str, source: Path, expected: str, n: int):
    """One upload, its worker memory, and the checks: 302 to the evidence page, the stored file's
    hash. Returns (seconds, WorkerPeak); the stored file is deleted."""
    from django.core.files.storage import storages
    from django.urls import reverse

    from onboarding.models import Evidence, EvidenceFile

    title = f"Benchmark upload {n}"
    fields = [
        ("csrfmiddlewaretoken", token),
        ("title", title),
        ("requirement_codes", "INT-01"),
        ("statement", "All ITI-38, ITI-39 and RAD-75 tests pass."),
        ("effective_date", date.today().isoformat()),
        ("action", "submit"),
    ]
    prefix, suffix = _form_parts(fields, "Conformance test report.pdf")
    with WorkerPeak(server.worker()) as peak:
        seconds, _status, location = _post(server.port, url, cookie, prefix, source, suffix)
    evidence = Evidence.objects.get(title=title)
    wanted = reverse("onboarding:evidence-detail", kwargs={"pk": evidence.pk})
    if location.removeprefix(f"http://{HOST}") != wanted:
        raise RuntimeError(f"upload redirected to {location!r}, not the evidence page {wanted!r}")
    stored = EvidenceFile.objects.get(revision__evidence=evidence)
    storage = storages["evidence"]
    try:
        if stored.sha256 != expected or stored.size != FILE_BYTES or storage.size(stored.storage_name) != FILE_BYTES:
            raise RuntimeError("the stored file's hash or size differs from the source")
    finally:
        storage.delete(stored.storage_name)
        _remove_empty_parents(storage, stored.storage_name)
    return seconds, peak


def _remove_empty_parents(storage, name: str) -> None:
    """Remove the evidence/ab/cd/ folders the upload created, when they are now empty."""
    with contextlib.suppress(NotImplementedError, OSError):
        folder = Path(storage.path(name)).parent
        for _level in range(2):  # cd, then ab; never evidence/ or the storage root
            folder.rmdir()  # fails (and stops) when not empty
            folder = folder.parent


def _pinned(cpu: int | None):
    """Pin this thread (and the threads and children it starts) to `cpu`; a no-op for None."""
    if cpu is None:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def pin():
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    return pin()


def run() -> list[Measure]:
    missing = [tool for tool in ("sha256sum", "openssl") if shutil.which(tool) is None]
    if missing or not Path(sys.executable).with_name("gunicorn").exists():
        raise RuntimeError(f"needs sha256sum and openssl on PATH and gunicorn in the virtualenv (missing {missing})")
    from django.db import connection
    from django.urls import reverse

    pin = shutil.which("taskset") is not None and {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)
    work = Path(tempfile.mkdtemp(prefix="nir-bench-upload-"))
    server = None
    try:
        source = work / "source.pdf"
        _write_pdf(source)
        version, session = _prepare()
        database_url = _bench_database_url(connection.settings_dict["NAME"])
        server = UploadServer(database_url, work, pin=pin)
        url = reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": version.pk})
        csrf_cookie, token = _csrf(server.port, url, session)
        cookie = f"sessionid={session}; csrftoken={csrf_cookie}"

        with _pinned(CLIENT_CPU if pin else None):
            _seconds, output = _command(["sha256sum"], source)  # also warms the page cache
            expected = output.split()[0]
            first_seconds, first_peak = _upload_and_check(server, url, cookie, token, source, expected, 0)
            # Rounds interleave the tools and the upload, so that load from other processes on a
            # shared machine falls on both sides of each ratio.
            rounds = []
            for n in range(1, ROUNDS + 1):
                sha256sum, _ = _command(["sha256sum"], source)
                openssl, _ = _command(["openssl", "dgst", "-sha256"], source)
                upload, peak = _upload_and_check(server, url, cookie, token, source, expected, n)
                hashlib_only = _hashlib_only(source)
                receive = _receive_in_process(source, work)
                rounds.append(
                    {
                        "sha256sum": sha256sum,
                        "openssl": openssl,
                        "upload": upload,
                        "hashlib": hashlib_only,
                        "receive": receive,
                        "rss": peak.growth_mb,
                        "hwm": peak.hwm_growth_mb,
                    }
                )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def ratio(baseline: str, ours: str) -> float:
        return statistics.median(r[baseline] / r[ours] for r in rounds)

    mb = FILE_BYTES / 1e6
    upload_ratio = ratio("sha256sum", "upload")
    rss = max(r["rss"] for r in rounds)
    hwms = [r["hwm"] for r in rounds if r["hwm"] is not None]
    first_hwm = first_peak.hwm_growth_mb
    return [
        Measure("sha256sum (coreutils)", mb / median("sha256sum"), "MB/s"),
        Measure("openssl dgst -sha256", mb / median("openssl"), "MB/s"),
        Measure("upload over HTTP: whole request (receive, inspect, store)", mb / median("upload"), "MB/s"),
        Measure("  upload request, median", median("upload"), "s"),
        Measure(
            "upload / sha256sum (throughput ratio)",
            upload_ratio,
            "x",
            f">= {TARGET_RATIO_SHA256SUM}",
            upload_ratio >= TARGET_RATIO_SHA256SUM,
        ),
        Measure("upload / openssl dgst -sha256", ratio("openssl", "upload"), "x"),
        Measure(
            "worker peak RSS growth, first upload (psutil, 2 ms)",
            first_peak.growth_mb,
            "MB",
            f"<= {TARGET_MEMORY_MB:g}",
            first_peak.growth_mb <= TARGET_MEMORY_MB,
        ),
        *([Measure("  ... VmHWM above RSS before", first_hwm, "MB")] if first_hwm is not None else []),
        Measure(
            f"worker peak RSS growth, max of {ROUNDS} later uploads",
            rss,
            "MB",
            f"<= {TARGET_MEMORY_MB:g}",
            rss <= TARGET_MEMORY_MB,
        ),
        *([Measure("  ... VmHWM above RSS before (max)", max(hwms), "MB")] if hwms else []),
        Measure("secondary, in process: hashlib alone", mb / median("hashlib"), "MB/s"),
        Measure("secondary, in process: parser + hashing handler", mb / median("receive"), "MB/s"),
        Measure("  ... / sha256sum", ratio("sha256sum", "receive"), "x"),
        Measure("first upload (cold worker), request", first_seconds, "s"),
    ]
