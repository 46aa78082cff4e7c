"""The idle timeout kept by saving an unchanged session at most once per refresh interval
(nir_portal.sessions), not on every request."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts.models import Role
from nir_portal.accounts.models import UserSession as Session

PAGE = reverse("accessibility-statement")


def _stored_expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def _set_stored_expiry(client, expiry):
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=expiry)


def test_a_request_within_the_refresh_interval_writes_nothing(world, signed_in):
    client = signed_in(world.member(world.trust_a, Role.VIEWER))
    client.get(PAGE)
    before = _stored_expiry(client)

    with CaptureQueriesContext(connection) as queries:
        assert client.get(PAGE).status_code == 200

    table = Session._meta.db_table
    assert not [q["sql"] for q in queries if table in q["sql"] and not q["sql"].startswith("SELECT")]
    assert _stored_expiry(client) == before


def test_a_request_after_the_refresh_interval_moves_the_expiry_to_the_idle_time_from_now(world, signed_in):
    client = signed_in(world.member(world.trust_a, Role.VIEWER))
    client.get(PAGE)
    # As if the last save was just over a refresh interval ago.
    behind = settings.SESSION_REFRESH_SECONDS + 5
    _set_stored_expiry(client, timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - behind))

    assert client.get(PAGE).status_code == 200

    expected = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((_stored_expiry(client) - expected).total_seconds()) < 5


def test_a_request_just_inside_the_refresh_interval_leaves_the_expiry(world, signed_in):
    client = signed_in(world.member(world.trust_a, Role.VIEWER))
    client.get(PAGE)
    behind = settings.SESSION_REFRESH_SECONDS - 10
    kept = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - behind)
    _set_stored_expiry(client, kept)

    assert client.get(PAGE).status_code == 200

    assert _stored_expiry(client) == kept


def test_a_session_idle_past_its_stored_expiry_is_signed_out(world, signed_in):
    client = signed_in(world.member(world.trust_a, Role.VIEWER))
    client.get(PAGE)
    _set_stored_expiry(client, timezone.now() - timedelta(seconds=1))

    response = client.get(reverse("onboarding:deployment-list"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_signing_out_within_the_refresh_interval_ends_the_session_at_once(world, signed_in):
    client = signed_in(world.member(world.trust_a, Role.VIEWER))
    client.get(PAGE)
    key = client.session.session_key

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
