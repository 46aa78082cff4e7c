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
VmHWM (reset through /proc/<pid>/clear_refs before each upload). On a shared machine the
worker's wall time is mostly waiting for a CPU, so what its time went to is printed too, from
/proc/<pid>/schedstat: seconds on a CPU and seconds runnable but waiting, with its page faults,
and openssl's CPU time beside the worker's.

In process, on the same file after the upload rounds (`benchmarks._upload_stages`): each stage of the
request timed on its own in CPU seconds (receive, write, hash, type detection, inspection,
storage), reported as its share of the worker's CPU time for the request, the rest being the
HTTP side; and the bytes that type detection and inspection read, per MB uploaded.
"""

import contextlib
import hashlib
import http.client
import os
import random
import re
import resource
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
from benchmarks import _upload_stages as upload_stages
from benchmarks.dashboard import HOST, REPO, TASKSET, Server, _bench_database_url, _free_port

MiB = 1024 * 1024
FILE_BYTES = 200 * MiB
SEND_BYTES = MiB
ROUNDS = 5
BOUNDARY = "----nir-benchmark-boundary"
TARGET_RATIO_SHA256SUM = 0.7
TARGET_RATIO_OPENSSL = 0.5
# Inspection reads a PDF's structure, not its image data: a few KiB per MB of a large scan.
TARGET_INSPECTED_KIB_PER_MB = 16.0
TARGET_MEMORY_MB = 30.0
SAMPLE_SECONDS = 0.002
SERVER_CPU, CLIENT_CPU = 0, 1


# --- the file and the baselines -----------------------------------------------------------------


def _write_pdf(path: Path) -> None:
    """A valid one-page PDF (cross-reference table and all) showing one large image, whose data
    is random-looking like the compressed images of a scan."""
    block = random.Random(160).randbytes(MiB)  # noqa: S311  test data, not a secret
    content = b"q 595 0 0 842 0 0 cm /Im0 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im0 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        None,  # the image, written in pieces below
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    image_dict = b"<< /Type /XObject /Subtype /Image /Width 4000 /Height 3000 /ColorSpace /DeviceRGB "
    image_dict += b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
    fixed = len(head) + sum(len(b"%d 0 obj\n" % (n + 1)) + len(b"\nendobj\n") for n in range(len(objects)))
    fixed += sum(len(o) for o in objects if o is not None) + len(image_dict % 0) + len(b"\nendstream")
    tail_estimate = 512  # the cross-reference table and trailer
    image_bytes = FILE_BYTES - fixed - tail_estimate
    offsets = []
    with path.open("wb") as out:
        out.write(head)
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number)
            if body is None:
                out.write(image_dict % image_bytes)
                left = image_bytes
                while left > 0:
                    piece = block[: min(MiB, left)]
                    out.write(piece)
                    left -= len(piece)
                out.write(b"\nendstream")
            else:
                out.write(body)
            out.write(b"\nendobj\n")
        xref_at = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at))
        # Pad with a comment so that the file is exactly FILE_BYTES, as the checks expect.
        pad = FILE_BYTES - out.tell()
        if pad < 2:
            raise RuntimeError("the benchmark PDF came out larger than FILE_BYTES")
        out.write(b"%" + b" " * (pad - 2) + b"\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(command: list[str], path: Path) -> tuple[float, str]:
    """Wall seconds of a command run on the file, and its output."""
    seconds, _cpu, output = _command_cpu(command, path)
    return seconds, output


def _command_cpu(command: list[str], path: Path) -> tuple[float, float, str]:
    """Wall seconds of a command run on the file, its CPU seconds (user + system), and its output."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*command, str(path)], check=True, capture_output=True, text=True)  # noqa: S603  fixed tools
    return time.perf_counter() - started, _children_cpu() - cpu_before, done.stdout


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
    thread here, and VmHWM from /proc (reset with clear_refs before, read after).

    Also what the worker's time went to (/proc/<pid>/schedstat): seconds on a CPU, seconds
    runnable but waiting for one (other processes on a shared machine), and its minor page faults.
    """

    def __init__(self, worker: psutil.Process) -> None:
        self._worker = worker
        self._stop = threading.Event()
        self._status = Path(f"/proc/{worker.pid}/status")
        self.start_rss = self.peak_rss = self.hwm = 0
        self.on_cpu = self.waiting = 0.0
        self.page_faults = 0

    def _sched(self) -> tuple[float, float, int]:
        """(seconds on a CPU, seconds waiting in the run queue, minor page faults) so far."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            on_cpu, waiting, _slices = Path(f"/proc/{self._worker.pid}/schedstat").read_text().split()
            faults = int(Path(f"/proc/{self._worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
            return int(on_cpu) / 1e9, int(waiting) / 1e9, faults
        return 0.0, 0.0, 0

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
        self._sched_before = self._sched()
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
        after = self._sched()
        self.on_cpu = after[0] - self._sched_before[0]
        self.waiting = after[1] - self._sched_before[1]
        self.page_faults = after[2] - self._sched_before[2]

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.start_rss) / MiB

    @property
    def hwm_growth_mb(self) -> float | None:
        return (self.hwm - self.start_rss) / MiB if self.hwm else None


# --- the in-process figures --------------------------------------------------------------------


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


def _stage_breakdown(stage_rounds: list[dict], worker_on_cpu: float) -> list[Measure]:
    """Each stage's share of the worker's CPU time for the request: the stage's median CPU seconds
    in process against the worker's median seconds on a CPU (schedstat), so that time spent
    waiting for a CPU on a shared machine counts on neither side. What the stages do not account
    for is the HTTP side (gunicorn reading the body from the socket into its buffers, the session,
    the form, the database, the response)."""
    rest = "HTTP side (socket, gunicorn's buffers, session, database)"
    seconds = {stage: statistics.median(r[stage] for r in stage_rounds) for stage in upload_stages.STAGES}
    shares = {stage: seconds[stage] / worker_on_cpu for stage in upload_stages.STAGES}
    shares[rest] = max(1 - sum(shares.values()), 0.0)
    return [
        Measure(
            f"  share of worker CPU: {stage}" + (f" ({seconds[stage] * 1000:.0f} ms)" if stage in seconds else ""),
            100 * share,
            "%",
        )
        for stage, share in shares.items()
    ]


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
                openssl, openssl_cpu, _ = _command_cpu(["openssl", "dgst", "-sha256"], source)
                upload, peak = _upload_and_check(server, url, cookie, token, source, expected, n)
                rounds.append(
                    {
                        "sha256sum": sha256sum,
                        "openssl": openssl,
                        "openssl cpu": openssl_cpu,
                        "upload": upload,
                        "worker on cpu": peak.on_cpu,
                        "worker waiting": peak.waiting,
                        "worker page faults": float(peak.page_faults),
                        "hashlib": _hashlib_only(source),
                        "rss": peak.growth_mb,
                        "hwm": peak.hwm_growth_mb,
                    }
                )
            # The in-process stages come after every upload round, not between them: they write and
            # delete three 200 MB files each, and the kernel's handling of that much freed memory
            # (on a virtual machine, handing it back to the host) slowed the next upload's writes.
            prefix, suffix = _form_parts([("title", "In-process stages")], "report.pdf")
            stage_rounds = [upload_stages.measure(prefix, source, suffix, BOUNDARY, work) for _ in range(ROUNDS)]
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
    openssl_ratio = ratio("openssl", "upload")
    in_process_receive = statistics.median(r["receive"] + r["write"] + r["hash"] for r in stage_rounds)
    inspected_per_mb = statistics.median(r["inspection bytes"] for r in stage_rounds) / (FILE_BYTES / MiB) / 1024
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
        Measure(
            "upload / openssl dgst -sha256 (throughput ratio)",
            openssl_ratio,
            "x",
            f">= {TARGET_RATIO_OPENSSL}",
            openssl_ratio >= TARGET_RATIO_OPENSSL,
        ),
        *_stage_breakdown(stage_rounds, median("worker on cpu")),
        Measure(
            "inspection reads (type detection + PDF checks) per MB uploaded",
            inspected_per_mb,
            "KiB",
            f"<= {TARGET_INSPECTED_KIB_PER_MB:g}",
            inspected_per_mb <= TARGET_INSPECTED_KIB_PER_MB,
        ),
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
        Measure("worker on a CPU during the upload (schedstat), median", median("worker on cpu"), "s"),
        Measure("worker runnable but waiting for a CPU (other load)", median("worker waiting"), "s"),
        Measure("worker minor page faults per upload, median", median("worker page faults"), ""),
        Measure("openssl dgst -sha256 CPU time (user + system)", median("openssl cpu"), "s"),
        Measure(
            "  openssl CPU / worker on-CPU (ratio by CPU time, not load)", ratio("openssl cpu", "worker on cpu"), "x"
        ),
        Measure("secondary, in process: hashlib alone", mb / median("hashlib"), "MB/s"),
        Measure("secondary, in process: receive + write + hash, per CPU second", mb / in_process_receive, "MB/s"),
        Measure("  ... / sha256sum", median("sha256sum") / in_process_receive, "x"),
        Measure("first upload (cold worker), request", first_seconds, "s"),
    ]
