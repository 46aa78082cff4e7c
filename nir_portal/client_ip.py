"""The address of the person making a request, as opposed to the proxy in front of the portal.

Behind N trusted proxies (ALLAUTH_TRUSTED_PROXY_COUNT), the client is the Nth address from the
right of X-Forwarded-For: each trusted proxy appends the address it was reached from, so anything
further left was written by the client and may be forged. With no trusted proxy the header is
ignored and the socket's address is the client's. Sign-in limits (through the account adapter),
the public bundle-verify limit and the audit trail all use this one function.
"""

import logging

from allauth.core.internal.httpkit import clean_client_ip, get_client_ip
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    try:
        return get_client_ip(request)
    except ImproperlyConfigured:
        # Fewer X-Forwarded-For entries than trusted proxies: the request did not pass through all of
        # them, so nothing in the header can be trusted. The nearest peer is the only fact left, and
        # limits keyed on it are stricter, not looser.
        logger.warning("X-Forwarded-For has fewer entries than ALLAUTH_TRUSTED_PROXY_COUNT; using the peer address")
        peer = request.META.get("REMOTE_ADDR")
        return clean_client_ip(peer) if peer else None
