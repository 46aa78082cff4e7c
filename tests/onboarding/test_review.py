"""Reviewing evidence: who may review what, what a decision needs, that a decision is for one
deployment only, and what waits in each reviewer's queue."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from onboarding.forms import ReviewForm
from onboarding.models import EvidenceComment, EvidenceFile, EvidenceLink, Review
from onboarding.permissions import can_review
from onboarding.selectors import FILES_NOT_CLEARED, review_queue_for, revision_files_cleared
from onboarding.services.evidence.contributions import evidence_revise
from onboarding.services.evidence.review import evidence_review
from onboarding.services.evidence.scans import evidence_file_record_scan
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name

Status = EvidenceLink.Status


@pytest.fixture
def conformance(world, people):
    """Supplier evidence for INT-01 with one file, submitted to both trusts' CSOs."""
    return fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"], files=1)


@pytest.fixture
def dpia(world, people):
    """Trust A's own DPIA, submitted to the national team."""
    return fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])


def queue(user) -> list[tuple[int, int]]:
    """(evidence id, deployment id) of each item waiting for the person, in queue order."""
    fresh = get_user_model().objects.get(pk=user.pk)  # memberships are cached per user object
    return [(link.evidence_id, link.deployment_id) for link in review_queue_for(fresh)]


# --- Who may review -----------------------------------------------------------------------------


def test_nobody_reviews_their_own_organisations_evidence_and_the_attempt_is_audited(world, people, dpia):
    link = fx.link_of(dpia, world.deployment_a)
    assert not can_review(people.a_cso, link)
    assert not can_review(people.a_lead, link)

    with pytest.raises(PermissionDenied):
        evidence_review(actor=people.a_cso, link=link, decision="accept", comment="", expected_version=link.version)

    denial = AuditEvent.objects.get(action="evidence.review")
    assert (denial.actor, denial.outcome, denial.object_id) == (people.a_cso, AuditEvent.Outcome.DENIED, str(link.pk))
    assert fx.link_of(dpia, world.deployment_a).status == Status.SUBMITTED
    assert not Review.objects.exists()


def test_a_national_reviewer_who_also_belongs_to_the_trust_cannot_review_its_evidence(world, people, dpia):
    account_services.membership_grant(
        actor=None, organisation=world.trust_a, user=people.reviewer, role=Role.EVIDENCE_CONTRIBUTOR
    )
    reviewer = get_user_model().objects.get(pk=people.reviewer.pk)

    assert not can_review(reviewer, fx.link_of(dpia, world.deployment_a))
    assert queue(reviewer) == []


def test_a_supplier_never_reviews_its_own_evidence(world, people, conformance):
    supplier_cso = people.supplier_cso

    assert not can_review(supplier_cso, fx.link_of(conformance, world.deployment_a))
    with pytest.raises(PermissionDenied):
        fx.decide(supplier_cso, conformance, world.deployment_a)


def test_a_trusts_cso_reviews_supplier_evidence_for_its_own_deployment_only(world, people, conformance):
    assert can_review(people.a_cso, fx.link_of(conformance, world.deployment_a))
    assert not can_review(people.a_cso, fx.link_of(conformance, world.deployment_b))
    assert not can_review(people.a_contributor, fx.link_of(conformance, world.deployment_a))
    assert not can_review(people.reviewer, fx.link_of(conformance, world.deployment_a))

    with pytest.raises(PermissionDenied):
        fx.decide(people.a_cso, conformance, world.deployment_b)
    assert fx.link_of(conformance, world.deployment_b).status == Status.SUBMITTED


# --- What a decision needs ------------------------------------------------------------------------


def test_requesting_changes_needs_a_comment(world, people, dpia):
    with pytest.raises(ValidationError) as refused:
        fx.decide(people.reviewer, dpia, world.deployment_a, decision="request_changes", comment="   ")

    assert fx.error_codes(refused.value) == {"comment_required"}
    assert refused.value.messages == ["Say what needs to change."]
    assert fx.link_of(dpia, world.deployment_a).status == Status.SUBMITTED
    assert not Review.objects.exists()


def test_requesting_changes_records_the_decision_and_adds_the_comment_to_the_thread(world, people, dpia):
    review = fx.decide(
        people.reviewer, dpia, world.deployment_a, decision="request_changes", comment=" Add the SIRO's signature. "
    )

    link = fx.link_of(dpia, world.deployment_a)
    assert link.status == Status.CHANGES_REQUESTED
    assert (review.reviewer, review.reviewer_organisation, review.revision.number) == (
        people.reviewer,
        world.national,
        1,
    )
    comment = EvidenceComment.objects.get(link=link)
    assert (comment.author, comment.text) == (people.reviewer, "Add the SIRO's signature.")


def test_an_unknown_decision_is_refused(world, people, dpia):
    with pytest.raises(ValidationError) as refused:
        fx.decide(people.reviewer, dpia, world.deployment_a, decision="approve")

    assert fx.error_codes(refused.value) == {"invalid_decision"}


@pytest.mark.parametrize(
    "scan_status", [EvidenceFile.ScanStatus.PENDING, EvidenceFile.ScanStatus.ERROR, EvidenceFile.ScanStatus.INFECTED]
)
def test_evidence_cannot_be_accepted_while_a_file_is_not_scan_clean(world, people, conformance, scan_status):
    file = EvidenceFile.objects.get(revision__evidence=conformance)
    if scan_status != EvidenceFile.ScanStatus.PENDING:
        evidence_file_record_scan(file=file, status=scan_status, detail="scanner said so")

    with pytest.raises(ValidationError) as refused:
        fx.decide(people.a_cso, conformance, world.deployment_a)

    assert fx.error_codes(refused.value) == {"files_not_clean"}
    assert "malware scan" in refused.value.messages[0]
    assert fx.link_of(conformance, world.deployment_a).status == Status.SUBMITTED


@pytest.mark.parametrize("scan_status", EvidenceFile.ScanStatus.values)
def test_the_review_form_offers_accept_exactly_when_the_service_would_take_it(world, people, conformance, scan_status):
    file = EvidenceFile.objects.get(revision__evidence=conformance)
    if scan_status != EvidenceFile.ScanStatus.PENDING:
        evidence_file_record_scan(file=file, status=scan_status, detail="scanner said so")
    link = fx.link_of(conformance, world.deployment_a)
    cleared = scan_status == EvidenceFile.ScanStatus.CLEAN

    form = ReviewForm(revision=link.revision)
    offered = {value for value, _label in form.fields["decision"].choices}

    assert revision_files_cleared(link.revision) is cleared
    assert offered == ({"accept", "request_changes"} if cleared else {"request_changes"})
    assert [f.pk for f in form.scan_hold.files] == ([] if cleared else [file.pk])
    posted = ReviewForm({"decision": "accept", "expected_version": link.version}, revision=link.revision)
    assert posted.is_valid() is cleared
    if cleared:
        fx.decide(people.a_cso, conformance, world.deployment_a)
        assert fx.link_of(conformance, world.deployment_a).status == Status.ACCEPTED
    else:
        assert posted.errors["decision"] == [FILES_NOT_CLEARED]
        with pytest.raises(ValidationError):
            fx.decide(people.a_cso, conformance, world.deployment_a)


def test_accepting_clean_evidence_accepts_it_for_that_deployment_only(world, people, conformance):
    fx.mark_clean(conformance)

    fx.decide(people.a_cso, conformance, world.deployment_a)

    assert fx.link_of(conformance, world.deployment_a).status == Status.ACCEPTED
    assert fx.link_of(conformance, world.deployment_b).status == Status.SUBMITTED
    assert queue(people.b_cso) == [(conformance.pk, world.deployment_b.pk)]


def test_a_review_against_a_stale_version_is_refused_and_nothing_is_recorded(world, people, dpia):
    opened = fx.link_of(dpia, world.deployment_a)
    evidence_revise(
        actor=people.a_contributor,
        evidence=dpia,
        statement="Signed version.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )

    with pytest.raises(ValidationError) as refused:
        evidence_review(
            actor=people.reviewer, link=opened, decision="accept", comment="", expected_version=opened.version
        )

    assert fx.error_codes(refused.value) == {"stale_review"}
    assert "Nothing was recorded" in refused.value.messages[0]
    assert fx.link_of(dpia, world.deployment_a).status == Status.SUBMITTED
    assert not Review.objects.exists()


def test_a_decided_link_cannot_be_decided_again(world, people, dpia):
    fx.decide(people.reviewer, dpia, world.deployment_a)

    with pytest.raises(ValidationError) as refused:
        fx.decide(fx.People(world).reviewer, dpia, world.deployment_a, decision="request_changes", comment="No.")

    assert fx.error_codes(refused.value) == {"not_submitted"}
    assert Review.objects.count() == 1


def test_a_review_decision_is_audited(world, people, conformance):
    fx.mark_clean(conformance)

    fx.decide(people.a_cso, conformance, world.deployment_a, comment="Conformance results are complete.")

    event = AuditEvent.objects.get(action="evidence.review")
    link = fx.link_of(conformance, world.deployment_a)
    assert (event.actor, event.organisation, event.outcome, event.object_id) == (
        people.a_cso,
        world.trust_a,
        AuditEvent.Outcome.SUCCESS,
        str(link.pk),
    )
    assert event.changes == {"decision": "accept", "revision": 1, "deployment": world.deployment_a.pk}


def test_a_new_revision_sends_accepted_evidence_back_for_review(world, people, dpia):
    fx.decide(people.reviewer, dpia, world.deployment_a)

    evidence_revise(
        actor=people.a_contributor,
        evidence=dpia,
        statement="Annual update.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )

    link = fx.link_of(dpia, world.deployment_a)
    assert (link.status, link.revision.number) == (Status.SUBMITTED, 2)
    assert queue(people.reviewer) == [(dpia.pk, world.deployment_a.pk)]
    assert Review.objects.get().revision.number == 1


# --- Review queues --------------------------------------------------------------------------------


def test_a_trusts_cso_sees_supplier_evidence_for_its_deployment_oldest_first(world, people):
    first = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])
    second = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-03"])
    configuration = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-02"])
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    # Resubmitting makes the first item the most recently submitted.
    evidence_revise(
        actor=people.supplier_lead,
        evidence=first,
        statement="Retested.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )

    assert queue(people.a_cso) == [
        (second.pk, world.deployment_a.pk),
        (configuration.pk, world.deployment_a.pk),
        (first.pk, world.deployment_a.pk),
    ]
    # The deployment lead reviews what the requirement gives to the lead, not what it gives the CSO.
    assert queue(people.a_lead) == [(configuration.pk, world.deployment_a.pk)]
    assert queue(people.a_contributor) == []


def test_the_national_reviewer_sees_trust_owned_submitted_evidence(world, people):
    dpia_a = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    dpia_b = fx.trust_evidence(people.b_contributor, world.deployment_b, ["GOV-03"])
    supplier_dspt = fx.supplier_evidence(people.supplier_lead, world.product_version, ["GOV-07"])
    fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])

    assert queue(people.reviewer) == [
        (dpia_a.pk, world.deployment_a.pk),
        (dpia_b.pk, world.deployment_b.pk),
        (supplier_dspt.pk, world.deployment_a.pk),
        (supplier_dspt.pk, world.deployment_b.pk),
    ]
    assert queue(people.admin) == queue(people.reviewer)


def test_nobody_sees_drafts_in_a_review_queue(world, people):
    fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"], submit=False)
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], submit=False)

    for who in ("a_cso", "a_lead", "b_cso", "reviewer", "admin"):
        assert queue(getattr(people, who)) == [], who


def test_decided_evidence_leaves_the_queue(world, people, dpia):
    fx.decide(people.reviewer, dpia, world.deployment_a, decision="request_changes", comment="Unsigned.")

    assert queue(people.reviewer) == []


def test_the_queue_costs_the_same_number_of_queries_for_5_and_50_items(world, people):
    def measure() -> tuple[int, int]:
        cso = get_user_model().objects.get(pk=people.a_cso.pk)
        with CaptureQueriesContext(connection) as captured:
            items = list(review_queue_for(cso))
            # What the queue page and the digest show for each item.
            for link in items:
                _ = (link.evidence.owner.name, link.deployment.organisation.name, link.revision.number)
        return len(items), len(captured)

    def add(count: int) -> None:
        for _ in range(count):
            fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])

    add(5)
    items_5, queries_5 = measure()
    add(45)
    items_50, queries_50 = measure()

    assert (items_5, items_50) == (5, 50)
    assert queries_50 == queries_5
