"""Signing in through allauth: password then TOTP, forced MFA enrolment, auditing, rate limits,
password reset, recent-MFA checks, idle timeout, the admin login and closed signup."""

import re
import time
from datetime import timedelta

import pyotp
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core import mail
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts import enrolment, reauth
from nir_portal.accounts.models import Role
from nir_portal.accounts.models import UserSession as Session
from nir_portal.audit.models import AuditEvent
from tests import factories

LOGIN_URL = reverse("account_login")
MFA_URL = reverse("mfa_authenticate")
NEW_PASSWORD = "Another-Long-Passphrase-42"


def fresh_totp_code(secret: str) -> str:
    """A code for the current 30-second step, waiting out the last moments of a step so the
    server (which accepts only the current step) checks it in the same step."""
    step = 30
    if step - time.time() % step < 2:
        time.sleep(step - time.time() % step + 0.1)
    return pyotp.TOTP(secret).now()


def post_password(client, email: str, password: str = factories.PASSWORD):
    return client.post(LOGIN_URL, {"login": email, "password": password})


def give_enrolment_grant(client, user, *, age_seconds: float = 0) -> None:
    """What following the invitation's or an enrolment link's link leaves in the session (the links
    themselves are tested in test_enrolment_links.py)."""
    session = client.session
    session[enrolment.GRANT_SESSION_KEY] = {
        "user": str(user.pk),
        "until": time.time() + enrolment.GRANT_SECONDS - age_seconds,
        "via": "test",
    }
    session.save()


def sign_in_with_mfa(client, user):
    response = post_password(client, user.email)
    assert response.status_code == 302 and response.url == MFA_URL
    response = client.post(MFA_URL, {"code": fresh_totp_code(user.totp_secret)})
    assert response.status_code == 302
    return response


def signed_in_user_id(client):
    return client.session.get(SESSION_KEY)


def login_failed_limit_per_account() -> int:
    """The per-account count from ACCOUNT_RATE_LIMITS["login_failed"], e.g. 5 in "5/15m/key,20/5m/ip"."""
    for rule in settings.ACCOUNT_RATE_LIMITS["login_failed"].split(","):
        amount, _period, *kind = rule.strip().split("/")
        if kind == ["key"]:
            return int(amount)
    raise AssertionError("login_failed has no per-account (key) limit")


def _age_authentication_records(client, seconds: float) -> None:
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] = time.time() - seconds
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()


# --- Password and TOTP ------------------------------------------------------------------------


def test_a_correct_password_leads_to_the_totp_step_not_into_the_portal(world, client):
    user = world.member(world.trust_a, Role.VIEWER)

    response = post_password(client, user.email)

    assert response.status_code == 302
    assert response.url == MFA_URL
    assert signed_in_user_id(client) is None
    assert client.get(reverse("home")).status_code == 302


def test_a_valid_totp_code_completes_sign_in_and_opens_the_home_page(world, client):
    user = world.member(world.trust_a, Role.VIEWER)
    post_password(client, user.email)

    response = client.post(MFA_URL, {"code": fresh_totp_code(user.totp_secret)})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert signed_in_user_id(client) == str(user.pk)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert home.context["user"] == user


def test_a_wrong_totp_code_does_not_sign_in(world, client):
    user = world.member(world.trust_a, Role.VIEWER)
    post_password(client, user.email)
    right = fresh_totp_code(user.totp_secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = client.post(MFA_URL, {"code": wrong})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert signed_in_user_id(client) is None


def test_a_password_alone_never_opens_authenticator_set_up_but_the_use_your_link_page(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)

    response = post_password(client, user.email)
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(user.pk)

    needed = reverse("enrolment_needed")
    for path in (reverse("home"), reverse("onboarding:deployment-list"), reverse("accounts:organisation-list")):
        response = client.get(path)
        assert (response.status_code, response.url) == (302, needed), path
    for path in (
        reverse("mfa_activate_totp"),
        reverse("mfa_add_webauthn"),
        reverse("mfa_index"),
        reverse("mfa_view_recovery_codes"),
        reverse("account_reauthenticate"),
    ):
        for response in (client.get(path), client.post(path, {"code": "123456", "password": factories.PASSWORD})):
            assert (response.status_code, response.url) == (302, needed), path
    assert SECRET_SESSION_KEY not in client.session
    assert not user.authenticator_set.exists()
    page = client.get(needed)
    assert page.status_code == 200
    assert "Set up your authenticator from the link we sent" in page.content.decode()


def test_with_an_enrolment_grant_the_person_is_sent_to_totp_enrolment_from_every_page(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)

    activate = reverse("mfa_activate_totp")
    for path in (reverse("home"), reverse("onboarding:deployment-list"), reverse("accounts:organisation-list")):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url.startswith(f"{activate}?next="), path
    assert client.get(reverse("enrolment_needed")).url == activate


def test_a_grant_for_someone_else_opens_nothing(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    other = world.member(world.trust_a, Role.VIEWER, mfa=False)
    give_enrolment_grant(client, other)
    post_password(client, user.email)

    assert client.get(reverse("mfa_activate_totp")).url == reverse("enrolment_needed")


def test_an_expired_grant_opens_nothing(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user, age_seconds=enrolment.GRANT_SECONDS + 1)

    assert client.get(reverse("mfa_activate_totp")).url == reverse("enrolment_needed")


def test_right_after_signing_in_the_person_goes_straight_to_the_totp_form(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)

    response = client.get(reverse("home"), follow=True)

    assert response.status_code == 200
    assert response.resolver_match.url_name == "mfa_activate_totp"
    assert client.session[SECRET_SESSION_KEY] in response.content.decode()


def test_after_enrolling_totp_from_the_shown_secret_the_person_reaches_the_home_page(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    client.get(reverse("home"), follow=True)
    secret = client.session[SECRET_SESSION_KEY]

    response = client.post(reverse("mfa_activate_totp"), {"code": fresh_totp_code(secret)})

    assert response.status_code == 302
    assert user.authenticator_set.filter(type="totp").exists()
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert home.context["user"] == user


def test_with_a_grant_enrolling_long_after_signing_in_asks_for_no_password(world, client):
    # The grant came from the email link: a second proof of the password adds nothing, and a
    # CIS2 user has none to give.
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    _age_authentication_records(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 5)

    form = client.get(reverse("home"), follow=True)

    assert form.status_code == 200
    assert form.resolver_match.url_name == "mfa_activate_totp"


def test_enrolment_refuses_a_code_from_another_secret(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    assert client.get(reverse("mfa_activate_totp")).status_code == 200

    response = client.post(reverse("mfa_activate_totp"), {"code": fresh_totp_code(pyotp.random_base32())})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not user.authenticator_set.exists()
    assert client.get(reverse("home")).status_code == 302


# --- Auditing ----------------------------------------------------------------------------------


def test_a_failed_sign_in_is_audited_with_the_email_tried(world, client):
    user = world.member(world.trust_a, Role.VIEWER)

    post_password(client, user.email, "not-the-password")

    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor_email == user.email
    assert event.actor is None
    assert event.object_id == str(user.pk)
    assert event.ip_address == "127.0.0.1"


def test_a_failed_sign_in_for_an_unknown_email_is_audited_without_a_target(db, client):
    post_password(client, "nobody@test.nhs.uk", "not-the-password")

    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor_email == "nobody@test.nhs.uk"
    assert event.object_id == ""


def test_a_successful_sign_in_is_audited_once_mfa_is_complete(world, client):
    user = world.member(world.trust_a, Role.VIEWER)

    post_password(client, user.email)
    assert not AuditEvent.objects.filter(action="auth.sign_in").exists()
    client.post(MFA_URL, {"code": fresh_totp_code(user.totp_secret)})

    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.actor == user
    assert event.actor_email == user.email


# --- Rate limit --------------------------------------------------------------------------------


def test_after_too_many_failed_attempts_even_the_right_password_is_refused(world, client):
    user = world.member(world.trust_a, Role.VIEWER)
    limit = login_failed_limit_per_account()
    for _ in range(limit):
        assert post_password(client, user.email, "not-the-password").status_code == 200

    response = post_password(client, user.email)

    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert signed_in_user_id(client) is None
    assert MFA_URL not in response.headers.get("Location", "")


def test_failed_attempts_below_the_limit_do_not_block_the_right_password(world, client):
    user = world.member(world.trust_a, Role.VIEWER)
    for _ in range(login_failed_limit_per_account() - 1):
        post_password(client, user.email, "not-the-password")

    response = post_password(client, user.email)

    assert response.status_code == 302
    assert response.url == MFA_URL


def test_the_failed_attempt_limit_of_one_account_does_not_lock_out_another(world, client):
    target = world.member(world.trust_a, Role.VIEWER)
    other = world.member(world.trust_a, Role.VIEWER)
    for _ in range(login_failed_limit_per_account()):
        post_password(client, target.email, "not-the-password")

    response = post_password(client, other.email)

    assert response.status_code == 302
    assert response.url == MFA_URL


# --- Password reset ----------------------------------------------------------------------------


def test_a_password_reset_neither_signs_in_nor_skips_the_totp_step(world, client):
    user = world.member(world.trust_a, Role.VIEWER)

    response = client.post(reverse("account_reset_password"), {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_password_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    response = client.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert signed_in_user_id(client) is None
    assert client.get(reverse("home")).status_code == 302
    response = post_password(client, user.email, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.url == MFA_URL
    assert signed_in_user_id(client) is None


# --- Recent MFA (reauthentication) -------------------------------------------------------------


def _request_with_session(session, user):
    request = RequestFactory().get("/deployments/1/sign-off/")
    request.session = session
    request.user = user
    return request


def test_mfa_is_recent_right_after_signing_in_with_totp(world, client):
    user = world.member(world.trust_a, Role.CSO)
    sign_in_with_mfa(client, user)

    assert reauth.has_recent_mfa(_request_with_session(client.session, user))


def test_a_password_alone_does_not_count_as_recent_mfa(world, client):
    user = world.member(world.trust_a, Role.CSO)
    post_password(client, user.email)

    assert not reauth.has_recent_mfa(_request_with_session(client.session, user))


def test_mfa_older_than_the_window_is_not_recent(world, client):
    user = world.member(world.trust_a, Role.CSO)
    sign_in_with_mfa(client, user)
    window = settings.ACCOUNT_REAUTHENTICATION_TIMEOUT

    _age_authentication_records(client, window + 5)

    assert window == 300
    assert not reauth.has_recent_mfa(_request_with_session(client.session, user))


def test_mfa_just_inside_the_window_is_still_recent(world, client):
    user = world.member(world.trust_a, Role.CSO)
    sign_in_with_mfa(client, user)

    _age_authentication_records(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT - 5)

    assert reauth.has_recent_mfa(_request_with_session(client.session, user))


def _protected_view(request):
    return HttpResponse("signed off")


def test_recent_mfa_required_sends_a_stale_session_to_reauthenticate_with_next(world, client):
    user = world.member(world.trust_a, Role.CSO)
    sign_in_with_mfa(client, user)
    _age_authentication_records(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 5)

    response = reauth.recent_mfa_required(_protected_view)(_request_with_session(client.session, user))

    assert response.status_code == 302
    assert response.url == f"{reverse('mfa_reauthenticate')}?next=%2Fdeployments%2F1%2Fsign-off%2F"


def test_recent_mfa_required_lets_a_fresh_session_through(world, client):
    user = world.member(world.trust_a, Role.CSO)
    sign_in_with_mfa(client, user)

    response = reauth.recent_mfa_required(_protected_view)(_request_with_session(client.session, user))

    assert response.status_code == 200
    assert response.content == b"signed off"


def test_reauthenticating_with_a_totp_code_makes_mfa_recent(world, signed_in):
    user = world.member(world.trust_a, Role.CSO)
    client = signed_in(user)
    assert not reauth.has_recent_mfa(_request_with_session(client.session, user))

    response = client.post(reverse("mfa_reauthenticate"), {"code": fresh_totp_code(user.totp_secret)})

    assert response.status_code == 302
    assert reauth.has_recent_mfa(_request_with_session(client.session, user))


# --- Idle timeout ------------------------------------------------------------------------------


def test_each_request_pushes_the_session_expiry_forward_by_the_idle_time(world, signed_in):
    user = world.member(world.trust_a, Role.VIEWER)
    client = signed_in(user)
    client.get(reverse("home"))
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=60))

    client.get(reverse("home"))

    expiry = Session.objects.get(session_key=key).expire_date
    expected = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((expiry - expected).total_seconds()) < 10


def test_an_idle_session_past_its_expiry_is_sent_to_sign_in(world, signed_in):
    user = world.member(world.trust_a, Role.VIEWER)
    client = signed_in(user)
    assert client.get(reverse("home")).status_code == 200
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = client.get(reverse("onboarding:deployment-list"))

    assert response.status_code == 302
    assert response.url == f"{LOGIN_URL}?next={reverse('onboarding:deployment-list')}"


# --- Admin login and signup --------------------------------------------------------------------


def test_the_admin_login_page_hands_over_to_the_portal_sign_in(db, client):
    response = client.get(reverse("admin:login"))

    assert response.status_code == 302
    assert response.url.startswith(f"{LOGIN_URL}?next=")


def test_posting_a_password_to_the_admin_login_does_not_sign_in(world, client):
    admin_user = factories.UserFactory(is_staff=True, is_superuser=True)

    response = client.post(reverse("admin:login"), {"username": admin_user.email, "password": factories.PASSWORD})

    assert response.status_code == 302
    assert response.url.startswith(LOGIN_URL)
    assert signed_in_user_id(client) is None


def test_signup_is_closed(db, client):
    users_before = get_user_model().objects.count()

    page = client.get(reverse("account_signup"))
    response = client.post(
        reverse("account_signup"),
        {"email": "stranger@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert "account/signup_closed.html" in [t.name for t in page.templates]
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert get_user_model().objects.count() == users_before
    assert not get_user_model().objects.filter(email="stranger@example.com").exists()
    assert signed_in_user_id(client) is None
