"""Evidence: who may add it for which requirements, how product-version evidence is shared with
every deployment of the version, when it expires, revisions, and who may see it."""

from datetime import date
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import ProgrammingError, transaction

from nir_portal.accounts.models import Organisation, Role
from nir_portal.audit.models import AuditEvent
from onboarding.models import Evidence, EvidenceFile, EvidenceLink, EvidenceRevision
from onboarding.selectors import evidence_files_visible_to, evidence_links_visible_to, evidence_visible_to
from onboarding.services import deployment_create
from onboarding.services.evidence.contributions import evidence_create, evidence_revise, evidence_submit
from onboarding.services.evidence.rules import expiry_date_for, review_by_for
from tests import factories
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name

Status = EvidenceLink.Status
ReviewBy = EvidenceLink.ReviewBy


def links_of(evidence: Evidence) -> dict[int, tuple[str, str, int]]:
    """Deployment id -> (status, review_by, revision number) for every link of the evidence."""
    return {
        link.deployment_id: (link.status, link.review_by, link.revision.number)
        for link in EvidenceLink.objects.filter(evidence=evidence).select_related("revision")
    }


# --- Sharing product-version evidence -----------------------------------------------------------


def test_supplier_evidence_for_a_version_is_linked_to_each_deployment_of_it_now_and_later(world, people):
    evidence = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])

    assert links_of(evidence) == {
        world.deployment_a.pk: (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 1),
        world.deployment_b.pk: (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 1),
    }

    trust_c = factories.OrganisationFactory(name="Trust C")
    later = deployment_create(
        actor=world.national_admin, organisation=trust_c, product_version=world.product_version, name="Trust C NIR"
    )

    assert links_of(evidence)[later.pk] == (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 1)
    assert Evidence.objects.count() == 1
    opened = AuditEvent.objects.get(action="deployment.create", object_id=str(later.pk))
    assert opened.changes["shared_evidence"] == 1


def test_a_later_deployment_shares_the_latest_revision_and_a_draft_stays_a_draft(world, people):
    revised = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])
    evidence_revise(
        actor=people.supplier_lead,
        evidence=revised,
        statement="Retested.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )
    draft = fx.supplier_evidence(people.supplier_lead, world.product_version, ["DEG-01"], submit=False)

    later = deployment_create(
        actor=world.national_admin,
        organisation=factories.OrganisationFactory(),
        product_version=world.product_version,
        name="Later",
    )

    assert links_of(revised)[later.pk] == (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 2)
    assert links_of(draft)[later.pk] == (Status.DRAFT, ReviewBy.DEPLOYING_CSO, 1)


def test_evidence_added_before_any_deployment_is_reviewed_as_its_requirements_say_once_one_opens(world, people):
    version = factories.product_version(world.supplier, version="2.0", name="Second product")
    evidence = fx.supplier_evidence(people.supplier_lead, version, ["GOV-07"])
    assert not EvidenceLink.objects.filter(evidence=evidence).exists()

    deployment = deployment_create(actor=people.a_lead, organisation=world.trust_a, product_version=version, name="V2")

    assert links_of(evidence) == {deployment.pk: (Status.SUBMITTED, ReviewBy.NATIONAL, 1)}


def test_evidence_creation_is_audited_and_each_file_is_sent_for_scanning_after_commit(
    world, people, django_capture_on_commit_callbacks
):
    with (
        mock.patch("onboarding.tasks.evidence_file_scan.delay") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        evidence = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"], files=2)
        assert not enqueue.called  # nothing is scanned before the evidence is committed

    files = list(EvidenceFile.objects.filter(revision__evidence=evidence))
    assert sorted(call.args[0] for call in enqueue.call_args_list) == sorted(f.pk for f in files)
    assert {f.scan_status for f in files} == {EvidenceFile.ScanStatus.PENDING}
    event = AuditEvent.objects.get(action="evidence.create")
    assert (event.actor, event.organisation, event.object_id) == (
        people.supplier_lead,
        world.supplier,
        str(evidence.pk),
    )
    assert event.changes["requirements"] == ["INT-01"]
    assert sorted(event.changes["deployments"]) == sorted([world.deployment_a.pk, world.deployment_b.pk])
    assert sorted(event.changes["files"]) == sorted(f.sha256 for f in files)


# --- What may be evidenced, and by whom --------------------------------------------------------


def test_a_statement_of_2000_characters_is_accepted_and_one_longer_is_refused(world, people):
    fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"], statement="x" * 2000)

    with pytest.raises(ValidationError) as refused:
        fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-03"], statement="x" * 2001)

    assert fx.error_codes(refused.value) == {"statement_too_long"}
    assert refused.value.messages == ["The statement can be at most 2,000 characters; it has 2,001."]
    assert Evidence.objects.count() == 1
    assert not Evidence.objects.filter(requirement_codes__contains=["INT-03"]).exists()


def test_an_unknown_requirement_code_is_refused_and_named(world, people):
    with pytest.raises(ValidationError) as refused:
        fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01", "XYZ-99"])

    assert fx.error_codes(refused.value) == {"unknown_requirement"}
    assert refused.value.messages == ["Unknown requirement: XYZ-99."]
    assert not Evidence.objects.exists()


def test_a_supplier_cannot_evidence_a_requirement_only_the_deploying_organisation_provides(world, people):
    with pytest.raises(ValidationError) as refused:
        fx.supplier_evidence(people.supplier_lead, world.product_version, ["TRN-01"])

    assert fx.error_codes(refused.value) == {"wrong_provider"}
    assert refused.value.messages == ["TRN-01 must be evidenced by deploying organisations."]
    assert not Evidence.objects.exists()


def test_a_trust_cannot_evidence_a_requirement_only_the_supplier_provides(world, people):
    with pytest.raises(ValidationError) as refused:
        fx.trust_evidence(people.a_contributor, world.deployment_a, ["INT-01"])

    assert fx.error_codes(refused.value) == {"wrong_provider"}
    assert refused.value.messages == ["INT-01 must be evidenced by suppliers."]
    assert not Evidence.objects.exists()


def test_a_requirement_both_provide_can_be_evidenced_by_either(world, people):
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["INT-02"])
    fx.supplier_evidence(people.supplier_contributor, world.product_version, ["INT-02"])

    assert Evidence.objects.count() == 2


def test_trust_members_without_the_contribute_permission_cannot_create_evidence(world):
    for role in (Role.VIEWER, Role.EXECUTIVE_APPROVER):
        person = factories.member(world.trust_a, role, mfa=False)
        with pytest.raises(PermissionDenied):
            fx.trust_evidence(person, world.deployment_a, ["GOV-03"])

    assert not Evidence.objects.exists()


def test_a_trust_cannot_add_evidence_to_another_trusts_deployment(world, people):
    for owner in (world.trust_a, world.trust_b):
        with pytest.raises(PermissionDenied):
            evidence_create(
                actor=people.b_contributor,
                owner=owner,
                deployment=world.deployment_a,
                title="DPIA",
                requirement_codes=["GOV-03"],
                statement="Ours.",
                effective_date=fx.EFFECTIVE,
                files=[],
            )

    assert not Evidence.objects.exists()


def test_a_supplier_cannot_create_evidence_on_another_suppliers_version(world, people):
    for owner in (world.other_supplier, world.supplier):
        with pytest.raises(PermissionDenied):
            evidence_create(
                actor=people.other_supplier_lead,
                owner=owner,
                product_version=world.product_version,
                title="Conformance",
                requirement_codes=["INT-01"],
                statement="Ours.",
                effective_date=fx.EFFECTIVE,
                files=[],
            )

    assert not Evidence.objects.exists()


def test_a_trust_cannot_add_product_version_evidence(world, people):
    with pytest.raises(PermissionDenied):
        evidence_create(
            actor=people.a_lead,
            owner=world.trust_a,
            product_version=world.product_version,
            title="Config",
            requirement_codes=["INT-02"],
            statement="Ours.",
            effective_date=fx.EFFECTIVE,
            files=[],
        )


def test_evidence_with_neither_statement_nor_file_is_refused(world, people):
    with pytest.raises(ValidationError) as refused:
        fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], statement="   ")

    assert fx.error_codes(refused.value) == {"empty_evidence"}
    assert not Evidence.objects.exists()


def test_a_file_alone_is_enough_evidence(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], statement="", files=1)

    assert evidence.revisions.get().statement == ""


# --- Expiry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "effective", "expiry"),
    [
        (["TRN-01"], date(2026, 1, 31), date(2027, 1, 31)),  # 12 months
        (["SOP-01"], date(2026, 1, 31), date(2028, 1, 31)),  # 24 months
        (["TRN-01"], date(2028, 2, 29), date(2029, 2, 28)),  # no 29 February next year
        (["GOV-02"], date(2026, 8, 1), date(2027, 6, 30)),  # DSPT year 2026-27
        (["GOV-02"], date(2026, 3, 1), date(2026, 6, 30)),  # DSPT year 2025-26
        (["GOV-02"], date(2026, 7, 1), date(2027, 6, 30)),
        (["GOV-02"], date(2026, 6, 30), date(2027, 6, 30)),  # published on the deadline: the next year
        (["GOV-02", "TRN-01"], date(2026, 3, 1), date(2026, 6, 30)),  # the earliest wins
        (["SOP-01", "TRN-01"], date(2026, 3, 1), date(2027, 3, 1)),
        (["GOV-03"], date(2026, 3, 1), None),  # does not expire
        (["GOV-03", "TRN-01"], date(2026, 3, 1), date(2027, 3, 1)),
    ],
)
def test_the_expiry_date_follows_the_requirements_rules(codes, effective, expiry):
    assert expiry_date_for(fx.requirements_from_file(*codes), effective) == expiry


def test_a_trusts_revision_is_stored_with_the_expiry_its_requirements_give(world, people):
    cases = [
        (["TRN-01"], date(2026, 1, 31), date(2027, 1, 31)),
        (["GOV-02"], date(2026, 8, 1), date(2027, 6, 30)),
        (["GOV-02"], date(2026, 3, 1), date(2026, 6, 30)),
        (["GOV-02"], date(2026, 6, 30), date(2027, 6, 30)),
    ]

    stored = [
        fx.trust_evidence(people.a_contributor, world.deployment_a, codes, effective_date=effective)
        .revisions.get()
        .expiry_date
        for codes, effective, _ in cases
    ]

    assert stored == [expiry for _, _, expiry in cases]


def test_a_supplier_revision_takes_the_earliest_expiry_of_its_requirements(world, people):
    evidence = fx.supplier_evidence(
        people.supplier_lead, world.product_version, ["INC-01", "GOV-07"], effective_date=date(2026, 9, 15)
    )

    assert evidence.revisions.get().expiry_date == date(2027, 6, 30)


def test_a_revision_records_the_expiry_of_its_own_effective_date(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["TRN-01"], effective_date=date(2026, 1, 31))

    revision = evidence_revise(
        actor=people.a_contributor,
        evidence=evidence,
        statement="Refreshed.",
        effective_date=date(2026, 11, 1),
        files=[],
        based_on_revision=1,
    )

    assert revision.expiry_date == date(2027, 11, 1)


# --- Revisions --------------------------------------------------------------------------------------


def test_a_new_revision_moves_every_link_back_to_waiting_for_review(world, people):
    evidence = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])
    fx.accepted(people.a_cso, evidence, world.deployment_a)

    revision = evidence_revise(
        actor=people.supplier_contributor,
        evidence=evidence,
        statement="Retested on 2.1.",
        effective_date=fx.EFFECTIVE,
        files=[fx.upload()],
        based_on_revision=1,
    )

    assert revision.number == 2
    assert links_of(evidence) == {
        world.deployment_a.pk: (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 2),
        world.deployment_b.pk: (Status.SUBMITTED, ReviewBy.DEPLOYING_CSO, 2),
    }
    assert AuditEvent.objects.get(action="evidence.revise").changes["revision"] == 2


def test_revising_from_a_stale_revision_is_refused_and_nothing_is_saved(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    evidence_revise(
        actor=people.a_lead,
        evidence=evidence,
        statement="Second.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )
    link_version = fx.link_of(evidence, world.deployment_a).version

    with pytest.raises(ValidationError) as refused:
        evidence_revise(
            actor=people.a_contributor,
            evidence=evidence,
            statement="Also second.",
            effective_date=fx.EFFECTIVE,
            files=[fx.upload()],
            based_on_revision=1,
        )

    assert fx.error_codes(refused.value) == {"stale_revision"}
    assert refused.value.messages == [
        "This evidence was revised (now revision 2) after you opened it. "
        "Your changes were not saved: reopen it to see the latest revision."
    ]
    assert list(evidence.revisions.values_list("number", "statement")) == [
        (2, "Second."),
        (1, "Approved by the trust's IG lead."),
    ]
    assert not EvidenceFile.objects.filter(revision__evidence=evidence).exists()
    assert fx.link_of(evidence, world.deployment_a).version == link_version
    assert AuditEvent.objects.filter(action="evidence.revise").count() == 1


def test_only_the_owning_organisations_contributors_revise_evidence(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])

    for who in ("a_viewer", "b_lead", "supplier_lead", "reviewer"):
        with pytest.raises(PermissionDenied):
            evidence_revise(
                actor=getattr(people, who),
                evidence=evidence,
                statement="Mine now.",
                effective_date=fx.EFFECTIVE,
                files=[],
                based_on_revision=1,
            )

    assert evidence.revisions.count() == 1


def test_a_revision_cannot_be_changed_or_deleted_even_through_the_orm(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    evidence_revise(
        actor=people.a_lead,
        evidence=evidence,
        statement="Second.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )
    # Revision 1 is referenced by nothing now, so only the database trigger stands in the way.
    first = EvidenceRevision.objects.filter(evidence=evidence, number=1)

    refusal = "Cannot update or delete rows from onboarding_evidencerevision"
    with pytest.raises(ProgrammingError, match=refusal), transaction.atomic():
        first.update(statement="Rewritten history.")
    with pytest.raises(ProgrammingError, match=refusal), transaction.atomic():
        first.delete()

    assert first.get().statement == "Approved by the trust's IG lead."


def test_a_files_bytes_cannot_change_but_its_scan_result_can(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], files=1)
    files = EvidenceFile.objects.filter(revision__evidence=evidence)

    with pytest.raises(ProgrammingError, match="Cannot update rows"), transaction.atomic():
        files.update(sha256="0" * 64)
    fx.mark_clean(evidence)

    assert files.get().scan_status == EvidenceFile.ScanStatus.CLEAN
    scan = AuditEvent.objects.get(action="evidence_file.scan")
    assert scan.changes["status"] == EvidenceFile.ScanStatus.CLEAN


def test_a_draft_is_submitted_once(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], submit=False)
    assert fx.link_of(evidence, world.deployment_a).status == Status.DRAFT

    evidence_submit(actor=people.a_lead, evidence=evidence)

    link = fx.link_of(evidence, world.deployment_a)
    assert (link.status, link.submitted_at is not None) == (Status.SUBMITTED, True)
    with pytest.raises(ValidationError) as refused:
        evidence_submit(actor=people.a_lead, evidence=evidence)
    assert fx.error_codes(refused.value) == {"not_draft"}


# --- Who reviews --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "codes", "review_by"),
    [
        ("trust", ["GOV-01"], ReviewBy.NATIONAL),
        # The requirement names the trust's lead, but nobody reviews their own organisation's evidence.
        ("trust", ["INT-02"], ReviewBy.NATIONAL),
        ("imaging_network", ["INT-04", "TRN-01"], ReviewBy.NATIONAL),
        ("supplier", ["INT-01"], ReviewBy.DEPLOYING_CSO),
        ("supplier", ["INT-02"], ReviewBy.DEPLOYING_LEAD),
        ("supplier", ["INT-01", "INT-02"], ReviewBy.DEPLOYING_CSO),
        ("supplier", ["GOV-07"], ReviewBy.NATIONAL),
        ("supplier", ["GOV-07", "INT-01"], ReviewBy.NATIONAL),
    ],
)
def test_who_reviews_follows_the_owner_and_the_requirements(kind, codes, review_by):
    assert review_by_for(fx.requirements_from_file(*codes), Organisation(kind=kind)) == review_by


def test_trust_owned_evidence_is_sent_to_the_national_team(world, people):
    evidence = fx.trust_evidence(people.a_contributor, world.deployment_a, ["INT-02"])

    assert links_of(evidence) == {world.deployment_a.pk: (Status.SUBMITTED, ReviewBy.NATIONAL, 1)}


def test_supplier_evidence_for_a_requirement_the_trusts_lead_reviews_goes_to_each_lead(world, people):
    evidence = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-02"])

    assert {link[1] for link in links_of(evidence).values()} == {ReviewBy.DEPLOYING_LEAD}


# --- Who sees evidence --------------------------------------------------------------------------


@pytest.fixture
def shared(world, people):
    """Trust A's own evidence, trust B's own evidence, and the supplier's evidence for the version,
    each submitted; plus a draft from each of trust A and the supplier."""
    return {
        "a": fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], files=1),
        "b": fx.trust_evidence(people.b_contributor, world.deployment_b, ["GOV-03"], files=1),
        "supplier": fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"], files=1),
        "a_draft": fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-04"], submit=False),
        "supplier_draft": fx.supplier_evidence(people.supplier_lead, world.product_version, ["DEG-01"], submit=False),
    }


def seen(user, shared) -> set[str]:
    names = {evidence.pk: name for name, evidence in shared.items()}
    return {names[e.pk] for e in evidence_visible_to(user)}


def seen_links(user, shared, world) -> set[tuple[str, str]]:
    names = {evidence.pk: name for name, evidence in shared.items()}
    deployments = {world.deployment_a.pk: "A", world.deployment_b.pk: "B"}
    return {(names[link.evidence_id], deployments[link.deployment_id]) for link in evidence_links_visible_to(user)}


def test_a_supplier_sees_its_own_evidence_and_drafts_but_never_a_trusts(world, people, shared):
    assert seen(people.supplier_contributor, shared) == {"supplier", "supplier_draft"}
    assert seen_links(people.supplier_contributor, shared, world) == {
        ("supplier", "A"),
        ("supplier", "B"),
        ("supplier_draft", "A"),
        ("supplier_draft", "B"),
    }
    assert {f.revision.evidence_id for f in evidence_files_visible_to(people.supplier_lead)} == {shared["supplier"].pk}


def test_a_trust_sees_its_own_evidence_and_the_suppliers_submitted_evidence_for_its_deployment(world, people, shared):
    assert seen(people.a_viewer, shared) == {"a", "a_draft", "supplier"}
    assert seen_links(people.a_viewer, shared, world) == {("a", "A"), ("a_draft", "A"), ("supplier", "A")}
    assert {f.revision.evidence_id for f in evidence_files_visible_to(people.a_viewer)} == {
        shared["a"].pk,
        shared["supplier"].pk,
    }


def test_a_trust_never_sees_another_trusts_evidence(world, people, shared):
    assert seen(people.b_cso, shared) == {"b", "supplier"}
    assert seen_links(people.b_cso, shared, world) == {("b", "B"), ("supplier", "B")}


def test_the_national_team_sees_submitted_evidence_but_no_drafts(world, people, shared):
    assert seen(people.reviewer, shared) == {"a", "b", "supplier"}
    assert ("a_draft", "A") not in seen_links(people.reviewer, shared, world)


def test_a_person_outside_every_organisation_sees_no_evidence(world, people, shared):
    assert seen(factories.UserFactory(), shared) == set()
