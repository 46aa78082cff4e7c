"""Go-live is authorised only for a deployment that has been through its onboarding stages, with
every mandatory requirement of the framework accepted when the executive approver acts: the CSO's
sign-off of the hazard log is not a finished onboarding."""

import json
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from nir_portal.audit.models import AuditEvent
from onboarding.management.commands.load_framework import DEFAULT_FILE as FRAMEWORK_FILE
from onboarding.models import Deployment, EvidenceLink
from onboarding.selectors import go_live_blockers
from onboarding.services.evidence.expiry import evidence_expire_due
from onboarding.services.framework import framework_load
from safety.models import GoLiveAuthorisation
from safety.services.go_live import go_live_authorise
from safety.services.sign_off import sign_off_create
from tests import factories
from tests.safety.conftest import score_all


@pytest.fixture
def deployment(world, people):
    framework, _ = framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text()), publish=True)
    Deployment.objects.filter(pk=world.deployment_a.pk).update(framework=framework)
    world.deployment_a.refresh_from_db()
    score_all(world.deployment_a)
    sign_off_create(
        actor=people.cso_a, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )
    return world.deployment_a


def _authorise(people, deployment):
    return go_live_authorise(
        actor=people.executive_a, deployment=deployment, statement="Accepted.", mfa_verified_at=time.time()
    )


def test_a_signed_off_deployment_still_in_setup_is_refused_and_told_which_stage_it_must_reach(deployment, people):
    with pytest.raises(ValidationError) as refused:
        _authorise(people, deployment)

    assert {error.code for error in refused.value.error_list} == {"onboarding_incomplete"}
    assert "The deployment is at setup and eligibility" in refused.value.messages[0]
    assert not GoLiveAuthorisation.objects.exists()
    assert Deployment.objects.get(pk=deployment.pk).stage == Deployment.Stage.SETUP


def test_go_live_is_refused_once_mandatory_evidence_lapses_naming_the_requirements(deployment, people, clamd_url):
    factories.ready_for_go_live(deployment)
    deployment.refresh_from_db()
    assert go_live_blockers(user=people.executive_a, deployment=deployment) == []

    expired = evidence_expire_due(today=timezone.localdate() + timedelta(days=800))
    assert expired
    lapsed = EvidenceLink.objects.filter(pk__in=expired).first().evidence.requirement_codes
    with pytest.raises(ValidationError) as refused:
        _authorise(people, deployment)

    message = refused.value.messages[0]
    assert "mandatory requirement(s) have no accepted evidence" in message
    assert all(code in message for code in lapsed)
    assert not GoLiveAuthorisation.objects.exists()
    assert Deployment.objects.get(pk=deployment.pk).stage == Deployment.Stage.SAFETY_SIGN_OFF


def test_a_deployment_through_its_stages_is_authorised_and_the_stage_move_is_audited(deployment, people, clamd_url):
    factories.ready_for_go_live(deployment)

    authorisation = _authorise(people, deployment)

    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.GO_LIVE_AUTHORISED
    moves = list(deployment.stage_changes.order_by("changed_at", "id").values_list("from_stage", "to_stage"))
    assert moves[-4:] == [
        ("setup", "governance"),
        ("governance", "technical"),
        ("technical", "safety_sign_off"),
        ("safety_sign_off", "go_live_authorised"),
    ]
    audit = AuditEvent.objects.filter(action="deployment.stage_change", object_id=str(deployment.pk)).latest("id")
    assert audit.changes["stage"] == ["safety_sign_off", "go_live_authorised"]
    assert audit.changes["go_live_authorisation"] == authorisation.pk
