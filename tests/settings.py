"""Test settings: the production module with test-only relaxations, selected by NIR_TESTING."""

import os

os.environ["NIR_TESTING"] = "true"

from nir_portal.settings import *  # noqa: F403

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
MEDIA_ROOT = BASE_DIR / ".data" / "test-media"  # noqa: F405
STORAGES["evidence"]["OPTIONS"]["location"] = MEDIA_ROOT / "evidence"  # noqa: F405

# The tests clear the cache around each test (FLUSHDB). Under pytest-xdist each worker's cache
# therefore gets a Redis database of its own, apart from the Celery broker's queues, so that one
# worker never wipes another's rate-limit counters or a worker test's queued task.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _worker:  # noqa: F405
    from urllib.parse import urlsplit, urlunsplit

    _cache_db = 10 + int(_worker.removeprefix("gw") or 0) % 6
    CACHES["default"]["LOCATION"] = urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{_cache_db}"))  # noqa: F405
