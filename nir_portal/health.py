"""Liveness and readiness: every dependency the portal needs, each checked for real.

The answer names each dependency with its state ("ok", or "error: <kind of failure>", never an
address or a credential). Without the database, the cache or the broker the portal cannot serve
or record anything: status "unavailable", HTTP 503, so a proxy or orchestrator takes the process
out of service. Without the malware scanner or the evidence storage, pages still work and uploads
wait safely in quarantine until it is back: status "degraded", HTTP 200, so the process stays in
service (restarting it would not bring the scanner back), while the JSON says what is missing.
"""

import os

from celery import current_app
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from nir_portal.clamav import daemon as clamav_daemon

SCANNER_TIMEOUT_SECONDS = 2.0
EVIDENCE_STORAGE = "evidence"  # the alias in settings.STORAGES that onboarding's uploads use


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")


def _check_broker() -> None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_scanner() -> None:
    if not clamav_daemon.ping(settings.CLAMAV_URL, timeout=SCANNER_TIMEOUT_SECONDS):
        raise ConnectionError("clamd did not answer PING")


def _check_storage() -> None:
    storage = storages[EVIDENCE_STORAGE]
    if isinstance(storage, FileSystemStorage):
        # The folder is created on the first upload; what matters is that it can be.
        location = storage.location
        while not os.path.exists(location):
            location = os.path.dirname(location)
        if not os.path.isdir(location):
            raise NotADirectoryError("evidence folder is blocked by a file")
        if not os.access(location, os.W_OK | os.X_OK):
            raise PermissionError("evidence folder is not writable")
    else:
        storage.exists("healthz")  # a round trip to the object store, credentials included


CRITICAL = (("database", _check_database), ("cache", _check_cache), ("broker", _check_broker))
NON_CRITICAL = (("scanner", _check_scanner), ("storage", _check_storage))


def _run(check) -> str:
    try:
        check()
    except Exception as exc:  # noqa: BLE001  (any failure is reported, never raised)
        return f"error: {exc.__class__.__name__}"
    return "ok"


@login_not_required
@never_cache
@require_GET
def healthz(request):
    critical = {name: _run(check) for name, check in CRITICAL}
    non_critical = {name: _run(check) for name, check in NON_CRITICAL}
    if any(state != "ok" for state in critical.values()):
        status, code = "unavailable", 503
    elif any(state != "ok" for state in non_critical.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JsonResponse({"status": status, "checks": {**critical, **non_critical}}, status=code)
