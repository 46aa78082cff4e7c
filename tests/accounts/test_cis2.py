"""Signing in with NHS CIS2 (OpenID Connect). Only the identity provider's HTTP endpoints are
replaced; allauth's OpenID Connect flow, the portal's adapters and the MFA stage run for real."""

import importlib.util
import json
import runpy
import time
import uuid
from urllib.parse import parse_qs, urlparse

import jwt
import pyotp
import pytest
import requests
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse

from nir_portal.accounts.adapters import SocialAccountAdapter
from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent

SERVER_URL = "https://cis2.test.invalid/openam/oauth2/realms/root/realms/oidc"
CLIENT_ID = "nir-portal-client"
CLIENT_SECRET = "cis2-test-secret"
KEY_ID = "cis2-test-key"
LOGIN_URL = reverse("openid_connect_login", kwargs={"provider_id": "cis2"})
CALLBACK_URL = reverse("openid_connect_callback", kwargs={"provider_id": "cis2"})


def fresh_totp_code(secret: str) -> str:
    if 30 - time.time() % 30 < 2:
        time.sleep(30 - time.time() % 30 + 0.1)
    return pyotp.TOTP(secret).now()


@pytest.fixture
def cis2_settings(settings, monkeypatch):
    """SOCIALACCOUNT_PROVIDERS exactly as nir_portal/settings.py builds it from the CIS2_* variables."""
    monkeypatch.setenv("CIS2_SERVER_URL", SERVER_URL)
    monkeypatch.setenv("CIS2_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CIS2_CLIENT_SECRET", CLIENT_SECRET)
    settings_file = importlib.util.find_spec("nir_portal.settings").origin
    built = runpy.run_path(settings_file)["SOCIALACCOUNT_PROVIDERS"]
    settings.SOCIALACCOUNT_PROVIDERS = built
    return built


class FakeIdentityProvider:
    """Answers allauth's HTTP calls to CIS2: discovery, token, userinfo and JWKS."""

    def __init__(self):
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.claims: dict = {}
        self.calls: list[tuple[str, str, dict]] = []

    def sign_in_as(self, email: str, *, verified: bool = True, subject: str | None = None) -> None:
        self.claims = {"sub": subject or f"cis2-{uuid.uuid4()}", "email": email, "email_verified": verified}

    def id_token(self) -> str:
        now = int(time.time())
        payload = {**self.claims, "iss": SERVER_URL, "aud": CLIENT_ID, "iat": now, "exp": now + 300}
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def _respond(self, body: dict, status: int = 200) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["content-type"] = "application/json"
        return response

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        self.calls.append((method.upper(), url, kwargs))
        routes = {
            f"{SERVER_URL}/.well-known/openid-configuration": lambda: {
                "issuer": SERVER_URL,
                "authorization_endpoint": f"{SERVER_URL}/authorize",
                "token_endpoint": f"{SERVER_URL}/access_token",
                "userinfo_endpoint": f"{SERVER_URL}/userinfo",
                "jwks_uri": f"{SERVER_URL}/connect/jwk_uri",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            },
            f"{SERVER_URL}/access_token": lambda: {
                "access_token": "cis2-access-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(),
            },
            f"{SERVER_URL}/userinfo": lambda: self.claims,
            f"{SERVER_URL}/connect/jwk_uri": self.jwks,
        }
        if url not in routes:
            return self._respond({"error": "not_found"}, status=404)
        return self._respond(routes[url]())

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None


@pytest.fixture
def cis2(cis2_settings, monkeypatch) -> FakeIdentityProvider:
    provider = FakeIdentityProvider()
    # allauth makes every call to the identity provider through this adapter method.
    monkeypatch.setattr(SocialAccountAdapter, "get_requests_session", lambda self: provider)
    return provider


def sign_in_with_cis2(client, cis2: FakeIdentityProvider):
    """Start at the portal, 'return' from CIS2 with a code, and answer with allauth's callback."""
    start = client.post(LOGIN_URL)
    assert start.status_code == 302
    authorize = urlparse(start.url)
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{SERVER_URL}/authorize"
    state = parse_qs(authorize.query)["state"][0]
    return client.get(CALLBACK_URL, {"code": "cis2-authorisation-code", "state": state})


def test_settings_configure_cis2_as_an_openid_connect_app_with_pkce(cis2_settings):
    oidc = cis2_settings["openid_connect"]
    [app] = oidc["APPS"]

    assert oidc["OAUTH_PKCE_ENABLED"] is True
    assert app["provider_id"] == "cis2"
    assert (app["client_id"], app["secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert app["settings"]["server_url"] == SERVER_URL
    assert app["settings"]["token_auth_method"] == "client_secret_post"
    assert "nationalrbacaccess" in app["settings"]["scope"]


def test_the_login_sends_the_person_to_cis2_with_state_and_a_pkce_challenge(db, client, cis2):
    start = client.post(LOGIN_URL)

    query = parse_qs(urlparse(start.url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"http://testserver{CALLBACK_URL}"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile", "nationalrbacaccess"}


def test_an_existing_person_matched_by_verified_email_must_still_give_a_totp_code(world, client, cis2):
    user = world.member(world.trust_a, Role.CSO)
    cis2.sign_in_as(user.email.upper())

    response = sign_in_with_cis2(client, cis2)

    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    assert client.session.get(SESSION_KEY) is None
    [token_call] = [c for c in cis2.calls if c[1].endswith("/access_token")]
    assert token_call[0] == "POST"
    assert token_call[2]["data"]["client_secret"] == CLIENT_SECRET
    assert token_call[2]["data"]["code"] == "cis2-authorisation-code"
    assert token_call[2]["data"]["code_verifier"]

    done = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code(user.totp_secret)})

    assert done.status_code == 302
    assert client.session.get(SESSION_KEY) == str(user.pk)
    assert SocialAccount.objects.get(provider="cis2").user == user
    event = AuditEvent.objects.get(action="auth.sign_in", outcome=AuditEvent.Outcome.SUCCESS)
    assert event.actor == user


def test_a_person_matched_through_cis2_without_mfa_is_sent_to_enrol(world, client, cis2):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    cis2.sign_in_as(user.email)

    response = sign_in_with_cis2(client, cis2)

    assert response.status_code == 302
    assert client.session.get(SESSION_KEY) == str(user.pk)
    home = client.get(reverse("home"))
    assert home.status_code == 302
    assert home.url.startswith(reverse("mfa_activate_totp"))


def test_a_person_signed_in_through_cis2_can_enrol_totp_and_reach_the_home_page(world, client, cis2):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    cis2.sign_in_as(user.email)
    sign_in_with_cis2(client, cis2)

    # Such a person may have no password, so enrolment must not demand one.
    form = client.get(reverse("home"), follow=True)
    assert form.status_code == 200
    assert form.resolver_match.url_name == "mfa_activate_totp"
    secret = client.session[SECRET_SESSION_KEY]
    client.post(reverse("mfa_activate_totp"), {"code": fresh_totp_code(secret)})

    assert user.authenticator_set.filter(type="totp").exists()
    assert client.get(reverse("home")).status_code == 200


def test_an_unverified_cis2_email_does_not_sign_in_the_matching_account(world, client, cis2):
    user = world.member(world.trust_a, Role.CSO)
    cis2.sign_in_as(user.email, verified=False)

    response = sign_in_with_cis2(client, cis2)

    assert client.session.get(SESSION_KEY) is None
    assert reverse("mfa_authenticate") not in response.get("Location", "")
    assert not SocialAccount.objects.exists()


def test_an_unknown_cis2_email_cannot_sign_itself_up(db, client, cis2):
    users_before = get_user_model().objects.count()
    cis2.sign_in_as("stranger@nhs.net")

    response = sign_in_with_cis2(client, cis2)

    assert response.status_code == 200
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert get_user_model().objects.count() == users_before
    assert not SocialAccount.objects.exists()
    assert client.session.get(SESSION_KEY) is None


def test_a_callback_with_a_forged_state_signs_nobody_in(world, client, cis2):
    user = world.member(world.trust_a, Role.CSO)
    cis2.sign_in_as(user.email)
    client.post(LOGIN_URL)

    response = client.get(CALLBACK_URL, {"code": "cis2-authorisation-code", "state": "forged-state"})

    assert client.session.get(SESSION_KEY) is None
    assert reverse("mfa_authenticate") not in response.get("Location", "")
    assert not [c for c in cis2.calls if c[1].endswith("/access_token")]


def test_signing_in_through_cis2_keeps_the_persons_password(world, client, cis2):
    user = world.member(world.trust_a, Role.CSO)
    cis2.sign_in_as(user.email)

    sign_in_with_cis2(client, cis2)

    user.refresh_from_db()
    assert user.has_usable_password()
