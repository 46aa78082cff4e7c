"""A deployment's checklist: mandatory items accepted per area and overall, what waits for review,
what expires soon, what is overdue for the stage, its query cost, and the stage gate it drives."""

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from onboarding.models import Deployment, DeploymentStageChange
from onboarding.selectors import deployment_checklist
from onboarding.services import deployment_stage_change
from onboarding.services.evidence.contributions import evidence_revise
from onboarding.services.framework import deployment_framework_change, framework_load
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name

Stage = Deployment.Stage


def checklist_for(user, deployment: Deployment, today: date | None = None):
    # Fresh objects: memberships are cached per user, the framework per deployment.
    fresh_user = get_user_model().objects.get(pk=user.pk)
    fresh_deployment = Deployment.objects.get(pk=deployment.pk)
    return deployment_checklist(user=fresh_user, deployment=fresh_deployment, today=today)


def counts(checklist) -> dict[str, tuple[int, int]]:
    """Area code (and "overall") -> (mandatory accepted, mandatory total)."""
    per_area = {a.area.code: (a.mandatory_accepted, a.mandatory_total) for a in checklist.areas}
    return {**per_area, "overall": (checklist.mandatory_accepted, checklist.mandatory_total)}


def codes(items) -> list[str]:
    return [item.requirement.code for item in items]


def at_stage(deployment: Deployment, stage: str) -> Deployment:
    # Arranges a stage directly: these tests are about what the stage implies, not how it was reached.
    Deployment.objects.filter(pk=deployment.pk).update(stage=stage)
    deployment.refresh_from_db()
    return deployment


# --- Counters -------------------------------------------------------------------------------------


def test_the_mandatory_counters_per_area_and_overall_move_when_a_link_is_accepted(world, people):
    before = counts(checklist_for(people.a_lead, world.deployment_a))
    assert before["overall"] == (0, 25)
    assert before["governance"] == (0, 7)
    assert before["interoperability"] == (0, 5)
    assert [a.area.code for a in checklist_for(people.a_lead, world.deployment_a).areas] == fx.DEFAULT_AREAS

    dpia = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    conformance = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])
    submitted = counts(checklist_for(people.a_lead, world.deployment_a))
    fx.decide(people.reviewer, dpia, world.deployment_a)
    fx.decide(people.a_cso, conformance, world.deployment_a)
    after = counts(checklist_for(people.a_lead, world.deployment_a))

    assert submitted["overall"] == (0, 25)
    assert after["governance"] == (1, 7)
    assert after["interoperability"] == (1, 5)
    assert after["overall"] == (2, 25)
    assert counts(checklist_for(people.b_lead, world.deployment_b))["overall"] == (0, 25)


def _on_a_framework_where_int_04_is_optional(world, people) -> None:
    earlier, _ = framework_load(actor=None, data=fx.framework_with_optional({"INT-04"}), publish=True)
    deployment_framework_change(actor=people.a_lead, deployment=world.deployment_a, framework=earlier)


def test_accepting_an_optional_requirement_does_not_change_the_mandatory_counters(world, people):
    _on_a_framework_where_int_04_is_optional(world, people)
    monitoring = fx.trust_evidence(people.a_contributor, world.deployment_a, ["INT-04"])
    fx.decide(people.reviewer, monitoring, world.deployment_a)
    supplier_side = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-04"])
    fx.decide(people.a_lead, supplier_side, world.deployment_a)

    checklist = checklist_for(people.a_lead, world.deployment_a)
    assert counts(checklist)["interoperability"] == (0, 4)
    assert {r.requirement.code: r.status for a in checklist.areas for r in a.requirements}["INT-04"] == "accepted"


def test_a_requirement_provided_by_both_parties_needs_each_partys_accepted_evidence(world, people):
    trust_side = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-01"])
    fx.decide(people.reviewer, trust_side, world.deployment_a)

    def gov_01():
        checklist = checklist_for(people.a_lead, world.deployment_a)
        return next(r for a in checklist.areas for r in a.requirements if r.requirement.code == "GOV-01")

    assert gov_01().status == "partly_accepted"
    assert counts(checklist_for(people.a_lead, world.deployment_a))["governance"][0] == 0

    supplier_side = fx.supplier_evidence(people.supplier_lead, world.product_version, ["GOV-01"])
    fx.decide(people.reviewer, supplier_side, world.deployment_a)

    assert gov_01().status == "accepted"
    assert counts(checklist_for(people.a_lead, world.deployment_a))["governance"][0] == 1


def test_the_counts_are_the_same_for_the_supplier_as_for_the_trust(world, people):
    training = fx.trust_evidence(people.a_contributor, world.deployment_a, ["TRN-01"])
    fx.decide(people.reviewer, training, world.deployment_a)

    trust_view = checklist_for(people.a_lead, world.deployment_a)
    supplier_view = checklist_for(people.supplier_lead, world.deployment_a)

    assert counts(trust_view) == counts(supplier_view)
    supplier_links = [link for a in supplier_view.areas for r in a.requirements for link in r.links]
    assert all(link.evidence.owner_id == world.supplier.pk for link in supplier_links)


def test_evidence_covering_several_requirements_counts_for_each(world, people):
    governance_pack = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03", "GOV-04", "GOV-05"])

    fx.decide(people.reviewer, governance_pack, world.deployment_a)

    assert counts(checklist_for(people.a_lead, world.deployment_a))["governance"] == (3, 7)


# --- Lists ------------------------------------------------------------------------------------------


def test_waiting_for_review_lists_submitted_requirements_and_not_drafts_or_decided_ones(world, people):
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-04"])
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-05"], submit=False)
    decided = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-06"])
    fx.decide(people.reviewer, decided, world.deployment_a, decision="request_changes", comment="Unsigned.")
    fx.supplier_evidence(people.supplier_lead, world.product_version, ["DEG-01"])

    checklist = checklist_for(people.a_lead, world.deployment_a)

    assert codes(checklist.waiting_for_review) == ["GOV-04", "DEG-01"]
    statuses = {r.requirement.code: r.status_label for a in checklist.areas for r in a.requirements}
    assert (statuses["GOV-05"], statuses["GOV-06"], statuses["GOV-07"]) == (
        "Draft",
        "Changes requested",
        "Not started",
    )


def test_expiring_lists_accepted_evidence_that_expires_within_30_days(world, people):
    today = date(2027, 1, 1)
    in_30_days = fx.trust_evidence(
        people.a_contributor, world.deployment_a, ["TRN-01"], effective_date=date(2026, 1, 31)
    )
    in_31_days = fx.trust_evidence(
        people.a_contributor, world.deployment_a, ["TRN-02"], effective_date=date(2026, 2, 1)
    )
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["BC-01"], effective_date=date(2026, 1, 10))
    fx.decide(people.reviewer, in_30_days, world.deployment_a)
    fx.decide(people.reviewer, in_31_days, world.deployment_a)

    checklist = checklist_for(people.a_lead, world.deployment_a, today=today)

    # BC-01 expires sooner but is only submitted, so it is not counted on yet.
    assert codes(checklist.expiring) == ["TRN-01"]


def test_overdue_lists_unaccepted_mandatory_requirements_of_stages_already_passed(world, people):
    assert checklist_for(people.a_lead, world.deployment_a).overdue == []
    dpia = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"])
    fx.decide(people.reviewer, dpia, world.deployment_a)
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-04"])

    at_stage(world.deployment_a, Stage.GOVERNANCE)
    assert codes(checklist_for(people.a_lead, world.deployment_a).overdue) == ["GOV-01"]

    at_stage(world.deployment_a, Stage.TECHNICAL)
    # Submitted (GOV-04) is still overdue; accepted (GOV-03) is not; technical items are not yet due.
    assert codes(checklist_for(people.a_lead, world.deployment_a).overdue) == [
        "GOV-01",
        "GOV-02",
        "GOV-04",
        "GOV-05",
        "GOV-06",
        "GOV-07",
    ]


def test_overdue_never_lists_an_optional_requirement(world, people):
    _on_a_framework_where_int_04_is_optional(world, people)
    at_stage(world.deployment_a, Stage.SAFETY_SIGN_OFF)

    overdue = codes(checklist_for(people.a_lead, world.deployment_a).overdue)

    assert "INT-04" not in overdue
    assert "INT-01" in overdue
    assert "TRN-01" not in overdue  # a safety sign-off item is due at the end of that stage


# --- Query cost -------------------------------------------------------------------------------------


def test_the_checklist_costs_the_same_number_of_queries_for_5_and_50_requirements(world, people):
    def deployment_with(requirement_count: int) -> Deployment:
        framework_load(
            actor=None, data=fx.small_framework_data(requirement_count, name=f"{requirement_count} items"), publish=True
        )
        deployment = fx.open_deployment(world.national_admin, world.trust_a, world.supplier)
        for number in range(1, requirement_count + 1):
            evidence = fx.trust_evidence(people.a_contributor, deployment, [f"T-{number:03d}"])
            evidence_revise(
                actor=people.a_contributor,
                evidence=evidence,
                statement="Second.",
                effective_date=fx.EFFECTIVE,
                files=[],
                based_on_revision=1,
            )
            if number % 5 == 0:
                fx.decide(people.reviewer, evidence, deployment)
        return deployment

    def measure(deployment: Deployment) -> tuple[int, int]:
        user = get_user_model().objects.get(pk=people.a_lead.pk)
        fresh = Deployment.objects.get(pk=deployment.pk)
        with CaptureQueriesContext(connection) as captured:
            checklist = deployment_checklist(user=user, deployment=fresh)
            # What the checklist page shows.
            shown = [
                (
                    a.area.name,
                    a.mandatory_accepted,
                    r.requirement.title,
                    r.status_label,
                    [link.revision.number for link in r.links],
                )
                for a in checklist.areas
                for r in a.requirements
            ]
            _ = (checklist.overdue, checklist.expiring, checklist.waiting_for_review, checklist.mandatory_accepted)
        return len(shown), len(captured)

    small, large = deployment_with(5), deployment_with(50)
    shown_5, queries_5 = measure(small)
    shown_50, queries_50 = measure(large)

    assert (shown_5, shown_50) == (5, 50)
    assert counts(checklist_for(people.a_lead, large))["overall"] == (10, 50)
    assert queries_50 == queries_5


# --- The stage gate ---------------------------------------------------------------------------------


def test_leaving_setup_is_refused_while_gov_01_is_not_accepted_and_the_refusal_names_it(world, people):
    fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-01"])  # submitted is not enough

    with pytest.raises(ValidationError) as refused:
        deployment_stage_change(actor=people.a_lead, deployment=world.deployment_a, to_stage=Stage.GOVERNANCE)

    assert fx.error_codes(refused.value) == {"stage_incomplete"}
    assert "GOV-01" in refused.value.messages[0]
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SETUP


def test_leaving_setup_is_allowed_once_gov_01_is_accepted(world, people):
    declaration = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-01"])
    fx.decide(people.reviewer, declaration, world.deployment_a)
    supplier_declaration = fx.supplier_evidence(people.supplier_lead, world.product_version, ["GOV-01"])
    fx.decide(people.reviewer, supplier_declaration, world.deployment_a)

    moved = deployment_stage_change(actor=people.a_lead, deployment=world.deployment_a, to_stage=Stage.GOVERNANCE)

    assert moved.stage == Stage.GOVERNANCE
    assert DeploymentStageChange.objects.filter(deployment=moved, to_stage=Stage.GOVERNANCE).exists()
    # Trust B's deployment shares nothing with trust A's acceptance.
    with pytest.raises(ValidationError):
        deployment_stage_change(actor=people.b_lead, deployment=world.deployment_b, to_stage=Stage.GOVERNANCE)
