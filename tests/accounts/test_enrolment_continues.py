"""After setting up a first authenticator, the person sees their recovery codes once and then
goes on to the page they asked for: never to another site, never left on the codes page."""

from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.urls import reverse
from django.utils.http import urlencode

from nir_portal.accounts.models import Role
from tests.accounts.test_sign_in import fresh_totp_code, give_enrolment_grant, post_password

ACTIVATE = reverse("mfa_activate_totp")
CODES = reverse("mfa_view_recovery_codes")


def enrol(client, *, next_url: str | None, via: str = "post"):
    """Open the set-up page as the portal sends someone there, and send a correct code."""
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    page = client.get(ACTIVATE + query)
    assert page.status_code == 200
    data = {"code": fresh_totp_code(client.session[SECRET_SESSION_KEY])}
    if next_url and via == "post":
        data["next"] = next_url
        return page, client.post(ACTIVATE, data)
    return page, client.post(ACTIVATE + query, data)


def test_the_page_asked_for_is_carried_through_enrolment_to_the_recovery_codes_continue_button(world, client):
    # Given a new member who asked for the deployments list and was sent to set up an app
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    wanted = reverse("onboarding:deployment-list") + "?stage=live"
    sent_to = client.get(wanted)
    assert sent_to.url == f"{ACTIVATE}?{urlencode({'next': wanted})}"

    # When they set up the app (the form carries the page along)
    page, response = enrol(client, next_url=wanted)
    assert f'<input type="hidden" name="next" value="{reverse("onboarding:deployment-list")}?stage=live">' in (
        page.content.decode()
    )

    # Then they see their recovery codes, whose Continue goes to that page
    assert response.status_code == 302
    assert response.url == f"{CODES}?{urlencode({'next': wanted})}"
    codes = client.get(response.url)
    html = codes.content.decode()
    assert codes.status_code == 200
    assert html.count('class="portal-code"') == 10
    assert f'href="{reverse("onboarding:deployment-list")}?stage=live" data-testid="continue">Continue</a>' in html
    assert client.get(wanted).status_code == 200


def test_without_a_page_asked_for_continue_goes_home(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)

    _page, response = enrol(client, next_url=None)

    assert response.url == f"{CODES}?{urlencode({'next': reverse('home')})}"
    assert f'href="{reverse("home")}" data-testid="continue">Continue</a>' in client.get(response.url).content.decode()


def test_a_next_address_on_another_site_is_ignored(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)

    page, response = enrol(client, next_url="https://evil.example/phish", via="query")

    assert 'name="next"' not in page.content.decode()
    assert response.url == f"{CODES}?{urlencode({'next': reverse('home')})}"
    html = client.get(f"{CODES}?{urlencode({'next': 'https://evil.example/phish'})}").content.decode()
    assert "evil.example" not in html
    assert 'data-testid="continue"' not in html


def test_viewing_the_codes_later_from_security_settings_offers_the_way_back_not_continue(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    enrol(client, next_url=None)

    html = client.get(CODES).content.decode()

    assert 'data-testid="continue"' not in html
    assert f'<a class="nhsuk-link" href="{reverse("mfa_index")}">Back to security settings</a>' in html
