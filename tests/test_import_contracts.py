"""The import contracts in pyproject.toml (run by `make lint`) hold on the code, and break on a
back-arrow: checked on a copy of the apps with one violating import added."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("dashboards", "safety", "certificates", "onboarding", "nir_portal")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_of_the_apps(tmp_path: Path) -> Path:
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "300"},  # one line per contract in the report
    )


def test_the_contracts_hold_on_the_code_as_it_is(tmp_path):
    result = _lint_imports(_copy_of_the_apps(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "back_arrow", "contract"),
    [
        ("onboarding/services/deployments.py", "from safety import services as _back_arrow", "Apps depend only"),
        ("nir_portal/views.py", "from onboarding import selectors as _back_arrow", "Apps depend only"),
        ("safety/selectors.py", "from dashboards import selectors as _back_arrow", "Apps depend only"),
        ("onboarding/services/evidence/review.py", "from onboarding import tasks as _back_arrow", "Inside onboarding"),
        ("onboarding/selectors.py", "from onboarding.services import deployments as _back_arrow", "Inside onboarding"),
        ("safety/cscr_services.py", "from safety import tasks as _back_arrow", "Inside safety"),
        ("dashboards/services.py", "from dashboards import tasks as _back_arrow", "Inside dashboards"),
        ("certificates/models.py", "from safety import models as _back_arrow", "Apps depend only"),
        ("onboarding/models/deployments.py", "from certificates import models as _back_arrow", "Apps depend only"),
        ("certificates/services.py", "from certificates import tasks as _back_arrow", "Inside certificates"),
    ],
)
def test_an_import_against_the_arrows_breaks_its_contract(tmp_path, module, back_arrow, contract):
    copy = _copy_of_the_apps(tmp_path)
    with (copy / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{back_arrow}\n")

    result = _lint_imports(copy)

    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
