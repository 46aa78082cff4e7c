"""Fixtures shared by the onboarding tests: the published framework, people by role on the
`world` deployments, and a real ClamAV daemon."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nir_portal.accounts.models import Role
from onboarding import scanning
from onboarding.models import Deployment
from onboarding.services.framework import framework_load
from tests.conftest import require

FRAMEWORK_FILE = Path(__file__).resolve().parents[2] / "onboarding" / "data" / "framework.json"

START_CLAMD = Path(__file__).resolve().parents[1] / "clamd" / "start-clamd"


def _answers(url: str) -> bool:
    try:
        return scanning.clamd_client(url, timeout=2).ping() == "PONG"
    except Exception:  # noqa: BLE001  any failure means "not usable"
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def clamd_urls(tmp_path_factory) -> list[str]:
    """URLs of a clamd that answers PING: CLAMAV_URL from the environment, or one started here."""
    from_env = os.environ.get("CLAMAV_URL", "")
    if from_env and _answers(from_env):
        yield [from_env]
        return
    clamd = os.environ.get("CLAMD") or shutil.which("clamd") or "/usr/sbin/clamd"
    require(Path(clamd).is_file(), "clamd is not installed (apt-get install -y clamav-daemon)")
    directory = tmp_path_factory.mktemp("clamd")
    port = free_port()
    started = subprocess.run(
        [sys.executable, str(START_CLAMD), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CLAMD_PORT": str(port)},
    )
    require(started.returncode == 0, f"tests/clamd/start-clamd failed: {started.stderr.strip()}")
    try:
        yield [started.stdout.strip(), f"tcp://127.0.0.1:{port}"]
    finally:
        pid_file = directory / "clamd.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


@pytest.fixture
def clamd_url(clamd_urls, settings) -> str:
    settings.CLAMAV_URL = clamd_urls[0]
    return clamd_urls[0]


@pytest.fixture
def framework(db):
    framework, _ = framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text()), publish=True)
    return framework


@pytest.fixture
def people(world, framework):
    Deployment.objects.update(framework=framework)
    return {
        "supplier_lead": world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        "cso_a": world.member(world.trust_a, Role.CSO),
        "cso_b": world.member(world.trust_b, Role.CSO),
        "lead_a": world.member(world.trust_a, Role.DEPLOYMENT_LEAD),
        "lead_b": world.member(world.trust_b, Role.DEPLOYMENT_LEAD),
        "national_reviewer": world.member(world.national, Role.NATIONAL_REVIEWER),
    }
