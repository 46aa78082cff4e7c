"""Production settings, loaded in a fresh interpreter as a real start would load them: without the
test module and with only the environment each case gives."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(48)[:64],
    "ALLOWED_HOSTS": "nir.example.nhs.uk",
    "DATABASE_URL": "postgres://portal@db.example.invalid:5432/nir_portal",
}


@pytest.fixture(autouse=True)
def _no_dotenv():
    # The settings read a developer's .env for variables the environment leaves unset, which would
    # decide these cases instead of the defaults under test.
    require(not (BASE_DIR / ".env").exists(), "a .env file in the repository root overrides the defaults under test")


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run the project's Python with a minimal environment: nothing but what the case sets."""
    clean = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ}
    clean["DJANGO_SETTINGS_MODULE"] = "nir_portal.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def settings_values(*names: str, **env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = run(["-c", code], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_production_start_without_a_secret_key_is_refused_with_a_clear_message():
    result = run(["-c", "import django; django.setup()"])

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off" in result.stderr


def test_a_short_secret_key_is_refused_too():
    result = run(["-c", "import django; django.setup()"], SECRET_KEY="too-short")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_manage_py_check_is_refused_without_a_secret_key():
    result = run(["manage.py", "check"])

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_is_off_by_default_and_production_defaults_are_the_safe_ones():
    values = settings_values(
        "DEBUG",
        "TESTING",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "ALLOWED_HOSTS",
        "MAILERS",
        SECRET_KEY=PRODUCTION["SECRET_KEY"],
    )

    assert values["DEBUG"] is False
    assert values["TESTING"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["ALLOWED_HOSTS"] == []
    # Console mail would print password-set links into the logs.
    assert "console" not in values["MAILERS"]["default"]["BACKEND"]


def test_production_settings_pass_the_deployment_checklist():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deployment_checklist_fails_when_debug_is_on():
    # The check above is meaningful only if it can fail.
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **{**PRODUCTION, "DEBUG": "true"})

    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


def test_celery_never_redelivers_a_task_that_is_still_running():
    values = settings_values(
        "CELERY_TASK_ACKS_LATE",
        "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_WORKER_PREFETCH_MULTIPLIER",
        "CELERY_TASK_SOFT_TIME_LIMIT",
        "CELERY_TASK_TIME_LIMIT",
        "CELERY_BROKER_URL",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        **PRODUCTION,
        REDIS_URL="redis://redis.example.invalid:6379/0",
    )

    assert values["CELERY_BROKER_URL"] == "redis://redis.example.invalid:6379/0"
    assert values["CELERY_TASK_ACKS_LATE"] is True
    assert values["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert values["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert values["CELERY_TASK_SOFT_TIME_LIMIT"] < values["CELERY_TASK_TIME_LIMIT"]
    # Redis redelivers an unacknowledged task after the visibility timeout; with late acks, a
    # timeout shorter than the hard limit would run a long task twice at once.
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > values["CELERY_TASK_TIME_LIMIT"]
