"""The idle timeout, without writing the session on every request.

A session ends SESSION_COOKIE_AGE seconds after its last request (the idle timeout). Django's
SESSION_SAVE_EVERY_REQUEST keeps that by rewriting the session row on every request: one UPDATE per
page view, every page. Here the session store remembers the expiry its row had when it was read,
and `SlidingSessionMiddleware` saves an otherwise unchanged session only when that stored expiry is
more than SESSION_REFRESH_SECONDS behind the one a save now would give. So a session still ends
between SESSION_COOKIE_AGE - SESSION_REFRESH_SECONDS and SESSION_COOKIE_AGE seconds after its last
request: never later than with a save on every request, at most a minute sooner.

The store is Django's database store (sessions live in PostgreSQL, seen at once by every process),
keeping its rows in `accounts.UserSession`: Django's columns and the person each session is signed
in as, written from the session's data on every save, so ending a person's sessions is a DELETE of
their rows. Only the expiry a row had when read is kept besides.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

DEFAULT_REFRESH_SECONDS = 60


class SessionStore(DatabaseSessionStore):
    """The database session store, in `accounts.UserSession` rows that name the person signed in,
    remembering the expiry of the row it loaded."""

    stored_expiry = None

    @classmethod
    def get_model_class(cls):
        from nir_portal.accounts.models import UserSession

        return UserSession

    @classmethod
    def clear_expired(cls) -> int:
        """Django's `clear_expired` (as `clearsessions` runs it), saying how many rows it deleted."""
        deleted, _ = cls.get_model_class().objects.filter(expire_date__lt=timezone.now()).delete()
        return deleted

    def create_model_instance(self, data):
        row = super().create_model_instance(data)
        try:
            row.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            row.user_id = None  # not signed in
        return row

    def _get_session_from_db(self):
        stored = super()._get_session_from_db()
        self.stored_expiry = stored.expire_date if stored is not None else None
        return stored


def refresh_due(session) -> bool:
    """Whether saving this session now would move its stored expiry on by more than the refresh
    interval (or its expiry is unknown: a session not read from the database)."""
    stored = getattr(session, "stored_expiry", None)
    if stored is None:
        return True
    refresh = timedelta(seconds=getattr(settings, "SESSION_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS))
    return session.get_expiry_date(modification=timezone.now()) - stored >= refresh


class SlidingSessionMiddleware:
    """Marks an unchanged session for saving when its stored expiry has fallen behind by the
    refresh interval; Django's SessionMiddleware (listed just before it) then saves it, moving
    the expiry on to SESSION_COOKIE_AGE from now. A session changed by the request is saved anyway."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.modified or session.session_key is None or response.status_code >= 500:
            return response
        # keys() reads the row if nothing in the request has (as a save on every request did); an
        # expired or unknown session reads as empty and is left to Django.
        if session.keys() and refresh_due(session):
            session.modified = True
        return response
