"""Behind the proxy the client's own address is used, by the sign-in limits, the public bundle-check
limit and the audit trail alike; addresses a client writes into X-Forwarded-For are not believed."""

import io

import pytest
from django.test import RequestFactory
from django.urls import reverse

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.client_ip import client_ip
from safety import cscr_views
from tests import factories

PROXY = "10.0.0.5"  # the proxy, as the portal's socket sees it
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.23"
FORGED = "192.0.2.66"


def request_from(forwarded_for: str | None = None, remote_addr: str = PROXY):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "remote_addr", "expected"),
    [
        # No trusted proxy: the header is the client's to write, so it is ignored.
        (0, None, CLIENT, CLIENT),
        (0, FORGED, CLIENT, CLIENT),
        # One proxy: it appends the address it was reached from; the client's own entries come first.
        (1, CLIENT, PROXY, CLIENT),
        (1, f"{FORGED}, {CLIENT}", PROXY, CLIENT),
        (1, f"{FORGED}, 192.0.2.67, {CLIENT}", PROXY, CLIENT),
        # Two proxies: the outer one's entry is the client, the inner one's is the outer proxy.
        (2, f"{FORGED}, {CLIENT}, 10.0.0.9", PROXY, CLIENT),
        # Fewer entries than trusted proxies: the request bypassed one, so only the peer is a fact.
        (2, CLIENT, PROXY, PROXY),
        # A proxy that added nothing (a direct request to the web process): the peer.
        (1, None, OTHER_CLIENT, OTHER_CLIENT),
        # IPv6.
        (1, f"{FORGED}, 2001:db8::1", PROXY, "2001:db8::1"),
        # Not an address at all.
        (1, "not-an-address", PROXY, None),
    ],
)
def test_the_client_address_is_taken_from_the_trusted_end_of_the_header(
    settings, trusted, forwarded_for, remote_addr, expected
):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = trusted

    assert client_ip(request_from(forwarded_for, remote_addr)) == expected


# --- The audit trail ------------------------------------------------------------------------------


def test_the_audit_trail_records_the_client_behind_the_proxy_not_the_proxy(world, client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    user = world.member(world.trust_a, Role.VIEWER)

    client.post(
        reverse("account_login"),
        {"login": user.email, "password": "not-the-password"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"{FORGED}, {CLIENT}",
    )

    event = AuditEvent.objects.get(action="auth.sign_in", outcome=AuditEvent.Outcome.FAILURE)
    assert event.ip_address == CLIENT


def test_without_a_trusted_proxy_a_forwarded_address_is_not_recorded(world, client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    user = world.member(world.trust_a, Role.VIEWER)

    client.post(
        reverse("account_login"),
        {"login": user.email, "password": "not-the-password"},
        REMOTE_ADDR=CLIENT,
        HTTP_X_FORWARDED_FOR=FORGED,
    )

    assert AuditEvent.objects.get(action="auth.sign_in").ip_address == CLIENT


# --- Sign-in limits ---------------------------------------------------------------------------------


def fail_sign_in(client, email: str, forwarded_for: str):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": "not-the-password"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_the_per_address_sign_in_limit_counts_each_client_behind_the_proxy_apart(world, client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "2/5m/ip"}
    first, second = (world.member(world.trust_a, Role.VIEWER) for _ in range(2))
    for _ in range(2):
        fail_sign_in(client, first.email, CLIENT)

    # The client is blocked, even when it forges other addresses in front of its own ...
    blocked = fail_sign_in(client, second.email, f"{FORGED}, {CLIENT}")
    assert "Too many failed login attempts" in blocked.content.decode()
    # ... while another person behind the same proxy is not.
    response = client.post(
        reverse("account_login"),
        {"login": second.email, "password": factories.PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=OTHER_CLIENT,
    )
    assert response.status_code == 302


def test_without_a_trusted_proxy_forged_addresses_do_not_escape_the_sign_in_limit(world, client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "2/5m/ip"}
    first, second = (world.member(world.trust_a, Role.VIEWER) for _ in range(2))
    for forged in ("192.0.2.1", "192.0.2.2"):
        fail_sign_in(client, first.email, forged)

    response = fail_sign_in(client, second.email, "192.0.2.3")

    assert "Too many failed login attempts" in response.content.decode()


# --- The public bundle check -------------------------------------------------------------------------


def check_a_bundle(client, forwarded_for: str):
    upload = io.BytesIO(b"not a bundle")
    upload.name = "bundle.zip"
    return client.post(
        reverse("cscr:verify"), {"bundle": upload}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for
    )


def test_the_bundle_check_limit_counts_each_client_behind_the_proxy_apart(db, client, settings, monkeypatch):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(cscr_views, "VERIFY_RATE_LIMIT", 2)
    for _ in range(2):
        assert "Too many bundles" not in check_a_bundle(client, CLIENT).content.decode()

    assert "Too many bundles" in check_a_bundle(client, f"{FORGED}, {CLIENT}").content.decode()
    assert "Too many bundles" not in check_a_bundle(client, OTHER_CLIENT).content.decode()
