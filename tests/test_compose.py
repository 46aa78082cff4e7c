"""docker/compose.yaml as `docker-compose config` resolves it: every setting the README lists reaches
the portal's processes, the signing key and passphrase arrive as secret files, and ClamAV accepts
files as large as the portal does."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.conftest import require

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = BASE_DIR / "docker" / "compose.yaml"
CLAMD_CONF = BASE_DIR / "docker" / "clamav" / "clamd.conf"
PORTAL_PROCESSES = ("web", "worker", "beat", "migrate")

# README variables that the compose file deliberately does not pass, and why.
NOT_FOR_CONTAINERS = {
    "CI": "test runs only",
    "CLAMAV_DEVELOPMENT_SIGNATURES": "set by make run from its own clamd's answer, never by hand",
    "NIR_TESTING": "test runs only",
    "NIR_DATA_DIR": "the embedded PostgreSQL of make run",
    "PORT": "the published port is set in ports:, the image listens on 8000",
    "STATIC_ROOT": "fixed in the image, where collectstatic ran at build",
    "MEDIA_ROOT": "fixed in the image, on the media volume",
    "CELERY_BEAT_SCHEDULE": "fixed in the image, on the beat-schedule volume",
    "CELERY_FILESYSTEM_BROKER_DIR": "the filesystem broker is for make run; compose runs Redis",
    "CSCR_SIGNING_PASSPHRASE": "comes as a secret file (CSCR_SIGNING_PASSPHRASE_FILE)",
    "CSCR_SIGNING_KEY_FILE": "the key comes as a PKCS#12 secret (CSCR_SIGNING_PKCS12_FILE)",
    "CSCR_SIGNING_CERT_FILE": "the key comes as a PKCS#12 secret (CSCR_SIGNING_PKCS12_FILE)",
}


def readme_variables() -> set[str]:
    readme = (BASE_DIR / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| Variable | Meaning") : readme.index("## How it runs in production")]
    names: set[str] = set()
    for line in table.splitlines()[2:]:
        if line.startswith("|"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


@pytest.fixture(scope="module")
def resolved() -> dict:
    require(
        shutil.which("docker-compose") is not None, "docker-compose is not installed (apt-get install docker-compose)"
    )
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "example", "SECRET_KEY": "k" * 64},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_every_readme_setting_reaches_every_portal_process(resolved):
    expected = readme_variables() - set(NOT_FOR_CONTAINERS)
    assert {"DASHBOARD_CACHE_SECONDS", "ALLAUTH_TRUSTED_PROXY_COUNT", "CSCR_TSA_URL"} <= expected

    for name in PORTAL_PROCESSES:
        environment = resolved["services"][name]["environment"]
        missing = sorted(expected - set(environment))
        assert not missing, f"{name} is not given: {missing}"


def test_the_exceptions_name_only_readme_settings(resolved):
    assert set(NOT_FOR_CONTAINERS) <= readme_variables()


def test_the_signing_key_and_passphrase_are_secret_files_of_web_and_worker(resolved):
    assert set(resolved["secrets"]) == {"cscr_signing_pkcs12", "cscr_signing_passphrase"}
    assert all("file" in secret for secret in resolved["secrets"].values())
    for name in ("web", "worker"):
        service = resolved["services"][name]
        assert {s["source"] if isinstance(s, dict) else s for s in service["secrets"]} == set(resolved["secrets"])
        environment = service["environment"]
        assert environment["CSCR_SIGNING_PKCS12_FILE"] == "/run/secrets/cscr_signing_pkcs12"
        assert environment["CSCR_SIGNING_PASSPHRASE_FILE"] == "/run/secrets/cscr_signing_passphrase"
        assert "CSCR_SIGNING_PASSPHRASE" not in environment
    assert "secrets" not in resolved["services"]["beat"]


def test_clamav_gets_the_portals_configuration(resolved):
    volumes = resolved["services"]["clamav"]["volumes"]
    mounted = [v for v in volumes if str(v).endswith("/etc/clamav/clamd.conf:ro") or "clamd.conf" in str(v)]
    assert mounted, volumes


def clamd_limit(name: str) -> int:
    match = re.search(rf"^{name}\s+(\d+)([KM]?)\s*$", CLAMD_CONF.read_text(encoding="utf-8"), re.M)
    assert match, f"{name} is not set in {CLAMD_CONF.name}"
    number, unit = int(match.group(1)), match.group(2)
    return number * {"": 1, "K": 1024, "M": 1024 * 1024}[unit]


def test_clamav_limits_are_at_least_the_portals_upload_limits():
    for name in ("StreamMaxLength", "MaxFileSize", "MaxScanSize"):
        assert clamd_limit(name) >= settings.EVIDENCE_MAX_FILE_BYTES, name
    assert clamd_limit("MaxScanSize") >= settings.EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES
    assert clamd_limit("MaxFiles") >= settings.EVIDENCE_ZIP_MAX_ENTRIES
