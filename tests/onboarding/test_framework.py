"""The onboarding framework: loading it, freezing it when published, drafting the next version,
moving deployments between versions, and who may change it."""

from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from nir_portal.audit.models import AuditEvent
from onboarding.models import Area, Deployment, Framework, Requirement
from onboarding.selectors import deployment_checklist
from onboarding.services.framework import (
    deployment_framework_change,
    framework_content,
    framework_current,
    framework_draft_create,
    framework_load,
    framework_publish,
    requirement_update,
)
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name

pytestmark = pytest.mark.django_db


def statuses(checklist) -> dict[str, str]:
    return {r.requirement.code: r.status for area in checklist.areas for r in area.requirements}


# --- Loading ------------------------------------------------------------------------------------


def test_load_framework_loads_25_requirements_across_9_areas_and_a_second_load_creates_nothing():
    out = StringIO()

    call_command("load_framework", "--publish", stdout=out)

    framework = Framework.objects.get()
    assert framework.version == 1
    assert framework.status == Framework.Status.PUBLISHED
    assert list(framework.areas.order_by("order").values_list("code", flat=True)) == fx.DEFAULT_AREAS
    assert framework.requirements.count() == 25
    int_01 = framework.requirements.get(code="INT-01")
    assert (int_01.area.code, int_01.provided_by, int_01.reviewed_by) == (
        "interoperability",
        "supplier",
        "deploying_cso",
    )
    assert "Loaded" in out.getvalue()

    again = StringIO()
    call_command("load_framework", "--publish", stdout=again)

    assert Framework.objects.count() == 1
    assert Requirement.objects.count() == 25
    assert Area.objects.count() == 9
    assert "Unchanged" in again.getvalue()
    assert AuditEvent.objects.filter(action="framework.load").count() == 1


def test_loading_the_same_data_again_returns_the_existing_version_uncreated(default_framework):
    framework, created = framework_load(actor=None, data=fx.framework_data(), publish=True)

    assert (framework, created) == (default_framework, False)


def test_loading_changed_data_creates_the_next_version_as_a_draft_and_leaves_the_published_one(default_framework):
    framework, created = framework_load(actor=None, data=fx.framework_without({"INT-04"}))

    assert created
    assert framework.version == 2
    assert framework.status == Framework.Status.DRAFT
    assert framework.requirements.count() == 24
    assert framework_current() == default_framework
    assert default_framework.requirements.filter(code="INT-04").exists()


def test_a_framework_file_with_a_repeated_code_is_refused_and_nothing_is_created(db):
    data = fx.framework_data()
    data["areas"][1]["requirements"].append(dict(data["areas"][0]["requirements"][0]))

    with pytest.raises(ValidationError, match="GOV-01 appears twice"):
        framework_load(actor=None, data=data)

    assert not Framework.objects.exists()


def test_a_framework_file_missing_a_field_is_refused_with_the_field_named(db):
    data = fx.framework_data()
    del data["areas"][0]["requirements"][0]["stage"]

    with pytest.raises(ValidationError, match="missing 'stage'"):
        framework_load(actor=None, data=data)


# --- Published versions are frozen; a new version starts as a copy ------------------------------


def test_a_published_framework_refuses_requirement_changes_with_a_clear_message(default_framework):
    requirement = default_framework.requirements.get(code="TRN-01")

    with pytest.raises(ValidationError) as refused:
        requirement_update(actor=None, requirement=requirement, title="Changed", expiry_months=6)

    assert refused.value.code == "framework_published"
    assert refused.value.messages == ["Published frameworks cannot be changed; start a new draft version."]
    requirement.refresh_from_db()
    assert (requirement.title, requirement.expiry_months) == ("Training plan and materials", 12)
    assert not AuditEvent.objects.filter(action="requirement.update").exists()


def test_a_new_draft_copies_the_source_version_and_can_be_edited_then_published(world):
    admin = world.national_admin

    draft = framework_draft_create(actor=admin, source=world.deployment_a.framework, notes="Shorter training cycle")

    assert (draft.version, draft.status, draft.notes) == (2, Framework.Status.DRAFT, "Shorter training cycle")
    assert framework_content(draft) == framework_content(world.deployment_a.framework)

    requirement_update(actor=admin, requirement=draft.requirements.get(code="TRN-01"), expiry_months=6)
    framework_publish(actor=admin, framework=draft)

    assert draft.requirements.get(code="TRN-01").expiry_months == 6
    assert world.deployment_a.framework.requirements.get(code="TRN-01").expiry_months == 12
    assert framework_current() == draft


def test_a_second_draft_is_refused_while_one_is_open(default_framework):
    framework_draft_create(actor=None, source=default_framework)

    with pytest.raises(ValidationError) as refused:
        framework_draft_create(actor=None, source=default_framework)

    assert refused.value.code == "draft_exists"
    assert Framework.objects.count() == 2


def test_a_published_framework_cannot_be_published_again(default_framework):
    with pytest.raises(ValidationError) as refused:
        framework_publish(actor=None, framework=default_framework)

    assert refused.value.code == "not_draft"


# --- Deployments and framework versions ---------------------------------------------------------


def test_publishing_a_new_version_changes_no_existing_deployment_and_new_deployments_take_it(world):
    first = world.deployment_a.framework
    second, _ = framework_load(actor=None, data=fx.framework_without({"INT-04"}), publish=True)

    assert {
        d.framework_id for d in Deployment.objects.filter(pk__in=[world.deployment_a.pk, world.deployment_b.pk])
    } == {first.pk}
    later = fx.open_deployment(world.national_admin, world.trust_a, world.supplier)
    assert later.framework == second


def test_moving_a_deployment_to_a_new_version_keeps_accepted_evidence_where_its_code_persists(world, people):
    conformance = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-01"])
    audit_samples = fx.supplier_evidence(people.supplier_lead, world.product_version, ["INT-03"])
    fx.accepted(people.a_cso, conformance, world.deployment_a)
    fx.accepted(people.a_cso, audit_samples, world.deployment_a)
    second, _ = framework_load(actor=None, data=fx.framework_without({"INT-03"}), publish=True)

    moved = deployment_framework_change(actor=people.a_lead, deployment=world.deployment_a, framework=second)

    assert moved.framework == second
    checklist = statuses(deployment_checklist(user=people.a_lead, deployment=moved))
    assert checklist["INT-01"] == "accepted"
    assert "INT-03" not in checklist
    assert len(checklist) == 24
    event = AuditEvent.objects.get(action="deployment.framework_change")
    assert (event.actor, event.organisation, event.changes) == (people.a_lead, world.trust_a, {"framework": [1, 2]})
    world.deployment_b.refresh_from_db()
    assert world.deployment_b.framework_id == world.deployment_a.framework_id != second.pk


def test_only_the_deployments_lead_moves_it_to_another_framework_version(world, people):
    second, _ = framework_load(actor=None, data=fx.framework_without({"INT-04"}), publish=True)

    for who in ("a_cso", "a_contributor", "b_lead", "supplier_lead", "reviewer"):
        with pytest.raises(PermissionDenied):
            deployment_framework_change(actor=getattr(people, who), deployment=world.deployment_a, framework=second)

    world.deployment_a.refresh_from_db()
    assert world.deployment_a.framework != second
    assert not AuditEvent.objects.filter(action="deployment.framework_change").exists()


def test_a_deployment_moves_only_to_another_published_version(world, people):
    draft = framework_draft_create(actor=None, source=world.deployment_a.framework)

    with pytest.raises(ValidationError) as to_draft:
        deployment_framework_change(actor=people.a_lead, deployment=world.deployment_a, framework=draft)
    with pytest.raises(ValidationError) as to_same:
        deployment_framework_change(
            actor=people.a_lead, deployment=world.deployment_a, framework=world.deployment_a.framework
        )

    assert fx.error_codes(to_draft.value) == {"not_published"}
    assert fx.error_codes(to_same.value) == {"same_framework"}


# --- Audit and permission -----------------------------------------------------------------------


def test_every_framework_write_is_audited_with_its_actor(world):
    admin = world.national_admin
    draft = framework_draft_create(actor=admin, source=world.deployment_a.framework)
    requirement_update(actor=admin, requirement=draft.requirements.get(code="BC-02"), mandatory=False)
    framework_publish(actor=admin, framework=draft)

    events = list(AuditEvent.objects.filter(action__startswith="framework.").order_by("id"))
    events += list(AuditEvent.objects.filter(action="requirement.update"))

    assert [(e.action, e.actor, e.object_id) for e in events] == [
        ("framework.load", None, str(world.deployment_a.framework_id)),
        ("framework.publish", None, str(world.deployment_a.framework_id)),
        ("framework.draft_create", admin, str(draft.pk)),
        ("framework.publish", admin, str(draft.pk)),
        ("requirement.update", admin, str(draft.requirements.get(code="BC-02").pk)),
    ]
    assert events[-1].changes == {"mandatory": [True, False]}


def test_only_the_national_admin_or_the_command_line_changes_the_framework(world, people):
    published = world.deployment_a.framework
    draft = framework_draft_create(actor=world.national_admin, source=published)
    requirement = draft.requirements.get(code="GOV-01")

    for who in ("reviewer", "a_lead", "a_cso", "supplier_lead"):
        person = getattr(people, who)
        attempts = [
            lambda person=person: framework_load(actor=person, data=fx.framework_without({"GOV-03"})),
            lambda person=person: framework_draft_create(actor=person, source=published),
            lambda person=person: requirement_update(actor=person, requirement=requirement, title="Changed"),
            lambda person=person: framework_publish(actor=person, framework=draft),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDenied, match=r"(?i)Only the national admin"):
                attempt()

    assert Framework.objects.count() == 2
    draft.refresh_from_db()
    assert draft.status == Framework.Status.DRAFT
    assert draft.requirements.get(code="GOV-01").title == "Data controller or data processor declaration"
