"""A supplier's new product version, and the upgrade of a deployment's case to it: the same
deployment's next case version, the hazard log carried forward with touched hazards re-reviewed,
evidence carried only where its requirement did not change, and a new sign-off and go-live
authorisation before the new version is live. The earlier case stays readable."""

import time

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from nir_portal.audit.models import AuditEvent
from onboarding.models import CaseVersion, Deployment, DeploymentNotice, EvidenceLink, ProductVersion
from safety.lifecycle import versions
from safety.lifecycle.models import HazardReReview, SupplierHazardDelta
from safety.models import DeploymentHazard, SignOff
from safety.services.go_live import go_live_authorise
from safety.services.supplier_hazards import supplier_hazard_save
from tests.lifecycle.helpers import executive, take_live
from tests.onboarding.evidence_fixtures import error_codes


def _supplier_hazard(people, version, code, name="Timeout shown as no prior imaging", transferred=True):
    return supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=version,
        code=code,
        name=name,
        description="d",
        clinical_impact="Missed priors.",
        causes="Gateway timeout.",
        supplier_controls="Per-source status shown.",
        is_transferred=transferred,
        transfer_note="Train staff.",
    )


@pytest.fixture
def new_version(world, people):
    """Version 1.0 carries SUP-1 (changed in 1.1) and SUP-2 (closed in 1.1); 1.1 adds SUP-3."""
    _supplier_hazard(people, world.product_version, "SUP-1")
    _supplier_hazard(people, world.product_version, "SUP-2", name="Cache stale")
    version = ProductVersion.objects.create(
        product=world.product_version.product, version="1.1", previous_version=world.product_version
    )
    _supplier_hazard(people, version, "SUP-1", name="Timeout shown as no prior imaging (new retry logic)")
    _supplier_hazard(people, version, "SUP-3", name="Retry storms slow responses")
    return version


def _publish(people, version, **overrides):
    fields = {
        "change_summary": "Retry logic for slow networks; cache removed.",
        "added": ["SUP-3"],
        "changed": ["SUP-1"],
        "closed": ["SUP-2"],
        "changed_requirement_codes": ["WFV-01"],
    }
    return versions.product_version_publish(
        actor=people.supplier_cso, product_version=version, **{**fields, **overrides}
    )


def test_publishing_flags_every_live_or_in_progress_deployment_of_the_earlier_version(
    safety, world, people, new_version, django_capture_on_commit_callbacks
):
    take_live(safety, world)
    lead = people.b_lead

    with django_capture_on_commit_callbacks(execute=True):
        flagged = _publish(people, new_version)

    assert sorted(flagged) == sorted([world.deployment_a.pk, world.deployment_b.pk])
    assert Deployment.objects.get(pk=world.deployment_a.pk).upgrade_available == new_version
    assert DeploymentNotice.objects.filter(kind="version_published").count() == 2
    assert set(SupplierHazardDelta.objects.values_list("code", "change")) == {
        ("SUP-1", "changed"),
        ("SUP-2", "closed"),
        ("SUP-3", "added"),
    }
    assert any(lead.email in m.to for m in mail.outbox)
    assert AuditEvent.objects.get(action="product_version.publish").changes["deployments_flagged"]


@pytest.mark.parametrize(
    "overrides",
    [{"added": ["SUP-1"]}, {"changed": ["SUP-9"]}, {"closed": ["SUP-3"]}, {"change_summary": " "}],
)
def test_a_delta_that_does_not_match_the_hazards_is_refused_and_nothing_is_flagged(
    safety, world, people, new_version, overrides
):
    with pytest.raises(ValidationError):
        _publish(people, new_version, **overrides)

    assert not Deployment.objects.filter(upgrade_available__isnull=False).exists()
    assert not SupplierHazardDelta.objects.exists()


def test_only_the_supplier_publishes(world, people, new_version):
    with pytest.raises(PermissionDenied):
        versions.product_version_publish(
            actor=people.a_lead, product_version=new_version, change_summary="x", added=[], changed=[], closed=[]
        )


def test_the_upgrade_opens_the_next_case_version_of_the_same_deployment(safety, world, people, new_version):
    first_sign_off, _ = take_live(safety, world)
    evidence = safety.accepted_evidence(codes=("WFV-01",))
    kept = safety.accepted_evidence(codes=("GOV-03",))
    _publish(people, new_version)

    case = versions.case_upgrade_start(actor=people.a_lead, deployment=world.deployment_a)

    deployment = Deployment.objects.get(pk=world.deployment_a.pk)
    assert Deployment.objects.filter(organisation=world.trust_a).count() == 1
    assert deployment.product_version == new_version and deployment.upgrade_available is None
    assert deployment.stage == Deployment.Stage.LIVE, "still live on the earlier case until authorised"
    assert (case.number, case.status, case.product_version) == (2, "in_preparation", new_version)
    assert CaseVersion.objects.get(deployment=deployment, number=1).status == "live"
    first_sign_off.refresh_from_db()
    assert first_sign_off.status == SignOff.Status.SUPERSEDED and first_sign_off.case_version.number == 1
    assert deployment.safety_case_out_of_date_since is None
    # Touched hazards (changed, closed, added) and NIR-14 are marked for re-review; others are not.
    marked = DeploymentHazard.objects.filter(deployment=deployment, needs_re_review=True)
    assert {h.supplier_hazard.code if h.supplier_hazard else h.library_hazard.code for h in marked} == {
        "SUP-1",
        "SUP-2",
        "SUP-3",
        "NIR-14",
    }
    assert (
        DeploymentHazard.objects.get(
            deployment=deployment, supplier_hazard__code="SUP-1"
        ).supplier_hazard.product_version
        == new_version
    )
    # Evidence for the changed requirement no longer counts; the rest carries forward.
    assert EvidenceLink.objects.get(deployment=deployment, evidence=evidence).status == EvidenceLink.Status.EXPIRED
    assert EvidenceLink.objects.get(deployment=deployment, evidence=kept).status == EvidenceLink.Status.ACCEPTED
    assert AuditEvent.objects.filter(action="deployment.upgrade_start").exists()


def test_an_upgrade_needs_a_flag_and_the_deployment_lead(safety, world, people, new_version):
    with pytest.raises(ValidationError) as refused:
        versions.case_upgrade_start(actor=people.a_lead, deployment=world.deployment_a)
    assert error_codes(refused.value) == {"no_upgrade"}
    _publish(people, new_version)
    with pytest.raises(PermissionDenied):
        versions.case_upgrade_start(actor=safety.cso, deployment=world.deployment_a)
    assert CaseVersion.objects.filter(deployment=world.deployment_a).count() == 1


def test_the_new_version_is_live_only_after_re_review_sign_off_and_authorisation(safety, world, people, new_version):
    take_live(safety, world)
    _publish(people, new_version)
    versions.case_upgrade_start(actor=people.a_lead, deployment=world.deployment_a)

    with pytest.raises(ValidationError) as refused:
        safety.sign()
    assert "needs re-review" in " ".join(refused.value.messages)

    for hazard in DeploymentHazard.objects.filter(deployment=world.deployment_a, needs_re_review=True):
        versions.hazard_re_review(
            actor=safety.cso, hazard=hazard, expected_version=hazard.version, outcome="Re-scored for 1.1."
        )
    safety.make_signable()
    sign_off = safety.sign()
    assert sign_off.case_version.number == 2
    assert CaseVersion.objects.get(deployment=world.deployment_a, number=2).status == "in_preparation"

    go_live_authorise(
        actor=executive(world), deployment=world.deployment_a, statement="Accepted.", mfa_verified_at=time.time()
    )

    cases = {c.number: c for c in CaseVersion.objects.filter(deployment=world.deployment_a)}
    assert cases[2].status == "live" and cases[1].status == "retired"
    assert Deployment.objects.get(pk=world.deployment_a.pk).stage == Deployment.Stage.LIVE
    # The earlier version's case stays readable: its sign-off and snapshot on version 1.0.
    old = SignOff.objects.get(case_version=cases[1])
    assert old.snapshot["product_version"]["version"] == "1.0"
    assert HazardReReview.objects.filter(case_version=cases[2]).count() == 4


def test_re_review_is_the_csos_and_needs_an_outcome(safety, world, people, new_version):
    _publish(people, new_version)
    versions.case_upgrade_start(actor=people.a_lead, deployment=world.deployment_a)
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a, needs_re_review=True).first()

    with pytest.raises(PermissionDenied):
        versions.hazard_re_review(actor=people.a_lead, hazard=hazard, expected_version=hazard.version, outcome="x")
    with pytest.raises(ValidationError) as refused:
        versions.hazard_re_review(actor=safety.cso, hazard=hazard, expected_version=hazard.version, outcome=" ")
    assert error_codes(refused.value) == {"outcome_required"}
