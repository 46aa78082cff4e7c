"""A CSCR per lifecycle phase: maintenance (the version change, its DCB0129 delta and
re-assessment) and decommissioning (DCB0160 7.4) each carry their own sections, built from the
journey's data, and the bundle passes the verifier."""

import time
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from onboarding.models import Deployment, ProductVersion
from safety import cscr_services
from safety.lifecycle import decommissioning, versions
from safety.lifecycle.phases import PHASE_SECTIONS
from safety.models import CSCRBundleJob, DeploymentHazard
from safety.services.go_live import go_live_authorise
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.cscr.conftest import build, bundle_path, make_signable, sign, verify
from tests.cscr.pdf_text import normalised, pdf_text


def _pdf_text(job: CSCRBundleJob) -> str:
    with zipfile.ZipFile(bundle_path(job)) as archive:
        return normalised(pdf_text(archive.read("cscr.pdf")))


def _go_live(deployment, people):
    factories.ready_for_go_live(deployment)
    go_live_authorise(
        actor=people.executive_a, deployment=deployment, statement="Accepted.", mfa_verified_at=time.time()
    )
    Deployment.objects.filter(pk=deployment.pk).update(stage=Deployment.Stage.LIVE)
    deployment.refresh_from_db()


def test_a_maintenance_cscr_reports_the_version_change_and_its_re_assessment(signed_off, world, people, bundle_storage):
    deployment = world.deployment_a
    _go_live(deployment, people)
    new = ProductVersion.objects.create(
        product=world.product_version.product, version="1.1", previous_version=world.product_version
    )
    supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=new,
        code="SUP-7",
        name="Timeout shown as no prior imaging (retry added)",
        description="d",
        clinical_impact="Missed priors.",
        causes="Gateway timeout.",
        supplier_controls="Retry then per-source status.",
        is_transferred=True,
        transfer_note="Train staff.",
    )
    versions.product_version_publish(
        actor=people.supplier_cso,
        product_version=new,
        change_summary="Retries slow gateways before showing them as failed.",
        added=[],
        changed=["SUP-7"],
        closed=[],
    )
    versions.case_upgrade_start(actor=people.lead_a, deployment=deployment)
    for hazard in DeploymentHazard.objects.filter(deployment=deployment, needs_re_review=True):
        versions.hazard_re_review(
            actor=people.cso_a, hazard=hazard, expected_version=hazard.version, outcome="Retry reviewed: unchanged."
        )
    make_signable(deployment, people.cso_a)
    sign(deployment, people.cso_a, statement="Version 1.1 is acceptably safe with the controls listed.")

    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=deployment, lifecycle_phase="maintenance", mfa_verified_at=time.time()
    )
    job = build(job)

    assert job.status == CSCRBundleJob.Status.COMPLETE, job.failure_reason
    text = _pdf_text(job)
    for section in PHASE_SECTIONS["maintenance"]:
        assert section in text
    assert "Retries slow gateways" in text and "SUP-7" in text and "Retry reviewed: unchanged." in text
    report = verify(bundle_path(job))
    assert report.valid and report.snapshot_hash_ok, report.failing_files


def test_a_maintenance_cscr_needs_an_upgraded_case(signed_off, people):
    with pytest.raises(ValidationError) as refused:
        cscr_services.bundle_request(
            actor=people.cso_a,
            deployment=signed_off.deployment,
            lifecycle_phase="maintenance",
            mfa_verified_at=time.time(),
        )
    assert refused.value.error_list[0].code == "no_version_change"


def test_a_decommissioning_cscr_reports_the_74_assessment_and_is_authorised_like_a_go_live(
    signed_off, world, people, bundle_storage
):
    deployment = world.deployment_a
    _go_live(deployment, people)
    closed = DeploymentHazard.objects.get(deployment=deployment, number=2)
    decommissioning.decommissioning_plan_save(
        actor=people.lead_a,
        deployment=deployment,
        planned_for=timezone.localdate(),
        data_retention="Audit records kept 8 years by the trust's records team.",
        access_to_priors="Priors stay reachable through the regional PACS archive viewer.",
        replacement="The regional imaging sharing service replaces NIR queries.",
        hazards_closed=[closed],
        closure_note="No NIR queries are made once the connector is off.",
    )
    with pytest.raises(PermissionDenied):  # the CSO is not top management
        decommissioning.decommissioning_authorise(
            actor=people.cso_a,
            deployment=deployment,
            statement="x",
            mfa_verified_at=time.time(),
        )

    authorisation = decommissioning.decommissioning_authorise(
        actor=people.executive_a,
        deployment=deployment,
        statement="I accept the risk of decommissioning.",
        mfa_verified_at=time.time(),
    )
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.DECOMMISSIONED
    assert authorisation.sign_off_id == signed_off.pk

    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=deployment, lifecycle_phase="decommissioning", mfa_verified_at=time.time()
    )
    job = build(job)

    assert job.status == CSCRBundleJob.Status.COMPLETE, job.failure_reason
    text = _pdf_text(job)
    for section in PHASE_SECTIONS["decommissioning"]:
        assert section in text
    assert "kept 8 years" in text and "regional PACS archive viewer" in text
    assert f"{closed.reference} {normalised(closed.name)}" in text
    assert "Authorised by Eve Executive" in text
    report = verify(bundle_path(job))
    assert report.valid and report.snapshot_hash_ok, report.failing_files


def test_the_deployment_cscr_has_no_later_phase_sections(built):
    text = _pdf_text(built)
    assert "Decommissioning: data retention" not in text and "Maintenance: the version change" not in text


def test_decommissioning_needs_a_plan_and_a_different_approver_than_the_cso(signed_off, world, people):
    deployment = world.deployment_a
    _go_live(deployment, people)
    with pytest.raises(ValidationError) as refused:
        decommissioning.decommissioning_authorise(
            actor=people.executive_a,
            deployment=deployment,
            statement="x",
            mfa_verified_at=time.time(),
        )
    assert refused.value.error_list[0].code == "no_plan"


def test_decommissioning_authorisation_needs_a_fresh_authenticator_check(signed_off, world, people):
    deployment = world.deployment_a
    _go_live(deployment, people)
    decommissioning.decommissioning_plan_save(
        actor=people.lead_a,
        deployment=deployment,
        planned_for=timezone.localdate(),
        data_retention="Kept 8 years.",
        access_to_priors="Through the regional archive.",
        replacement="The regional sharing service.",
        hazards_closed=[],
    )
    with pytest.raises(ValidationError) as refused:
        decommissioning.decommissioning_authorise(
            actor=people.executive_a, deployment=deployment, statement="Accepted.", mfa_verified_at=None
        )
    assert refused.value.error_list[0].code == "reauthentication_required"
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.LIVE
