"""Arrangements shared by the lifecycle tests: a deployment taken live through the real services."""

import time

from django.utils import timezone

from nir_portal.accounts.models import Role
from onboarding.models import Deployment
from safety.lifecycle import going_live
from safety.services.go_live import go_live_authorise
from tests import factories


def executive(world, organisation=None):
    return factories.member(organisation or world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)


def lead(world, organisation=None):
    return factories.member(organisation or world.trust_a, Role.DEPLOYMENT_LEAD, mfa=False)


def authorise(safety, world, deployment=None, approver=None):
    """Sign off (trust A's log) and authorise go-live, through the real services."""
    deployment = deployment or world.deployment_a
    cso = safety.cso if deployment.organisation_id == world.trust_a.pk else None
    safety.make_signable(deployment) if cso else None
    sign_off = safety.sign(deployment) if cso else None
    approver = approver or executive(world, deployment.organisation)
    factories.ready_for_go_live(deployment)
    go_live_authorise(
        actor=approver, deployment=deployment, statement="I accept the residual risk.", mfa_verified_at=time.time()
    )
    return sign_off, approver


def take_live(safety, world, deployment=None, approver=None):
    """Sign off, authorise go-live and record the deployment live today, as its lead does."""
    deployment = deployment or world.deployment_a
    sign_off, approver = authorise(safety, world, deployment, approver)
    going_live.deployment_record_live(
        actor=lead(world, deployment.organisation), deployment=deployment, went_live_on=timezone.localdate()
    )
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.LIVE
    return sign_off, approver


def sign_other(safety, deployment, cso):
    """Score another trust's log (a bulk arrangement) and sign it off as that trust's CSO."""
    from safety.models import DeploymentHazard

    safety.cso_profile(cso)
    matrix = deployment.risk_plan.risk_matrix
    DeploymentHazard.objects.filter(deployment=deployment).update(
        initial_severity="major",
        initial_likelihood="low",
        initial_rating=matrix.rating("major", "low"),
        residual_severity="minor",
        residual_likelihood="very_low",
        residual_rating=matrix.rating("minor", "very_low"),
    )
    return safety.sign(deployment, actor=cso)
