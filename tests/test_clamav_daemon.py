"""The clamd that `make run`, the tests and CI start (nir_portal/clamav/daemon.py), how `make run`
chooses its scanner, and the prerequisites check that runs before anything is built."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nir_portal import embedded, prerequisites
from nir_portal.clamav import daemon as clamav_daemon
from tests.conftest import free_port, require, start_clamd

BASE_DIR = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def config_values(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def megabytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)M", value)
    assert match, f"{value!r} is not in megabytes"
    return int(match[1])


@pytest.fixture
def no_clamd(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAMD", str(tmp_path / "no-such-clamd"))  # named explicitly, and missing


# --- the configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("file_mb", "zip_bytes"), [(None, None), ("250", str(1024**3)), ("600", str(100 * MiB))])
def test_clamd_scans_every_file_the_portal_accepts_whole(settings, tmp_path, monkeypatch, file_mb, zip_bytes):
    for name, value in (("EVIDENCE_MAX_FILE_MB", file_mb), ("EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES", zip_bytes)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    max_file = int(file_mb) * MiB if file_mb else settings.EVIDENCE_MAX_FILE_BYTES
    max_zip = int(zip_bytes) if zip_bytes else settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES

    clamav_daemon.write_config(tmp_path, development=True)

    config = config_values(tmp_path / "clamd.conf")
    assert megabytes(config["StreamMaxLength"]) * MiB >= max_file
    assert megabytes(config["MaxFileSize"]) * MiB >= max(max_file, max_zip)
    assert megabytes(config["MaxScanSize"]) * MiB >= max_file + max_zip  # the archive and what it holds
    assert config["AlertExceedsMax"] == "yes"  # a file over a limit is reported, never passed


def test_the_development_signatures_are_used_when_no_freshclam_database_is_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(clamav_daemon, "FRESHCLAM_DIR", tmp_path / "freshclam")
    (tmp_path / "freshclam").mkdir()

    database = clamav_daemon.write_config(tmp_path / "clamd", development=False)

    assert database == tmp_path / "clamd" / "db"
    assert (database / "development.ndb").read_bytes() == clamav_daemon.DEVELOPMENT_DATABASE.read_bytes()
    assert config_values(tmp_path / "clamd" / "clamd.conf")["DatabaseDirectory"] == str(database)


def test_freshclam_signatures_are_used_when_installed(tmp_path, monkeypatch):
    freshclam = tmp_path / "freshclam"
    freshclam.mkdir()
    (freshclam / "main.cvd").write_bytes(b"ClamAV-VDB:")
    monkeypatch.setattr(clamav_daemon, "FRESHCLAM_DIR", freshclam)

    assert clamav_daemon.freshclam_databases(freshclam) == [freshclam / "main.cvd"]
    database = clamav_daemon.write_config(tmp_path / "clamd", development=False)

    assert database == freshclam
    assert config_values(tmp_path / "clamd" / "clamd.conf")["DatabaseDirectory"] == str(freshclam)


# --- a real clamd ----------------------------------------------------------------------------------


@pytest.mark.clamd
def test_a_clamd_started_on_the_development_signatures_answers_says_so_and_stops(tmp_path):
    directory = tmp_path / "clamd"
    daemon = start_clamd(directory)
    try:
        assert daemon.started_here and daemon.development_signatures
        assert clamav_daemon.ping(daemon.url)
        assert not clamav_daemon.has_official_signatures(daemon.url)
        # Starting again finds the one already answering rather than a second daemon.
        assert clamav_daemon.start(directory, development=True).started_here is False
    finally:
        assert clamav_daemon.stop(directory)
    assert not clamav_daemon.ping(daemon.url)
    assert not (directory / "clamd.pid").exists()


def test_without_clamd_installed_starting_one_fails_with_the_command_that_installs_it(tmp_path, no_clamd):
    with pytest.raises(clamav_daemon.ClamdError) as raised:
        clamav_daemon.start(tmp_path / "clamd")

    assert raised.value.exit_status == clamav_daemon.NOT_INSTALLED
    assert "sudo apt-get install -y clamav-daemon clamav" in str(raised.value)


# --- how make run chooses its scanner ----------------------------------------------------------------


@pytest.mark.clamd
def test_make_run_uses_a_clamd_already_answering_at_clamav_url(clamd_urls, tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path)

    env, started = embedded.scanner_environment({"CLAMAV_URL": clamd_urls[0]})

    assert started is None  # not its own: nothing to stop afterwards
    assert env["CLAMAV_URL"] == clamd_urls[0]
    expected = "false" if clamav_daemon.has_official_signatures(clamd_urls[0]) else "true"
    assert env["CLAMAV_DEVELOPMENT_SIGNATURES"] == expected


@pytest.mark.clamd
def test_make_run_starts_its_own_clamd_when_none_answers_and_flags_development_signatures(tmp_path, monkeypatch):
    require(clamav_daemon.clamd_binary() is not None, "clamd is not installed")
    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path)
    monkeypatch.setattr(clamav_daemon, "FRESHCLAM_DIR", tmp_path / "no-freshclam")

    env, started = embedded.scanner_environment({"CLAMAV_URL": f"tcp://127.0.0.1:{free_port()}"})
    try:
        assert started == tmp_path / "clamd"
        assert env["CLAMAV_URL"] == f"unix://{tmp_path / 'clamd' / 'clamd.sock'}"
        assert clamav_daemon.ping(env["CLAMAV_URL"])
        assert env["CLAMAV_DEVELOPMENT_SIGNATURES"] == "true"
    finally:
        clamav_daemon.stop(tmp_path / "clamd")


def test_make_run_refuses_to_start_without_clamd_and_names_the_install_command(tmp_path):
    env = {
        **os.environ,
        "CLAMD": str(tmp_path / "no-such-clamd"),
        "CLAMAV_URL": f"tcp://127.0.0.1:{free_port()}",
        "NIR_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    done = subprocess.run(
        [sys.executable, "-m", "nir_portal.embedded", "run"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == clamav_daemon.NOT_INSTALLED, done.stderr
    assert "cannot scan uploads, so it was not started" in done.stderr
    assert "sudo apt-get install -y clamav-daemon clamav" in done.stderr
    # Stopped before anything else: no database, no migrations, no server.
    assert "PostgreSQL" not in done.stdout and "migrations" not in done.stdout
    assert not (tmp_path / "data").exists()


# --- prerequisites ------------------------------------------------------------------------------------


def test_prerequisites_name_what_is_missing_and_one_command_that_installs_it(no_clamd, monkeypatch, capsys):
    monkeypatch.setenv("CLAMAV_URL", f"tcp://127.0.0.1:{free_port()}")

    status = prerequisites.main(["--python", ""])

    assert status == 1
    err = capsys.readouterr().err
    assert "Python 3.12 or newer" in err
    assert "ClamAV's daemon, clamd" in err
    (command,) = [line.strip() for line in err.splitlines() if "apt-get" in line]
    assert command.startswith("sudo apt-get install -y ")
    assert {"python3", "clamav-daemon", "clamav"} <= set(command.split()[4:])


def test_prerequisites_pass_quietly_on_a_machine_that_has_them(capsys):
    require(clamav_daemon.clamd_binary() is not None, "clamd is not installed")

    status = prerequisites.main(["--python", sys.executable])

    assert (status, capsys.readouterr().err) == (0, "")
