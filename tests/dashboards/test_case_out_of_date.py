"""A live deployment whose signed-off case is superseded shows as "safety case out of date" on the
national and trust dashboards, and the national dashboard counts it, on the very next request:
the cached dashboard is keyed by the data's fingerprint, which the supersession moves."""

import re
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import Deployment
from safety.models import DeploymentHazard
from safety.services.go_live import go_live_authorise
from safety.services.hazards import hazard_update
from safety.services.sign_off import sign_off_create
from tests import factories


def _live_and_signed(world):
    deployment = world.deployment_a
    cso = world.member(world.trust_a, Role.CSO)
    CSOProfile.objects.create(
        user=cso,
        professional_body="GMC",
        registration_number="1234567",
        registration_checked_on=factories.recent_registration_check(),
    )
    DeploymentHazard.objects.filter(deployment=deployment).update(
        residual_severity="minor", residual_likelihood="low", residual_rating=1
    )
    sign_off_create(actor=cso, deployment=deployment, statement="Safe.", conditions=[], mfa_verified_at=time.time())
    approver = world.member(world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)
    factories.ready_for_go_live(deployment)
    go_live_authorise(actor=approver, deployment=deployment, statement="Accepted.", mfa_verified_at=time.time())
    Deployment.objects.filter(pk=deployment.pk).update(stage=Deployment.Stage.LIVE, stage_changed_at=timezone.now())
    return cso


def _count(html: bytes) -> int:
    match = re.search(rb'data-testid="live-out-of-date">(\d+)', html)
    assert match, "the count of live deployments on an out-of-date case is missing"
    return int(match.group(1))


@pytest.fixture(autouse=True)
def dashboards_cached(settings):
    settings.DASHBOARD_CACHE_SECONDS = 60
    settings.CELERY_TASK_ALWAYS_EAGER = True


def test_a_superseded_live_sign_off_shows_on_the_national_dashboard_within_one_request(
    world, national_lead, signed_in, django_capture_on_commit_callbacks
):
    cso = _live_and_signed(world)
    client = signed_in(national_lead)
    url = reverse("dashboards:national")
    before = client.get(url).content  # primes the dashboard's cache
    assert _count(before) == 0
    assert b"Safety case out of date" not in before

    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a).order_by("number").first()
    with django_capture_on_commit_callbacks(execute=True):
        hazard_update(actor=cso, hazard=hazard, expected_version=hazard.version, operating_limits="Changed while live.")

    after = client.get(url).content
    assert _count(after) == 1
    assert f'data-testid="case-out-of-date-{world.deployment_a.pk}"'.encode() in after


def test_the_trust_dashboard_shows_its_live_deployment_out_of_date(
    world, signed_in, django_capture_on_commit_callbacks
):
    cso = _live_and_signed(world)
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a).order_by("number").first()
    with django_capture_on_commit_callbacks(execute=True):
        hazard_update(actor=cso, hazard=hazard, expected_version=hazard.version, operating_limits="Changed while live.")

    page = signed_in(world.member(world.trust_a, Role.VIEWER)).get(reverse("dashboards:trust")).content

    assert _count(page) == 1
    assert f'data-testid="case-out-of-date-{world.deployment_a.pk}"'.encode() in page
    other = signed_in(world.member(world.trust_b, Role.VIEWER)).get(reverse("dashboards:trust")).content
    assert _count(other) == 0
