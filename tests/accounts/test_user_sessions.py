"""Each stored session names the person it is signed in as (`accounts.UserSession`), so signing
someone out everywhere deletes their rows and no one else's; sessions stored before the column
existed are carried over with their person, so nobody is signed out by the upgrade."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session as DjangoSession
from django.test import Client
from django.utils import timezone

from nir_portal.accounts.models import Role, UserSession
from nir_portal.accounts.services import _sessions_end
from nir_portal.tasks import sessions_clear_expired

carry_over = importlib.import_module("nir_portal.accounts.migrations.0003_user_session").sessions_carry_over


def signed_in(person) -> Client:
    client = Client()
    client.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_a_session_names_who_is_signed_in_and_an_anonymous_one_names_nobody(world):
    person = world.member(world.trust_a, Role.VIEWER)
    anonymous = Client()
    anonymous.get("/accounts/login/")  # the sign-in form's CSRF token is kept in a session
    anonymous_key = anonymous.session.session_key or anonymous.cookies["sessionid"].value

    client = signed_in(person)

    assert UserSession.objects.get(session_key=client.session.session_key).user == person
    assert UserSession.objects.get(session_key=anonymous_key).user is None


def test_ending_a_persons_sessions_deletes_theirs_on_every_device_and_no_one_elses(world):
    person = world.member(world.trust_a, Role.VIEWER)
    other = world.member(world.trust_a, Role.VIEWER)
    devices = [signed_in(person), signed_in(person)]
    kept = signed_in(other)

    assert _sessions_end(person) == 2

    assert not UserSession.objects.filter(user=person).exists()
    assert list(UserSession.objects.filter(user=other).values_list("session_key", flat=True)) == [
        kept.session.session_key
    ]
    for device in devices:
        assert device.get("/").status_code == 302  # back to signing in
        assert device.session.get(SESSION_KEY) is None


@pytest.mark.django_db
def test_sessions_stored_before_the_upgrade_are_carried_over_with_their_person(world):
    person = world.member(world.trust_a, Role.VIEWER)
    store = DjangoSessionStore()  # as Django's store wrote them (its signing salt names the class)
    soon = timezone.now() + timedelta(minutes=20)
    DjangoSession.objects.create(
        session_key="a" * 32, session_data=store.encode({SESSION_KEY: str(person.pk)}), expire_date=soon
    )
    DjangoSession.objects.create(session_key="b" * 32, session_data=store.encode({"csrf": "x"}), expire_date=soon)
    DjangoSession.objects.create(session_key="c" * 32, session_data="not a session", expire_date=soon)
    DjangoSession.objects.create(
        session_key="d" * 32,
        session_data=store.encode({SESSION_KEY: str(person.pk)}),
        expire_date=timezone.now() - timedelta(minutes=1),
    )

    carry_over(apps, None)

    carried = {row.session_key[0]: row for row in UserSession.objects.filter(session_key__in=[k * 32 for k in "abcd"])}
    assert set(carried) == {"a", "b", "c"}  # an expired session is left behind
    assert carried["a"].user == person and carried["a"].get_decoded()[SESSION_KEY] == str(person.pk)
    assert carried["b"].user is None and carried["c"].user is None
    assert carried["a"].expire_date == soon


def test_the_daily_task_deletes_ended_sessions_and_keeps_live_ones(world):
    person = world.member(world.trust_a, Role.VIEWER)
    live = signed_in(person)
    ended = signed_in(person)
    UserSession.objects.filter(session_key=ended.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    assert sessions_clear_expired() == 1

    assert list(UserSession.objects.values_list("session_key", flat=True)) == [live.session.session_key]
