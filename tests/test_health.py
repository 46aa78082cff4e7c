"""/healthz: open to monitoring without an account, and honest about which dependency is down.

503 "unavailable" when the database, cache or broker is down; 200 "degraded" when only the
malware scanner or the evidence storage is; 200 "ok" when everything answers."""

import socket

import pytest
from celery import current_app
from django.test import override_settings
from django.urls import reverse

from nir_portal.celery import app as celery_app
from tests.conftest import require


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_required(settings):
    require(bool(settings.REDIS_URL), "REDIS_URL is not set: the broker and cache checks need Redis")


@pytest.fixture
def scanner(clamd_urls, settings):
    settings.CLAMAV_URL = clamd_urls[0]


@pytest.fixture
def evidence_folder(settings, tmp_path):
    location = tmp_path / "evidence"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


ALL_OK = {"database": "ok", "cache": "ok", "broker": "ok", "scanner": "ok", "storage": "ok"}


def test_healthz_is_ok_when_every_dependency_answers(client, db, redis_required, scanner, evidence_folder):
    assert current_app.conf.broker_url.startswith("redis://")

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_degraded_and_names_the_scanner_when_clamd_does_not_answer(client, db, settings, evidence_folder):
    port = closed_port()
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{port}"

    response = client.get(reverse("healthz"))

    assert response.status_code == 200  # the portal still serves; uploads wait in quarantine
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {**ALL_OK, "scanner": "error: ConnectionError"}
    assert str(port) not in response.content.decode()


def test_healthz_is_degraded_and_names_the_storage_when_the_evidence_folder_cannot_be_written(
    client, db, settings, scanner, tmp_path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the evidence folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker / "evidence"},
        },
    }

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {**ALL_OK, "storage": "error: NotADirectoryError"}}


def test_healthz_is_503_when_the_broker_is_down_even_if_the_scanner_is_down_too(
    client, db, redis_required, settings, monkeypatch, evidence_folder
):
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{closed_port()}"
    unreachable = f"redis://127.0.0.1:{closed_port()}/0"
    real_connection_for_write = celery_app.connection_for_write
    monkeypatch.setattr(celery_app, "connection_for_write", lambda *a, **kw: real_connection_for_write(unreachable))

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"].startswith("error: ")
    assert body["checks"]["scanner"] == "error: ConnectionError"
    assert body["checks"]["database"] == "ok"


def test_healthz_is_503_and_names_the_broker_when_the_broker_is_unreachable(client, db, redis_required, monkeypatch):
    assert current_app._get_current_object() is celery_app
    port = closed_port()
    unreachable = f"redis://:broker-password@127.0.0.1:{port}/0"
    real_connection_for_write = celery_app.connection_for_write
    monkeypatch.setattr(celery_app, "connection_for_write", lambda *a, **kw: real_connection_for_write(unreachable))

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
    # Only the kind of failure is shown, never the address or its credentials.
    assert "broker-password" not in response.content.decode()
    assert str(port) not in response.content.decode()


def test_healthz_is_503_and_names_the_cache_when_the_cache_is_unreachable(client, db, redis_required):
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    with override_settings(CACHES=unreachable):
        response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("error: ")
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_answers_anonymous_visitors_without_sending_them_to_sign_in(client, db):
    response = client.get(reverse("healthz"))

    assert response.status_code in (200, 503)
    assert response["Content-Type"] == "application/json"


def test_healthz_only_answers_get(client, db):
    assert client.post(reverse("healthz")).status_code == 405
