"""Arrangements shared by the lifecycle tests: a deployment taken live through the real services."""

import time

from django.utils import timezone

from nir_portal.accounts.models import Role
from onboarding.models import Deployment
from safety.services.go_live import go_live_authorise
from tests import factories


def executive(world, organisation=None):
    return factories.member(organisation or world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)


def take_live(safety, world, deployment=None, approver=None):
    """Sign off, authorise go-live and record the deployment live (the stage move is arranged)."""
    deployment = deployment or world.deployment_a
    cso = safety.cso if deployment.organisation_id == world.trust_a.pk else None
    safety.make_signable(deployment) if cso else None
    sign_off = safety.sign(deployment) if cso else None
    approver = approver or executive(world, deployment.organisation)
    go_live_authorise(
        actor=approver, deployment=deployment, statement="I accept the residual risk.", mfa_verified_at=time.time()
    )
    Deployment.objects.filter(pk=deployment.pk).update(stage=Deployment.Stage.LIVE, stage_changed_at=timezone.now())
    from onboarding.services.cases import case_version_mark_live

    case_version_mark_live(deployment=deployment)
    deployment.refresh_from_db()
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
