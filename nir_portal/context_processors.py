"""Template context every page needs, whatever app renders it."""

from django.conf import settings


def malware_signatures(request) -> dict:
    """Whether uploads are scanned with the development signatures only (base.html's banner)."""
    return {"development_malware_signatures": settings.CLAMAV_DEVELOPMENT_SIGNATURES}
