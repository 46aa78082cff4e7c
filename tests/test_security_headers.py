"""Security headers and the Content Security Policy: scripts run only from the portal's own files
with the page's nonce; no page carries executable inline script."""

import re
from html.parser import HTMLParser

import pytest
from django.http import HttpResponse
from django.urls import reverse

from nir_portal.accounts.models import Role
from tests import factories
from tests.accounts.test_sign_in import give_enrolment_grant
from tests.test_permission_matrix import all_routes, client_for

NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")


class ScriptFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[str] = []  # inline event handlers and javascript: URLs

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append(f"<{tag} {name}=...>")


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name] = values
    return directives


def inline_script_problems(response) -> list[str]:
    """What in the page would execute inline, or carries a nonce other than this response's."""
    finder = ScriptFinder()
    finder.feed(response.content.decode())
    nonce = NONCE.search(response["Content-Security-Policy"]).group(1)
    problems = list(finder.handlers)
    for script in finder.scripts:
        if "src" not in script and script.get("type") != "application/json":
            problems.append(f"inline <script {script}>")
        if "nonce" in script and script["nonce"] != nonce:
            problems.append(f"<script> with a stale nonce {script}")
    return problems


def assert_protected(response) -> None:
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    directives = csp_directives(response)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert NONCE.search(" ".join(directives["script-src"]))
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


def test_the_inline_script_check_flags_what_would_execute_inline():
    page = HttpResponse(
        '<script nonce="abc">run()</script><script type="application/json">{"a": 1}</script>'
        '<script src="/static/js/portal.js" nonce="abc"></script><a href="#" onclick="run()">x</a>'
    )
    page["Content-Security-Policy"] = "script-src 'self' 'nonce-abc'"

    assert inline_script_problems(page) == ["<a onclick=...>", "inline <script {'nonce': 'abc'}>"]


def test_the_sign_in_page_has_a_nonce_based_policy_and_no_inline_script(client, db):
    response = client.get(reverse("account_login"))

    assert response.status_code == 200
    assert_protected(response)
    assert inline_script_problems(response) == []


def test_each_response_gets_a_fresh_nonce(client, db):
    first = NONCE.search(client.get(reverse("account_login"))["Content-Security-Policy"]).group(1)
    second = NONCE.search(client.get(reverse("account_login"))["Content-Security-Policy"]).group(1)

    assert first != second


def test_the_portals_script_tag_carries_the_responses_nonce(client, db):
    response = client.get(reverse("account_login"))
    finder = ScriptFinder()
    finder.feed(response.content.decode())
    nonce = NONCE.search(response["Content-Security-Policy"]).group(1)

    assert any(s.get("src") and s.get("nonce") == nonce for s in finder.scripts)


def _pages_without_ids() -> list[str]:
    return [
        reverse(r.name)
        for r in all_routes()
        if r.name and not r.kwargs and r.origin != "admin" and r.name not in {"healthz", "account_logout"}
    ]


@pytest.mark.parametrize(
    ("organisation", "role"),
    [("trust_a", Role.DEPLOYMENT_LEAD), ("supplier", Role.SUPPLIER_CSO), ("national", Role.NATIONAL_ADMIN)],
)
def test_no_page_a_signed_in_person_opens_has_inline_script(world, organisation, role):
    person = world.member(getattr(world, organisation), role)
    # Freshly re-authenticated, so pages behind a re-authentication prompt are visited too.
    client = client_for(person)
    urls = [
        *_pages_without_ids(),
        world.deployment_a.get_absolute_url(),
        reverse("accounts:organisation-detail", args=[world.trust_a.pk]),
    ]
    if role == Role.DEPLOYMENT_LEAD:
        urls += [reverse("onboarding:deployment-stage", args=[world.deployment_a.pk])]

    problems = {}
    visited = 0
    for url in urls:
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        visited += 1
        assert_protected(response)
        if found := inline_script_problems(response):
            problems[url] = found

    assert visited >= 8
    assert problems == {}


def test_no_page_an_anonymous_visitor_opens_has_inline_script(client, db):
    problems = {}
    for url in _pages_without_ids():
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            assert_protected(response)
            if found := inline_script_problems(response):
                problems[url] = found

    assert problems == {}


def test_the_authenticator_enrolment_page_has_no_inline_script(db):
    person = factories.member(factories.OrganisationFactory(), Role.VIEWER, mfa=False)

    client = client_for(person)
    give_enrolment_grant(client, person)  # as their invitation's link leaves it

    response = client.get(reverse("mfa_activate_totp"))

    assert response.status_code == 200
    assert_protected(response)
    assert inline_script_problems(response) == []
