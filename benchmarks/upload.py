"""A 200 MB evidence upload through Django's multipart parser, the hashing handler, inspection and storage.

No upload view exists to drive over HTTP yet, so the request body is fed from a file stream to
django.http.multipartparser.MultiPartParser with HashingUploadHandler in this process, then
inspect_upload and store_upload run on the result. Hashing throughput is compared with
coreutils `sha256sum` and `openssl dgst -sha256` on the same file in the same run (openssl uses
the same SHA-256 code as hashlib, so it is the real ceiling). Memory growth is the process's peak
RSS above its level before the upload (sampled every 5 ms) and tracemalloc's peak.
"""

import hashlib
import io
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import psutil
from django.http.multipartparser import MultiPartParser
from django.test import override_settings

from benchmarks import Measure
from onboarding.uploads import CHUNK_BYTES, HashingUploadHandler, inspect_upload, store_upload

MiB = 1024 * 1024
FILE_BYTES = 200 * MiB
ROUNDS = 5
BOUNDARY = "----nir-benchmark-boundary"
TARGET_RATIO_SHA256SUM = 0.7
TARGET_MEMORY_MB = 30.0


class Body:
    """A multipart request body, as wsgi.input: form fields, then the file read from disk, then the
    closing boundary. Like Django's LimitedStream over a socket, it only needs read()."""

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


def _command(command: list[str], path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a command run on the file."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*command, str(path)], check=True, capture_output=True)  # noqa: S603  fixed tools
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _in_process(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of a call in this process."""
    cpu, started = time.process_time(), time.perf_counter()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def _hashlib_only(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


class PeakRss:
    """Samples this process's RSS in a thread; `growth` is the peak above the level at start."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_rss = self.peak_rss = 0

    def __enter__(self) -> "PeakRss":
        self.start_rss = self.peak_rss = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak_rss - self.start_rss


def _receive(path: Path):
    prefix = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nPenetration test report\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="Pen test report.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    body = Body(prefix, path, f"\r\n--{BOUNDARY}--\r\n".encode())
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body.length)}
    handler = HashingUploadHandler()
    _post, files = MultiPartParser(meta, body, [handler]).parse()
    if handler.errors:
        raise RuntimeError(f"upload refused: {handler.errors}")
    return files["files"]


def _upload_once(path: Path) -> tuple[dict[str, tuple[float, float]], str]:
    """Receive, inspect and store once: (wall, CPU) seconds of each step, and the storage name."""
    times: dict[str, tuple[float, float]] = {}
    result: dict[str, object] = {}
    times["receive"] = _in_process(lambda: result.update(uploaded=_receive(path)))
    uploaded = result["uploaded"]
    times["inspect"] = _in_process(lambda: result.update(inspected=inspect_upload(uploaded)))
    times["store"] = _in_process(lambda: result.update(name=store_upload(uploaded, result["inspected"])))
    uploaded.close()
    return times, str(result["name"])


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run() -> list[Measure]:
    missing = [tool for tool in ("sha256sum", "openssl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"needs {', '.join(missing)} on PATH")
    work = Path(tempfile.mkdtemp(prefix="nir-bench-upload-"))
    try:
        source = work / "source.pdf"
        _write_pdf(source)
        expected = _hashlib_only(source)
        with override_settings(
            STORAGES={
                "evidence": {
                    "BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": work / "store"},
                }
            },
            FILE_UPLOAD_TEMP_DIR=str(work),
        ):
            with PeakRss() as first_rss:  # also the warm-up: lazy imports, page cache
                _upload_once(source)
            # Rounds interleave the tools and the upload, so that load from other processes on a
            # shared machine falls on both sides of each ratio.
            rounds = []
            for _ in range(ROUNDS):
                sha256sum = _command(["sha256sum"], source)
                openssl = _command(["openssl", "dgst", "-sha256"], source)
                hashlib_only = _in_process(lambda: _hashlib_only(source))
                steps, name = _upload_once(source)
                rounds.append({"sha256sum": sha256sum, "openssl": openssl, "hashlib": hashlib_only, **steps})
            if _hashlib_only(work / "store" / name) != expected:
                raise RuntimeError("the stored file differs from the source")

            with PeakRss() as rss:
                _upload_once(source)
            tracemalloc.start()
            try:
                _upload_once(source)
                _current, traced_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def wall(key: str) -> float:
        return _median([r[key][0] for r in rounds])

    def ratio(baseline: str, ours: tuple[str, ...], cpu: bool = False) -> float:
        index = 1 if cpu else 0
        return _median([r[baseline][index] / sum(r[step][index] for step in ours) for r in rounds])

    mb = FILE_BYTES / 1e6
    receive, everything = ("receive",), ("receive", "inspect", "store")
    receive_ratio = ratio("sha256sum", receive)
    rss_mb = rss.growth / MiB
    first_rss_mb = first_rss.growth / MiB
    traced_mb = traced_peak / MiB
    return [
        Measure("sha256sum (coreutils)", mb / wall("sha256sum"), "MB/s"),
        Measure("openssl dgst -sha256", mb / wall("openssl"), "MB/s"),
        Measure("hashlib alone (same process)", mb / wall("hashlib"), "MB/s"),
        Measure("receive: parser + hashing handler + temp file", mb / wall("receive"), "MB/s"),
        Measure(
            "receive / sha256sum (throughput ratio)",
            receive_ratio,
            "x",
            f">= {TARGET_RATIO_SHA256SUM}",
            receive_ratio >= TARGET_RATIO_SHA256SUM,
        ),
        Measure("receive / openssl dgst -sha256", ratio("openssl", receive), "x"),
        Measure("receive / sha256sum, CPU time", ratio("sha256sum", receive, cpu=True), "x"),
        Measure("receive / openssl dgst -sha256, CPU time", ratio("openssl", receive, cpu=True), "x"),
        Measure("inspect_upload (type check, PDF scan)", wall("inspect"), "s"),
        Measure("store_upload (FileSystemStorage, same filesystem)", wall("store"), "s"),
        Measure("receive + inspect + store", mb / _median([sum(r[k][0] for k in everything) for r in rounds]), "MB/s"),
        Measure("receive + inspect + store / sha256sum", ratio("sha256sum", everything), "x"),
        Measure("receive + inspect + store / openssl dgst -sha256", ratio("openssl", everything), "x"),
        Measure(
            "peak RSS growth, first upload in the process",
            first_rss_mb,
            "MB",
            f"<= {TARGET_MEMORY_MB:g}",
            first_rss_mb <= TARGET_MEMORY_MB,
        ),
        Measure(
            "peak RSS growth, a later upload", rss_mb, "MB", f"<= {TARGET_MEMORY_MB:g}", rss_mb <= TARGET_MEMORY_MB
        ),
        Measure(
            "tracemalloc peak during one upload",
            traced_mb,
            "MB",
            f"<= {TARGET_MEMORY_MB:g}",
            traced_mb <= TARGET_MEMORY_MB,
        ),
    ]
