"""The NHS-styled error pages: each names what happened and offers a way back, and a refusal
names the role that may act and who holds it."""

from django.conf import settings
from django.core.exceptions import BadRequest
from django.test import Client, override_settings
from django.urls import path

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.urls import urlpatterns as portal_urlpatterns
from tests.test_permission_matrix import client_for


def _fails(request):
    raise RuntimeError("deliberate failure")


def _unreadable(request):
    raise BadRequest("deliberately unreadable: secret detail")


urlpatterns = [path("fails/", _fails, name="fails"), path("unreadable/", _unreadable), *portal_urlpatterns]
handler403 = "nir_portal.views.permission_denied"
handler500 = "nir_portal.views.server_error"


def test_an_unknown_address_gets_the_nhs_404_page_with_a_way_back(world):
    response = client_for(world.member(world.trust_a, Role.VIEWER)).get("/no/such/page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in body and 'data-testid="way-back"' in body and "nhsuk-header" in body


@override_settings(ROOT_URLCONF=__name__)
def test_a_failure_gets_the_nhs_500_page_without_the_requests_context(world):
    client = client_for(world.member(world.trust_a, Role.VIEWER))
    client.raise_request_exception = False

    response = client.get("/fails/")

    body = response.content.decode()
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in body and 'data-testid="way-back"' in body
    assert "deliberate failure" not in body


@override_settings(ROOT_URLCONF=__name__)
def test_an_unreadable_request_gets_the_nhs_400_page_saying_nothing_was_saved(world):
    response = client_for(world.member(world.trust_a, Role.VIEWER)).get("/unreadable/")

    body = response.content.decode()
    assert response.status_code == 400
    assert "The portal could not read what was sent" in body and "Nothing from it has been saved" in body
    assert 'data-testid="way-back"' in body and "nhsuk-header" in body
    assert "secret detail" not in body
    assert f"<title>The portal could not read what was sent - {settings.PORTAL_SERVICE_NAME} - NHS</title>" in body


def test_a_refusal_names_the_role_its_holders_and_the_way_back_and_is_audited(world):
    world.member(world.trust_a, Role.EXECUTIVE_APPROVER, full_name="Erin Executive")
    cso = world.member(world.trust_a, Role.CSO)

    response = client_for(cso).get(f"/deployments/{world.deployment_a.pk}/go-live/")

    body = response.content.decode()
    assert response.status_code == 403
    assert "Only the Executive approver can authorise go-live" in body
    assert "Erin Executive" in body
    assert f'href="/deployments/{world.deployment_a.pk}/"' in body  # back to the deployment
    denied = AuditEvent.objects.filter(action="access.denied", actor=cso).get()
    assert denied.changes["rule"] == "safety.authorise_go_live"


def test_a_refusal_where_nobody_holds_the_role_says_so(world):
    viewer = world.member(world.trust_a, Role.VIEWER)

    response = client_for(viewer).get(f"/deployments/{world.deployment_a.pk}/stage/")

    assert response.status_code == 403
    assert "Nobody in your organisation holds this role yet" in response.content.decode()


def test_an_anonymous_visitor_gets_the_same_404_page(client: Client, db):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
