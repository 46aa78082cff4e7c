"""The national dashboard at 500 deployments under gunicorn: median vs a trivial signed-in page, p95 at 20 users.

Reported: the dashboard's median response time as a ratio to a trivial signed-in page, and its
95th-percentile response time under 20 concurrent users.

A throwaway database is migrated and seeded with `seed_scale --deployments 500` (then ANALYZEd, as
autovacuum would), and a national admin with an authenticator gets one session per simulated user.
gunicorn runs pinned to CPU 0; the load generator (this module run as a script: threads over
http.client, loopback only, bounded by requests and by time) runs pinned to CPU 1 with `taskset`.

The trivial page is the accessibility statement fetched signed in: the same middleware (session,
user, MFA check, memberships, session save) and base template, and no queries of its own. The
dashboard keeps its computed content in the cache, keyed by a fingerprint of the data, the minute
and the query; "warm" is what a national user normally gets, "cold" recomputes everything on every
request (a second gunicorn with DASHBOARD_CACHE_SECONDS=0), reported for comparison.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks import Measure

DEPLOYMENTS = 500
USERS = 20
LOAD_SECONDS = 20
LOAD_MAX_REQUESTS = 3000
SEQUENTIAL_ROUNDS = 40
TARGET_RATIO = 3.0
TASKSET = shutil.which("taskset") or "taskset"
TRIVIAL_PATH = "/accessibility/"
DASHBOARD_PATH = "/dashboards/national/"
REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


# --- the load generator (run as a script, pinned to the other core) ------------------------------


def _generate_load(port: int, paths: list[str], cookies: list[str], users: int, seconds: float, max_requests: int):
    """`users` threads, each with its own session, GET the paths in turn until the time or the
    request budget runs out. Returns [(path, status, seconds), ...]."""
    deadline = time.perf_counter() + seconds
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def user(index: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        headers = {"Cookie": f"sessionid={cookies[index % len(cookies)]}", "Host": HOST}
        turn = index
        while time.perf_counter() < deadline:
            with lock:
                if len(results) >= max_requests:
                    return
            path = paths[turn % len(paths)]
            turn += 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                status = 0
            elapsed = time.perf_counter() - started
            with lock:
                results.append((path, status, elapsed))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _load_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", nargs="+", required=True)
    parser.add_argument("--cookies", nargs="+", required=True)
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=LOAD_SECONDS)
    parser.add_argument("--max-requests", type=int, default=LOAD_MAX_REQUESTS)
    args = parser.parse_args(argv)
    results = _generate_load(args.port, args.paths, args.cookies, args.users, args.seconds, args.max_requests)
    json.dump(results, sys.stdout)


# --- the benchmark --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _bench_database_url(name: str) -> str:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/nir_portal"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Server:
    """gunicorn serving the portal from the benchmark's database, pinned to CPU 0."""

    def __init__(self, database_url: str, settings_module: str = "tests.settings"):
        self.port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": str(REPO),
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [
            str(gunicorn),
            "nir_portal.wsgi:application",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            "3",
            "--worker-class",
            "sync",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(  # noqa: S603  fixed command
            [TASKSET, "-c", "0", *command],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=5)
                connection.request("GET", TRIVIAL_PATH, headers={"Host": HOST})
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        # Only the process group this benchmark started.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _load(
    server: Server, paths: list[str], cookies: list[str], *, users: int, seconds: float, max_requests: int
) -> list[tuple[str, int, float]]:
    """Run the load generator pinned to CPU 1 against the server."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.dashboard",
        "--load",
        "--port",
        str(server.port),
        "--paths",
        *paths,
        "--cookies",
        *cookies,
        "--users",
        str(users),
        "--seconds",
        str(seconds),
        "--max-requests",
        str(max_requests),
    ]
    done = subprocess.run(  # noqa: S603  fixed command: this module, run with the arguments built here
        [TASKSET, "-c", "1", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return [tuple(row) for row in json.loads(done.stdout)]


def _times(results, path: str) -> list[float]:
    bad = [status for p, status, _ in results if p == path and status != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} requests to {path} failed (statuses {sorted(set(bad))})")
    return [elapsed for p, _status, elapsed in results if p == path]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _prepare() -> tuple[str, list[str]]:
    """Migrate and seed a throwaway database; return its URL and signed-in session keys."""
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from nir_portal.accounts import services as account_services
    from nir_portal.accounts.models import Organisation, Role
    from tests.factories import UserFactory, enrol_totp

    call_command("seed_scale", deployments=DEPLOYMENTS, stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    national = Organisation.objects.get(kind=Organisation.Kind.NATIONAL)
    lead = UserFactory(full_name="Benchmark national lead")
    account_services.membership_grant(actor=None, organisation=national, user=lead, role=Role.NATIONAL_ADMIN)
    enrol_totp(lead)
    cookies = []
    for _ in range(USERS):
        client = Client()
        client.force_login(lead, backend="django.contrib.auth.backends.ModelBackend")
        cookies.append(client.cookies["sessionid"].value)
    return _bench_database_url(connection.settings_dict["NAME"]), cookies


def _medians(server: Server, cookies: list[str]) -> tuple[float, float]:
    """Sequential, one user, the two pages alternating: (trivial, dashboard) medians in seconds."""
    paths = [TRIVIAL_PATH, DASHBOARD_PATH]
    _load(server, paths, cookies[:1], users=1, seconds=30, max_requests=10)  # warm-up
    results = _load(server, paths, cookies[:1], users=1, seconds=60, max_requests=2 * SEQUENTIAL_ROUNDS)
    return statistics.median(_times(results, TRIVIAL_PATH)), statistics.median(_times(results, DASHBOARD_PATH))


def run() -> list[Measure]:
    missing = [tool for tool in ("taskset",) if shutil.which(tool) is None]
    if missing or not Path(sys.executable).with_name("gunicorn").exists():
        raise RuntimeError("needs taskset on PATH and gunicorn in the virtualenv")
    if (os.cpu_count() or 1) < 2:
        raise RuntimeError("needs two CPUs: gunicorn on one, the load generator on the other")
    from django.db import connection

    # A database of its own, so the seeded volumes are exactly these whatever ran before.
    original_name = connection.settings_dict["NAME"]
    test_settings = connection.settings_dict.setdefault("TEST", {})
    original_test_name = test_settings.get("NAME")
    test_settings["NAME"] = f"{original_name}_bench_dashboard"
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    servers: list[Server] = []
    try:
        database_url, cookies = _prepare()
        seeded = time.perf_counter() - started
        connection.close()

        warm = Server(database_url)
        servers.append(warm)
        trivial, dashboard = _medians(warm, cookies)
        _load(warm, [DASHBOARD_PATH], cookies, users=USERS, seconds=5, max_requests=200)  # warm-up
        loaded = _times(
            _load(warm, [DASHBOARD_PATH], cookies, users=USERS, seconds=LOAD_SECONDS, max_requests=LOAD_MAX_REQUESTS),
            DASHBOARD_PATH,
        )
        warm.stop()

        cold = Server(database_url, settings_module="benchmarks._dashboard_settings")
        servers.append(cold)
        cold_trivial, cold_dashboard = _medians(cold, cookies)
        cold.stop()
    finally:
        for server in servers:
            server.stop()
        connection.creation.destroy_test_db(original_name, verbosity=0)
        test_settings["NAME"] = original_test_name

    ratio, cold_ratio = dashboard / trivial, cold_dashboard / cold_trivial
    p95 = _percentile(loaded, 0.95)
    ms = 1000
    return [
        Measure(f"seed {DEPLOYMENTS} deployments (migrate + seed_scale)", seeded, "s"),
        Measure("trivial signed-in page, median", trivial * ms, "ms"),
        Measure("national dashboard, median", dashboard * ms, "ms"),
        Measure(
            "national dashboard / trivial page (median)", ratio, "x", f"<= {TARGET_RATIO:g}", ratio <= TARGET_RATIO
        ),
        Measure("national dashboard recomputed every request, median", cold_dashboard * ms, "ms"),
        Measure("  ... / trivial page (median, same server)", cold_ratio, "x"),
        Measure(f"national dashboard, {USERS} concurrent users, p50", statistics.median(loaded) * ms, "ms"),
        Measure(f"national dashboard, {USERS} concurrent users, p95", p95 * ms, "ms"),
        Measure(f"  requests served in {LOAD_SECONDS} s (all 200)", len(loaded), "req"),
        Measure("  throughput", len(loaded) / LOAD_SECONDS, "req/s"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        _load_main(sys.argv[2:])
