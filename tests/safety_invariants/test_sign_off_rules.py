"""Who may sign off a hazard log, when it can be signed, what the signed snapshot binds, and what
supersedes or flags a sign-off afterwards."""

import time
from datetime import date, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from onboarding.models import EvidenceFile
from safety.models import DeploymentHazard, GoLiveAuthorisation, HazardAction, SignOff
from safety.services.go_live import go_live_authorise
from safety.services.hazards import hazard_transfer_decide
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from safety.snapshots import snapshot_build, snapshot_sha256
from tests import factories
from tests.onboarding import evidence_fixtures as fx
from tests.safety_invariants.conftest import STATEMENT


def codes(error: ValidationError) -> set[str]:
    return fx.error_codes(error)


def sign_off_count(deployment) -> int:
    return SignOff.objects.filter(deployment=deployment).count()


# --- who may sign, and how recently they proved it was them -----------------------------------------------


@pytest.mark.parametrize("mfa", ["never", "expired"])
def test_sign_off_needs_a_recent_mfa(safety, world, mfa):
    safety.make_signable()
    verified_at = None if mfa == "never" else time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT - 1
    with pytest.raises(ValidationError) as refused:
        sign_off_create(
            actor=safety.cso,
            deployment=world.deployment_a,
            statement=STATEMENT,
            conditions=[],
            mfa_verified_at=verified_at,
        )
    assert codes(refused.value) == {"reauthentication_required"}
    assert "authenticator app" in refused.value.messages[0]
    assert sign_off_count(world.deployment_a) == 0


def test_sign_off_within_the_mfa_window_is_accepted(safety, world):
    safety.make_signable()
    sign_off = safety.sign(mfa_verified_at=time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 30)
    assert sign_off.status == SignOff.Status.CURRENT


def test_a_deployment_lead_cannot_sign_off_and_the_refusal_is_audited(safety, world, people):
    safety.make_signable()
    lead = people.a_lead
    safety.cso_profile(lead)  # even with a registration on record
    with pytest.raises(PermissionDenied):
        safety.sign(actor=lead)
    assert sign_off_count(world.deployment_a) == 0
    denied = AuditEvent.objects.filter(action="sign_off.create", actor=lead, outcome=AuditEvent.Outcome.DENIED)
    assert denied.count() == 1, "the denial must be audited, not rolled back with the refused transaction"
    assert denied.get().object_id == str(world.deployment_a.pk)


def test_a_cso_of_another_trust_cannot_sign_off(safety, world, people):
    safety.make_signable()
    other_cso = people.b_cso
    safety.cso_profile(other_cso)
    with pytest.raises(PermissionDenied):
        safety.sign(actor=other_cso)
    assert sign_off_count(world.deployment_a) == 0
    assert AuditEvent.objects.filter(
        action="sign_off.create", actor=other_cso, outcome=AuditEvent.Outcome.DENIED
    ).exists()


def test_a_cso_without_a_professional_registration_cannot_sign_off(safety, world, people):
    safety.make_signable()
    unregistered = factories.member(world.trust_a, Role.CSO, mfa=False)
    with pytest.raises(ValidationError) as refused:
        safety.sign(actor=unregistered)
    assert codes(refused.value) == {"no_registration"}
    assert "professional registration" in refused.value.messages[0]
    assert sign_off_count(world.deployment_a) == 0


# --- what blocks a sign-off ----------------------------------------------------------------------------


@pytest.mark.parametrize(("residual", "rating"), [(("major", "high"), 4), (("catastrophic", "very_high"), 5)])
def test_a_residual_rating_of_4_or_5_blocks_sign_off_and_names_the_hazard(safety, world, residual, rating):
    safety.make_signable()
    hazard = safety.assess(safety.hazards()[2], ("catastrophic", "very_high"), residual)
    with pytest.raises(ValidationError) as refused:
        safety.sign()
    assert codes(refused.value) == {"sign_off_blocked"}
    message = " ".join(refused.value.messages)
    assert hazard.reference in message and hazard.name in message
    assert f"residual rating of {rating}" in message
    assert sign_off_count(world.deployment_a) == 0


def test_a_residual_rating_of_3_needs_a_justification(safety, world):
    safety.make_signable()
    hazard = safety.hazards()[1]
    # The service refuses the unjustified 3 at the edit...
    with pytest.raises(ValidationError) as refused:
        safety.assess(hazard, ("major", "high"), ("major", "medium"), residual_justification="  ")
    assert "residual_justification" in refused.value.message_dict
    # ...and sign-off refuses one that reached the log another way (data loaded before the rule).
    DeploymentHazard.objects.filter(pk=hazard.pk).update(
        residual_severity="major", residual_likelihood="medium", residual_rating=3, residual_justification=""
    )
    with pytest.raises(ValidationError) as refused:
        safety.sign()
    message = " ".join(refused.value.messages)
    assert f"{hazard.reference} has a residual rating of 3 without a justification" in message
    assert sign_off_count(world.deployment_a) == 0

    safety.assess(
        hazard,
        ("major", "high"),
        ("major", "medium"),
        residual_justification="Double reporting is the only further control and is impractical.",
    )
    assert safety.sign().status == SignOff.Status.CURRENT


def test_an_undecided_transferred_supplier_hazard_blocks_sign_off(safety, world, people):
    # Given the supplier transfers a hazard after the log was scored
    safety.make_signable()
    supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=world.product_version,
        code="SUP-7",
        name="Stale prior images",
        description="Prior images may be shown from the wrong episode.",
        clinical_impact="Misdiagnosis",
        causes="Cache not cleared",
        supplier_controls="Cache expiry",
        is_transferred=True,
        transfer_note="Configure the cache expiry locally.",
    )
    hazard = DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard__code="SUP-7")
    assert hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING
    safety.assess(hazard, ("major", "low"), ("minor", "very_low"))

    with pytest.raises(ValidationError) as refused:
        safety.sign()
    message = " ".join(refused.value.messages)
    assert f"{hazard.reference} {hazard.name} was transferred by the supplier and needs your decision" in message

    hazard = safety.fresh(hazard)
    hazard_transfer_decide(
        actor=safety.cso,
        hazard=hazard,
        decision="adapted",
        justification="Cache expiry set to one hour locally.",
        expected_version=hazard.version,
        mfa_verified_at=time.time(),
    )
    assert safety.sign().status == SignOff.Status.CURRENT


def test_a_verified_control_on_evidence_no_longer_accepted_blocks_sign_off(safety, world):
    safety.make_signable()
    evidence = safety.accepted_evidence(title="RIS reconciliation test")
    hazard = safety.hazards()[0]
    safety.control(hazard, revisions=[safety.latest_revision(evidence)])
    # A new revision goes back to review: the verified control's evidence is not accepted any more.
    safety.revise(evidence)
    with pytest.raises(ValidationError) as refused:
        safety.sign()
    message = " ".join(refused.value.messages)
    assert f"{hazard.reference}: 'RIS reconciliation test' is not accepted for this deployment." in message

    fx.mark_clean(evidence)
    fx.accepted(safety.people.reviewer, evidence, world.deployment_a)
    assert safety.sign().status == SignOff.Status.CURRENT


def test_a_verified_control_on_expired_evidence_blocks_sign_off(safety, world):
    safety.make_signable()
    today = timezone.localdate()
    # TRN-01 evidence expires 12 months after it takes effect: this revision expired ten days ago.
    effective = date(today.year - 1, today.month, 1) - timedelta(days=10)
    evidence = safety.accepted_evidence(codes=("TRN-01",), effective_date=effective, title="CSO training record")
    revision = safety.latest_revision(evidence)
    assert revision.expiry_date < today
    hazard = safety.hazards()[0]
    with mock.patch.object(timezone, "localdate", return_value=revision.expiry_date - timedelta(days=1)):
        safety.control(hazard, revisions=[revision])  # verified while the evidence was in date

    with pytest.raises(ValidationError) as refused:
        safety.sign()
    message = " ".join(refused.value.messages)
    assert f"'CSO training record' revision 1 expired on {revision.expiry_date:%d %B %Y}" in message
    assert sign_off_count(world.deployment_a) == 0


def test_a_control_cannot_be_verified_by_unaccepted_evidence(safety, world):
    safety.make_signable()
    evidence = fx.trust_evidence(safety.people.a_contributor, world.deployment_a, ["GOV-03"], files=1)
    with pytest.raises(ValidationError) as refused:
        safety.control(safety.hazards()[0], revisions=[safety.latest_revision(evidence)])
    assert codes(refused.value) == {"evidence_not_accepted"}
    with pytest.raises(ValidationError) as refused:
        safety.control(safety.hazards()[0], revisions=[], verified=True)
    assert codes(refused.value) == {"verified_needs_evidence"}


# --- what a sign-off binds ----------------------------------------------------------------------------


def test_the_snapshot_binds_every_hazard_control_evidence_hash_matrix_and_product_version(safety, world):
    # Given a scored log with a non-applicable hazard and a control verified by two evidence files
    safety.make_signable()
    hazards = safety.hazards()
    safety.update(hazards[-1], is_applicable=False, applicability_justification="No paper requests at this trust.")
    evidence = safety.accepted_evidence(title="Failover test")
    first = safety.latest_revision(evidence)
    second_evidence = safety.accepted_evidence(title="Training record")
    control = safety.control(hazards[0], revisions=[first, safety.latest_revision(second_evidence)])
    unverified = safety.control(hazards[1], verified=False)

    # When the CSO signs off
    sign_off = safety.sign()
    snapshot = sign_off.snapshot

    # Then the stored hash is the hash of the stored snapshot, which is the log as it stands
    assert sign_off.snapshot_sha256 == snapshot_sha256(snapshot) == snapshot_sha256(snapshot_build(world.deployment_a))
    assert [h["number"] for h in snapshot["hazards"]] == [h.number for h in hazards]
    assert snapshot["hazards"][-1]["applicable"] is False
    for entry, hazard in zip(snapshot["hazards"], safety.hazards(), strict=True):
        assert entry["reference"] == hazard.reference
        assert entry["residual"]["rating"] == hazard.residual_rating
    controls = {c["id"]: c for h in snapshot["hazards"] for c in h["controls"]}
    assert set(controls) == {control.pk, unverified.pk}
    assert controls[unverified.pk]["verified"] is False and controls[unverified.pk]["evidence"] == []
    cited = controls[control.pk]
    assert cited["verified"] is True
    expected = {}
    for revision in control.evidence_revisions.all():
        expected[(revision.evidence_id, revision.number)] = sorted(
            EvidenceFile.objects.filter(revision=revision).values_list("sha256", flat=True)
        )
    assert expected and all(expected.values())
    assert {
        (e["evidence_id"], e["revision"]): sorted(f["sha256"] for f in e["files"]) for e in cited["evidence"]
    } == expected
    assert snapshot["risk_matrix"]["version"] == world.deployment_a.risk_plan.risk_matrix.version
    assert snapshot["product_version"]["version"] == world.product_version.version == "1.0"
    assert snapshot["product_version"]["product"] == world.product_version.product.name
    assert snapshot["product_version"]["supplier"] == world.supplier.ods_code
    assert {e["evidence_id"] for e in snapshot["evidence_current"]} == {evidence.pk, second_evidence.pk}
    # The CSO's registration is recorded as it was when they signed
    profile = safety.cso.cso_profile
    assert (sign_off.professional_body, sign_off.registration_number) == (
        profile.professional_body,
        profile.registration_number,
    )


def test_conditions_become_actions_owned_by_the_deploying_organisation(safety, world):
    safety.make_signable()
    conditions = [
        {"description": "Complete downtime drill at site A1", "due_on": date(2027, 1, 31)},
        {"description": "Review reconciliation failures after 4 weeks", "due_on": "2027-02-28"},
    ]
    sign_off = safety.sign(conditions=conditions)
    actions = list(HazardAction.objects.filter(sign_off=sign_off).order_by("due_on"))
    assert [(a.description, a.due_on, a.owner_id, a.deployment_id) for a in actions] == [
        ("Complete downtime drill at site A1", date(2027, 1, 31), world.trust_a.pk, world.deployment_a.pk),
        ("Review reconciliation failures after 4 weeks", date(2027, 2, 28), world.trust_a.pk, world.deployment_a.pk),
    ]
    assert all(a.completed_at is None for a in actions)
    assert sign_off.conditions == [
        {"description": "Complete downtime drill at site A1", "due_on": "2027-01-31"},
        {"description": "Review reconciliation failures after 4 weeks", "due_on": "2027-02-28"},
    ]


def test_an_incomplete_condition_is_refused(safety, world):
    safety.make_signable()
    with pytest.raises(ValidationError) as refused:
        safety.sign(conditions=[{"description": "Drill", "due_on": None}])
    assert codes(refused.value) == {"condition_incomplete"}
    assert sign_off_count(world.deployment_a) == 0
    assert not HazardAction.objects.filter(deployment=world.deployment_a).exists()


def test_signing_an_unchanged_log_again_is_refused(safety, world):
    safety.make_signable()
    first = safety.sign()
    with pytest.raises(ValidationError) as refused:
        safety.sign()
    assert codes(refused.value) == {"already_signed_off"}
    assert "already signed off" in refused.value.messages[0]
    assert list(SignOff.objects.filter(deployment=world.deployment_a)) == [first]


# --- what supersedes or flags a sign-off ---------------------------------------------------------------


def test_a_new_revision_of_relied_on_evidence_supersedes_the_sign_off(safety, world):
    # Given a sign-off citing evidence through a verified control
    safety.make_signable()
    evidence = safety.accepted_evidence(title="Worklist failover test")
    safety.control(safety.hazards()[0], revisions=[safety.latest_revision(evidence)])
    sign_off = safety.sign()

    # When the owner uploads a new revision of that evidence
    safety.revise(evidence)

    # Then the sign-off is superseded, saying which evidence changed
    sign_off.refresh_from_db()
    assert sign_off.status == SignOff.Status.SUPERSEDED
    assert sign_off.superseded_at is not None
    assert any("Worklist failover test" in change and "revision 2" in change for change in sign_off.superseded_changes)
    assert not SignOff.objects.filter(deployment=world.deployment_a, status=SignOff.Status.CURRENT).exists()
    assert snapshot_sha256(sign_off.snapshot) == sign_off.snapshot_sha256
    assert AuditEvent.objects.filter(action="sign_off.superseded", object_id=str(sign_off.pk)).exists()


def test_a_new_revision_of_unrelated_evidence_leaves_the_sign_off_current(safety, world):
    safety.make_signable()
    evidence = safety.accepted_evidence(title="Unrelated policy")
    sign_off = safety.sign()
    safety.revise(evidence)
    sign_off.refresh_from_db()
    assert sign_off.status == SignOff.Status.CURRENT


def test_a_hazard_edit_supersedes_the_sign_off_and_says_what_changed(safety, world):
    safety.make_signable()
    sign_off = safety.sign()
    hazard = safety.assess(safety.hazards()[3], ("major", "low"), ("significant", "low"))
    sign_off.refresh_from_db()
    assert sign_off.status == SignOff.Status.SUPERSEDED
    assert f"{hazard.reference}: residual.rating changed from 1 to 2" in sign_off.superseded_changes


def test_an_incident_against_a_signed_off_hazard_flags_it_and_emails_the_cso(
    safety,
    world,
    people,
    django_capture_on_commit_callbacks,
):
    # Given a signed-off log
    safety.make_signable()
    sign_off = safety.sign()
    hazard = safety.hazards()[4]
    mail.outbox.clear()

    # When a deployment lead reports an incident linked to one of its hazards
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_report(
            actor=people.a_lead,
            deployment=world.deployment_a,
            reference="INC-2026-041",
            reported_on=date(2026, 11, 20),
            summary="Report attached to the wrong patient's prior study.",
            hazards=[hazard],
        )

    # Then the sign-off needs re-review and the CSO is told
    sign_off.refresh_from_db()
    assert sign_off.needs_re_review is True
    assert sign_off.status == SignOff.Status.CURRENT  # an incident does not change the signed content
    assert list(incident.hazards.all()) == [hazard]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [safety.cso.email]
    assert "INC-2026-041" in message.subject and world.deployment_a.name in message.subject
    assert hazard.reference in message.body and "re-review" in message.body


def test_an_incident_without_signed_hazards_flags_nothing(safety, world, people, django_capture_on_commit_callbacks):
    safety.make_signable()
    sign_off = safety.sign()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        incident_report(
            actor=people.a_lead,
            deployment=world.deployment_a,
            reference="INC-1",
            reported_on=date(2026, 11, 20),
            summary="Slow worklist.",
        )
    sign_off.refresh_from_db()
    assert sign_off.needs_re_review is False
    assert mail.outbox == []


# --- go-live -------------------------------------------------------------------------------------------


def test_go_live_needs_a_current_sign_off_and_binds_its_hash(safety, world):
    approver = factories.member(world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)
    factories.ready_for_go_live(world.deployment_a)
    safety.make_signable()
    with pytest.raises(ValidationError) as refused:
        go_live_authorise(
            actor=approver,
            deployment=world.deployment_a,
            statement="I accept the residual risk.",
            mfa_verified_at=time.time(),
        )
    assert codes(refused.value) == {"no_sign_off"}
    assert not GoLiveAuthorisation.objects.exists()

    sign_off = safety.sign()
    with pytest.raises(PermissionDenied):
        go_live_authorise(
            actor=safety.cso,
            deployment=world.deployment_a,
            statement="I accept the residual risk.",
            mfa_verified_at=time.time(),
        )

    authorisation = go_live_authorise(
        actor=approver,
        deployment=world.deployment_a,
        statement="I accept the residual risk.",
        mfa_verified_at=time.time(),
    )
    assert authorisation.sign_off_id == sign_off.pk
    assert authorisation.snapshot_sha256 == sign_off.snapshot_sha256 == snapshot_sha256(sign_off.snapshot)
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == world.deployment_a.Stage.GO_LIVE_AUTHORISED


def test_go_live_is_refused_once_the_sign_off_is_superseded_or_flagged(safety, world, people):
    approver = factories.member(world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)
    factories.ready_for_go_live(world.deployment_a)
    safety.make_signable()
    safety.sign()
    safety.update(safety.hazards()[0], operating_limits="Only with the RIS interface monitored hourly.")
    with pytest.raises(ValidationError) as refused:
        go_live_authorise(
            actor=approver, deployment=world.deployment_a, statement="Accepted.", mfa_verified_at=time.time()
        )
    assert codes(refused.value) == {"no_sign_off"}

    safety.sign()
    incident_report(
        actor=people.a_lead,
        deployment=world.deployment_a,
        reference="INC-9",
        reported_on=date(2026, 11, 20),
        summary="Wrong prior shown.",
        hazards=[safety.hazards()[0]],
    )
    with pytest.raises(ValidationError) as refused:
        go_live_authorise(
            actor=approver, deployment=world.deployment_a, statement="Accepted.", mfa_verified_at=time.time()
        )
    assert codes(refused.value) == {"re_review"}
    assert not GoLiveAuthorisation.objects.exists()
