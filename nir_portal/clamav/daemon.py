#!/usr/bin/env python3
"""Start a ClamAV daemon (Debian's clamd) of the portal's own, and wait until it answers PING.

`make run` starts one when nothing answers at CLAMAV_URL, and so do the tests and CI:

    python3 nir_portal/clamav/daemon.py start [DIR]     # prints the CLAMAV_URL to use
    python3 nir_portal/clamav/daemon.py stop [DIR]
    python3 nir_portal/clamav/daemon.py start --development [DIR]

DIR (default .data/clamd) receives clamd.conf, the socket, the pid file and the log. The signatures
are freshclam's database (/var/lib/clamav, *.cvd or *.cld) when one is installed; otherwise, or with
--development, a small local database that detects only test files such as EICAR (development.ndb,
copied into DIR/db). The first line on stderr says which. The stream and file limits are derived
from EVIDENCE_MAX_FILE_MB and EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES, as the portal reads them.

Environment: CLAMD (the binary; default clamd on PATH or /usr/sbin/clamd), CLAMD_PORT (a TCP port
on 127.0.0.1 as well as the Unix socket; default none). Exit status 3 means clamd is not installed.
Only the standard library is used, so any Python 3.10 or newer runs it before the virtual
environment exists.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEVELOPMENT_DATABASE = HERE / "development.ndb"
FRESHCLAM_DIR = Path("/var/lib/clamav")
INSTALL_COMMAND = "sudo apt-get install -y clamav-daemon clamav"
WAIT_SECONDS = 60.0
NOT_INSTALLED = 3
MiB = 1024 * 1024


class ClamdError(RuntimeError):
    """clamd could not be started; the message says why and what to do."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


@dataclass(frozen=True)
class Daemon:
    url: str
    directory: Path
    development_signatures: bool
    started_here: bool


def clamd_binary() -> Path | None:
    found = os.environ.get("CLAMD") or shutil.which("clamd") or "/usr/sbin/clamd"
    return Path(found) if Path(found).is_file() else None


def freshclam_databases(directory: Path | None = None) -> list[Path]:
    """freshclam's signature files, when the full database is installed."""
    directory = FRESHCLAM_DIR if directory is None else directory
    return sorted(p for pattern in ("*.cvd", "*.cld") for p in directory.glob(pattern))


def limits(environ: dict[str, str] | None = None) -> dict[str, int]:
    """clamd's limits in MiB, at least what the portal accepts (the same defaults as settings)."""
    environ = os.environ if environ is None else environ
    file_mb = int(environ.get("EVIDENCE_MAX_FILE_MB") or 250)
    zip_mb = -(-int(environ.get("EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES") or 1024**3) // MiB)
    # MaxScanSize counts an archive's own bytes plus everything extracted from it.
    return {"stream_max": file_mb + 1, "file_max": max(file_mb, zip_mb) + 1, "scan_max": file_mb + zip_mb + 1}


def ping(url: str, timeout: float = 2.0) -> bool:
    """True when a clamd answers PONG at unix:///path or tcp://host:port."""
    return _command(url, b"zPING\0", timeout) == "PONG"


def version(url: str, timeout: float = 2.0) -> str:
    """clamd's VERSION answer: "ClamAV 1.4.6/27480/Fri Dec  5 ..." names the signature database's
    version; a daemon with only local signatures answers "ClamAV 1.4.6"."""
    return _command(url, b"zVERSION\0", timeout)


def has_official_signatures(url: str) -> bool:
    return "/" in version(url)


def _command(url: str, command: bytes, timeout: float) -> str:
    try:
        if url.startswith("unix://"):
            family, address = socket.AF_UNIX, url.removeprefix("unix://")
        elif url.startswith("tcp://"):
            host, _, port = url.removeprefix("tcp://").rstrip("/").rpartition(":")
            family, address = socket.AF_INET, (host, int(port))
        else:
            return ""
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(address)
            conn.sendall(command)
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
                if answer.endswith(b"\0"):
                    break
        return answer.rstrip(b"\0\n").decode(errors="replace")
    except (OSError, ValueError):
        return ""


def log_tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-15:])
    except OSError:
        return "(no log)"


def write_config(directory: Path, *, development: bool, tcp_port: int | None = None) -> Path:
    """Write DIR/clamd.conf; returns the signature directory it names."""
    directory.mkdir(parents=True, exist_ok=True)
    if development or not freshclam_databases():
        database = directory / "db"
        database.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEVELOPMENT_DATABASE, database / DEVELOPMENT_DATABASE.name)
    else:
        database = FRESHCLAM_DIR
    tcp = f"TCPSocket {tcp_port}\nTCPAddr 127.0.0.1" if tcp_port else "# no TCP socket"
    sizes = {name: f"{mb}M" for name, mb in limits().items()}
    config = (HERE / "clamd.conf.in").read_text().format(dir=directory, database=database, tcp=tcp, **sizes)
    (directory / "clamd.conf").write_text(config)
    return database


def start(directory: Path, *, development: bool = False, tcp_port: int | None = None) -> Daemon:
    """Start clamd in `directory` (or find the one already answering there) and wait for PONG."""
    directory = directory.resolve()
    url = f"unix://{directory / 'clamd.sock'}"
    if ping(url):
        return Daemon(url, directory, not has_official_signatures(url), started_here=False)
    binary = clamd_binary()
    if binary is None:
        raise ClamdError(f"clamd is not installed. Install it with:\n    {INSTALL_COMMAND}", NOT_INSTALLED)
    directory.mkdir(parents=True, exist_ok=True)
    database = write_config(directory, development=development, tcp_port=tcp_port)
    # A clamd that died leaves its pid file and socket behind; neither answers, so both go.
    (directory / "clamd.pid").unlink(missing_ok=True)
    (directory / "clamd.sock").unlink(missing_ok=True)
    started = subprocess.run(  # noqa: S603  the system's clamd with the config written above
        [str(binary), "-c", str(directory / "clamd.conf")], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        raise ClamdError(
            f"clamd failed to start ({started.returncode}): {started.stderr.strip()}\n"
            + log_tail(directory / "clamd.log")
        )
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if ping(url):
            return Daemon(url, directory, database != FRESHCLAM_DIR, started_here=True)
        time.sleep(0.1)
    stop(directory)
    raise ClamdError(f"clamd did not answer PING within {WAIT_SECONDS:.0f} s\n" + log_tail(directory / "clamd.log"))


def stop(directory: Path, timeout: float = 10.0) -> bool:
    """Stop the clamd whose pid file is in `directory`; True when one was running."""
    pid_file = directory / "clamd.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    (directory / "clamd.sock").unlink(missing_ok=True)
    return True


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="nir_portal/clamav/daemon.py", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("directory", nargs="?", default=".data/clamd")
    parser.add_argument("--development", action="store_true", help="use the development signatures only")
    args = parser.parse_intermixed_args(argv)
    directory = Path(args.directory).resolve()
    if args.action == "stop":
        stop(directory)
        return 0
    port = int(os.environ.get("CLAMD_PORT") or 0) or None
    try:
        daemon = start(directory, development=args.development, tcp_port=port)
    except ClamdError as error:
        print(error, file=sys.stderr)
        return error.exit_status
    kind = "development signatures (test files only)" if daemon.development_signatures else "freshclam signatures"
    print(f"clamd answering at {daemon.url} with {kind}", file=sys.stderr)
    print(daemon.url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
