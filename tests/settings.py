"""Test settings: the production module with test-only relaxations, selected by NIR_TESTING."""

import os

os.environ["NIR_TESTING"] = "true"

from nir_portal.settings import *  # noqa: F403

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
MEDIA_ROOT = BASE_DIR / ".data" / "test-media"  # noqa: F405
