"""The hazard log page's own reads: the deployment found only for those who may read its log,
with what the page names of it and its latest sign-off; anything else read from it is loaded
(never a blank stand-in); and a refused request audited as the other pages' are."""

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nir_portal.accounts.permissions import memberships_of
from nir_portal.audit.models import AuditEvent
from safety.models import SignOff
from safety.selectors.hazard_log_page import hazard_log_page_deployment, hazard_log_page_sign_off
from safety.services.sign_off import sign_off_create
from tests.safety.conftest import score_all


def test_the_deployment_is_found_for_its_own_trust_and_the_national_team_only(world, people):
    a, b = world.deployment_a, world.deployment_b

    assert hazard_log_page_deployment(people.viewer_a, pk=a.pk) == a
    assert hazard_log_page_deployment(people.national_reviewer, pk=b.pk) == b
    assert hazard_log_page_deployment(people.cso_b, pk=a.pk) is None
    assert hazard_log_page_deployment(people.supplier_cso, pk=a.pk) is None
    assert hazard_log_page_deployment(people.viewer_a, pk=b.pk + a.pk + 1000) is None


def test_it_names_what_the_page_shows_and_loads_anything_else_when_read(world, people):
    deployment = world.deployment_a
    memberships_of(people.viewer_a)  # read once per request, before the page's own reads
    with CaptureQueriesContext(connection) as read:
        found = hazard_log_page_deployment(people.viewer_a, pk=deployment.pk)
    with CaptureQueriesContext(connection) as shown:
        names = (found.name, found.organisation.name, str(found.product_version), str(found.risk_plan.risk_matrix))

    assert len(read) == 1 and len(shown) == 0
    assert names == (
        deployment.name,
        deployment.organisation.name,
        str(deployment.product_version),
        str(deployment.risk_plan.risk_matrix),
    )
    assert found.get_absolute_url() == deployment.get_absolute_url()
    # Not loaded by the page's read: fetched when asked for, with the stored value.
    assert found.organisation.ods_code == deployment.organisation.ods_code != ""
    assert found.product_version.product.supplier_id == deployment.product_version.product.supplier_id


def test_it_carries_the_latest_sign_off_status(world, people):
    deployment = world.deployment_a
    assert hazard_log_page_sign_off(hazard_log_page_deployment(people.cso_a, pk=deployment.pk)) is None
    score_all(deployment)
    sign_off_create(
        actor=people.cso_a, deployment=deployment, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )

    sign_off = hazard_log_page_sign_off(hazard_log_page_deployment(people.cso_a, pk=deployment.pk))

    assert sign_off is not None and sign_off.status == SignOff.Status.CURRENT and not sign_off.needs_re_review


def test_another_trusts_log_is_a_404_and_the_attempt_is_audited(world, people, as_user):
    url = reverse("safety:hazard-log", kwargs={"pk": world.deployment_a.pk})

    response = as_user(people.cso_b).get(url)

    assert response.status_code == 404
    denial = AuditEvent.objects.get(action="access.denied")
    assert denial.actor == people.cso_b and denial.outcome == AuditEvent.Outcome.DENIED
    assert denial.changes == {"path": url, "method": "GET"}
