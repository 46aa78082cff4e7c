"""Expiry and reminders: accepted evidence past its date is marked expired, owners are told 30 and
7 days before and when it expired, reviewers get a digest of what waits, and the daily task
does both."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Membership
from nir_portal.audit.models import AuditEvent
from onboarding.models import EvidenceLink
from onboarding.selectors import deployment_checklist
from onboarding.services.evidence.expiry import evidence_expire_due
from onboarding.services.reminders import reminders_send, reviewer_digests_send
from onboarding.tasks import evidence_daily_expiry_and_reminders
from onboarding.tasks import reviewer_digests_send as reviewer_digests_task
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name

Status = EvidenceLink.Status
TODAY = date(2027, 1, 1)


def accepted_trust_evidence(people, world, code: str, effective: date, title: str):
    evidence = fx.trust_evidence(
        people.a_contributor, world.deployment_a, [code], effective_date=effective, title=title
    )
    fx.decide(people.reviewer, evidence, world.deployment_a)
    return evidence


@pytest.fixture
def dated(world, people):
    """Trust A's accepted evidence expiring in 30 days, 7 days, 8 days and today; a supplier item
    expiring in 30 days accepted for trust A only; and a trust item past its date but not accepted."""
    items = {
        "in_30": accepted_trust_evidence(people, world, "TRN-01", date(2026, 1, 31), "Training plan"),
        "in_7": accepted_trust_evidence(people, world, "TRN-02", date(2026, 1, 8), "Training records"),
        "in_8": accepted_trust_evidence(people, world, "BC-01", date(2026, 1, 9), "Continuity plan"),
        "today": accepted_trust_evidence(people, world, "BC-02", date(2026, 1, 1), "Fallback test"),
        "submitted_past": fx.trust_evidence(
            people.a_contributor, world.deployment_a, ["SOP-01"], effective_date=date(2024, 6, 1), title="Old SOPs"
        ),
        "supplier_in_30": fx.supplier_evidence(
            people.supplier_lead,
            world.product_version,
            ["INC-01"],
            effective_date=date(2026, 1, 31),
            title="Supplier incident process",
        ),
    }
    fx.decide(people.a_cso, items["supplier_in_30"], world.deployment_a)
    return items


def to(*users) -> set[str]:
    return {user.email for user in users}


# --- Expiry -----------------------------------------------------------------------------------------


def test_accepted_evidence_whose_expiry_has_come_is_marked_expired_and_audited(world, people, dated):
    expired = evidence_expire_due(today=TODAY)

    today_link = fx.link_of(dated["today"], world.deployment_a)
    assert expired == [today_link.pk]
    assert today_link.status == Status.EXPIRED
    assert fx.link_of(dated["in_7"], world.deployment_a).status == Status.ACCEPTED
    # Only accepted evidence expires: a submitted item past its date still waits for review.
    assert fx.link_of(dated["submitted_past"], world.deployment_a).status == Status.SUBMITTED
    event = AuditEvent.objects.get(action="evidence.expire")
    assert (event.object_id, event.organisation, event.actor) == (str(today_link.pk), world.trust_a, None)
    assert event.changes == {"expired_on": "2027-01-01"}


def test_expiring_twice_on_the_same_day_changes_nothing_more(world, people, dated):
    evidence_expire_due(today=TODAY)

    assert evidence_expire_due(today=TODAY) == []
    assert AuditEvent.objects.filter(action="evidence.expire").count() == 1


def test_expired_evidence_drops_out_of_the_accepted_count(world, people, dated):
    evidence_expire_due(today=TODAY)

    statuses = {
        r.requirement.code: r.status
        for area in deployment_checklist(user=people.a_lead, deployment=world.deployment_a).areas
        for r in area.requirements
    }
    assert (statuses["BC-02"], statuses["BC-01"]) == ("expired", "accepted")


# --- Reminders --------------------------------------------------------------------------------------
# Each person gets a copy of their own, sent by the mail task once the transaction commits.


@pytest.fixture
def sending(django_capture_on_commit_callbacks):
    """Run a service or task as beat would, then deliver what it queued; return its result."""

    def run(function, *args, **kwargs):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


def received(subject_part: str = "") -> dict[str, object]:
    messages = [m for m in mail.outbox if subject_part in m.subject]
    assert all(len(m.to) == 1 for m in messages)
    return {m.to[0]: m for m in messages}


def test_owners_are_told_of_evidence_expiring_in_30_and_7_days_and_of_expired_evidence(world, people, dated, sending):
    owners_a = to(people.a_lead, people.a_cso)
    owners_supplier = to(people.supplier_lead)
    expired = evidence_expire_due(today=TODAY)

    queued = sending(reminders_send, expired_link_ids=expired, today=TODAY)

    reminders = received("Evidence expiring on the NIR onboarding portal")
    assert set(reminders) == owners_a | owners_supplier
    assert queued == len(reminders)
    trust_body = reminders[people.a_cso.email].body
    assert reminders[people.a_lead.email].body == trust_body
    assert "Training plan for Trust A NIR: expires on 31 January 2027" in trust_body
    assert "Training records for Trust A NIR: expires on 8 January 2027" in trust_body
    assert "Fallback test for Trust A NIR: expired" in trust_body
    assert f"/evidence/{dated['in_30'].pk}/" in trust_body
    assert "Continuity plan" not in trust_body  # 8 days: no reminder today
    assert "Old SOPs" not in trust_body
    supplier_body = reminders[people.supplier_lead.email].body
    assert "Supplier incident process for Trust A NIR: expires on 31 January 2027" in supplier_body
    assert "Trust B NIR" not in supplier_body  # not accepted there, so nothing expires there
    html = reminders[people.supplier_lead.email].alternatives[0].content
    assert "Supplier incident process</a> for Trust A NIR: expires on 31 January 2027" in html


def test_contributors_and_viewers_are_not_sent_expiry_reminders(world, people, dated, sending):
    bystanders = to(people.a_contributor, people.a_viewer)

    sending(reminders_send, expired_link_ids=[], today=TODAY)

    assert not bystanders & set(received())


def test_reviewers_get_a_digest_of_what_waits_for_them(world, people, dated, sending):
    waiting_dpia = fx.trust_evidence(people.b_contributor, world.deployment_b, ["GOV-03"], title="Trust B DPIA")
    reviewers = to(people.a_cso, people.a_lead, people.b_cso, people.b_lead, people.reviewer, people.admin)

    queued = sending(reviewer_digests_send)

    digests = received("for your review")
    # Trust A's items are decided; trust B's CSO has the supplier item, the national team B's DPIA.
    assert set(digests) == to(people.b_cso, people.reviewer, people.admin) < reviewers
    assert digests[people.b_cso.email].subject == "1 evidence item waits for your review"
    assert "Supplier incident process (Supplier S) for Trust B NIR" in digests[people.b_cso.email].body
    assert "Trust B DPIA (Trust B) for Trust B NIR" in digests[people.reviewer.email].body
    assert f"/evidence/links/{fx.link_of(waiting_dpia, world.deployment_b).pk}/" in digests[people.reviewer.email].body
    assert queued == len(mail.outbox)


def test_an_inactive_reviewer_gets_no_digest(world, people, dated, sending):
    people.b_cso.is_active = False
    people.b_cso.save(update_fields=["is_active"])

    sending(reviewer_digests_send)

    assert people.b_cso.email not in received()


def test_the_digest_task_queues_the_digests(world, people, dated, sending):
    fx.trust_evidence(people.b_contributor, world.deployment_b, ["GOV-03"], title="Trust B DPIA")
    expected = to(people.b_cso, people.reviewer, people.admin)

    assert sending(reviewer_digests_task.apply).get() == 3
    assert set(received("for your review")) == expected


# --- The daily task ---------------------------------------------------------------------------------


def test_the_daily_task_expires_due_evidence_emails_its_owners_and_returns_counts(world, people, sending):
    owners = to(people.a_lead, people.a_cso)
    lapsed = accepted_trust_evidence(people, world, "TRN-01", date(2024, 1, 1), "Lapsed training plan")
    assert fx.link_of(lapsed, world.deployment_a).revision.expiry_date < timezone.localdate()

    result = sending(evidence_daily_expiry_and_reminders.apply).get()

    assert result == {"expired": 1, "emails": 2}
    assert fx.link_of(lapsed, world.deployment_a).status == Status.EXPIRED
    reminders = received()
    assert set(reminders) == owners
    assert "Lapsed training plan for Trust A NIR: expired" in reminders[people.a_lead.email].body


def test_the_daily_task_run_again_the_same_day_finds_nothing_new(world, people, sending):
    to(people.a_lead, people.a_cso)
    accepted_trust_evidence(people, world, "TRN-01", date(2024, 1, 1), "Lapsed training plan")
    sending(evidence_daily_expiry_and_reminders.run)

    assert sending(evidence_daily_expiry_and_reminders.run) == {"expired": 0, "emails": 0}
    assert mail.outbox == []


def test_the_daily_task_reminds_owners_30_days_ahead_of_the_real_date(world, people, sending):
    owners = to(people.a_lead, people.a_cso)
    expiry = timezone.localdate() + timedelta(days=30)
    try:
        effective = expiry.replace(year=expiry.year - 1)  # TRN-01 expires 12 months on
    except ValueError:
        pytest.skip("30 days from today is 29 February, which no 12-month expiry lands on")
    accepted_trust_evidence(people, world, "TRN-01", effective, "Training plan")

    assert sending(evidence_daily_expiry_and_reminders.run) == {"expired": 0, "emails": 2}
    assert set(received()) == owners


def test_membership_changes_are_respected_by_the_reminder_recipients(world, people, dated, sending):
    membership = Membership.objects.get(user=people.a_cso, organisation=world.trust_a)
    account_services.membership_revoke(actor=world.national_admin, membership=membership)

    sending(reminders_send, expired_link_ids=[], today=TODAY)

    assert people.a_cso.email not in received()
