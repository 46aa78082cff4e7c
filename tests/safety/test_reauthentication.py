"""Every action that binds a person needs a fresh authenticator check, in the service and on the
page: a stale session is sent to re-authenticate, nothing is written, and after entering a code
the person is back at the same form with what they typed, to confirm it again."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from nir_portal.accounts import reauth
from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Membership, Role
from nir_portal.audit.models import AuditEvent
from safety import cscr_services
from safety.models import CSCRBundleJob, DeploymentHazard, GoLiveAuthorisation, SignOff
from safety.services.go_live import go_live_authorise
from safety.services.hazards import hazard_transfer_decide
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.factories import totp_code
from tests.safety.conftest import score_all

STALE = settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 60


def fresh_totp_code(secret: str) -> str:
    # The server accepts only the current 30-second step: wait out its last moments.
    if 30 - time.time() % 30 < 2:
        time.sleep(30 - time.time() % 30 + 0.1)
    return totp_code(secret)


def _signed_off(world, people):
    score_all(world.deployment_a)
    return sign_off_create(
        actor=people.cso_a, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )


def _transferred_hazard(world, people) -> DeploymentHazard:
    supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=world.product_version,
        code="SUP-9",
        name="Partial results not flagged",
        description="d",
        clinical_impact="i",
        causes="c",
        supplier_controls="Banner.",
        is_transferred=True,
        transfer_note="Train staff.",
    )
    return DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard__code="SUP-9")


@dataclass
class Case:
    """One binding action as a person meets it: who acts, where the form is, what they type."""

    actor: object
    form_url: str
    post_url: str
    data: dict
    typed: list[str]  # what the returned form must show again (text, or `name=value` for a choice)
    written: Callable[[], bool]  # whether the action took effect
    audit_action: str
    call_service: Callable[[float | None], object]


def sign_off_case(world, people) -> Case:
    score_all(world.deployment_a)
    url = reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})
    data = {
        "statement": "Safe for use in radiology.",
        "condition_1": "Re-run the BC test",
        "condition_1_due_on_day": "1",
        "condition_1_due_on_month": "12",
        "condition_1_due_on_year": "2030",
    }
    return Case(
        actor=people.cso_a,
        form_url=url,
        post_url=url,
        data=data,
        typed=[
            "Safe for use in radiology.",
            "Re-run the BC test",
            'name="condition_1_due_on_day" type="text" inputmode="numeric" autocomplete="off" value="1"',
            'name="condition_1_due_on_year" type="text" inputmode="numeric" autocomplete="off" value="2030"',
        ],
        written=lambda: SignOff.objects.exists(),
        audit_action="sign_off.create",
        call_service=lambda at: sign_off_create(
            actor=people.cso_a, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=at
        ),
    )


def go_live_case(world, people) -> Case:
    _signed_off(world, people)
    factories.ready_for_go_live(world.deployment_a)
    url = reverse("safety:go-live", kwargs={"pk": world.deployment_a.pk})
    return Case(
        actor=people.executive_a,
        form_url=url,
        post_url=url,
        data={"statement": "I accept the residual risk for the trust."},
        typed=["I accept the residual risk for the trust."],
        written=lambda: GoLiveAuthorisation.objects.exists(),
        audit_action="go_live.authorise",
        call_service=lambda at: go_live_authorise(
            actor=people.executive_a, deployment=world.deployment_a, statement="Accepted.", mfa_verified_at=at
        ),
    )


def transfer_decision_case(world, people) -> Case:
    hazard = _transferred_hazard(world, people)
    url = reverse("safety:hazard-transfer-decision", kwargs={"pk": hazard.pk})
    return Case(
        actor=people.cso_a,
        form_url=url,
        post_url=url,
        data={"decision": "accepted", "justification": "Banner training added.", "expected_version": hazard.version},
        typed=["Banner training added.", "decision=accepted"],
        written=lambda: DeploymentHazard.objects.get(pk=hazard.pk).transfer_decision != hazard.transfer_decision,
        audit_action="hazard.transfer_decision",
        call_service=lambda at: hazard_transfer_decide(
            actor=people.cso_a,
            hazard=hazard,
            decision="accepted",
            justification="Fits.",
            expected_version=hazard.version,
            mfa_verified_at=at,
        ),
    )


def bundle_case(world, people) -> Case:
    _signed_off(world, people)
    return Case(
        actor=people.cso_a,
        form_url=reverse("cscr:bundle-list", kwargs={"pk": world.deployment_a.pk}),
        post_url=reverse("cscr:bundle-request", kwargs={"pk": world.deployment_a.pk}),
        data={"lifecycle_phase": "use", "include_evidence": "on"},
        typed=["lifecycle_phase=use", "include_evidence=on"],
        written=lambda: CSCRBundleJob.objects.exists(),
        audit_action="cscr.request",
        call_service=lambda at: cscr_services.bundle_request(
            actor=people.cso_a, deployment=world.deployment_a, mfa_verified_at=at
        ),
    )


def role_change_case(world, people) -> Case:
    membership = Membership.objects.get(user=people.viewer_a, organisation=world.trust_a)
    return Case(
        actor=people.lead_a,
        form_url=reverse("accounts:membership-role", kwargs={"pk": membership.pk}),
        post_url=reverse("accounts:membership-role", kwargs={"pk": membership.pk}),
        data={"role": Role.EVIDENCE_CONTRIBUTOR},
        typed=[f"role={Role.EVIDENCE_CONTRIBUTOR}"],
        written=lambda: Membership.objects.get(pk=membership.pk).role != Role.VIEWER,
        audit_action="membership.change_role",
        call_service=lambda at: account_services.membership_change_role(
            actor=people.lead_a, membership=membership, role=Role.EVIDENCE_CONTRIBUTOR, mfa_verified_at=at
        ),
    )


CASES = {
    "cso sign-off": sign_off_case,
    "go-live authorisation": go_live_case,
    "transferred hazard decision": transfer_decision_case,
    "cscr bundle issue": bundle_case,
    "membership role change": role_change_case,
}


def shows_typed(html: str, typed: str) -> bool:
    if "=" in typed and " " not in typed:
        name, value = typed.split("=", 1)
        inputs = re.findall(r"<input[^>]*>", html)
        return any(
            f'name="{name}"' in tag and (f'value="{value}"' in tag or value == "on") and "checked" in tag
            for tag in inputs
        )
    return typed in html


@pytest.mark.parametrize("action", sorted(CASES))
def test_a_stale_session_is_sent_to_reauthenticate_writes_nothing_and_returns_to_what_it_typed(
    action, world, people, as_user
):
    case = CASES[action](world, people)
    client = as_user(case.actor, recent_mfa=True, mfa_age=STALE)
    assert not any(shows_typed(client.get(case.form_url).content.decode(), typed) for typed in case.typed)

    refused = client.post(case.post_url, case.data)

    assert refused.status_code == 302
    assert refused.url == reauth.reauthenticate_url(case.form_url)
    assert not case.written()
    assert not AuditEvent.objects.filter(action=case.audit_action, actor=case.actor).exists()

    back = client.post(
        f"{reverse('mfa_reauthenticate')}?{urlencode({'next': case.form_url})}",
        {"code": fresh_totp_code(case.actor.totp_secret)},
    )
    assert back.status_code == 302 and back.url == case.form_url
    assert not case.written()  # the POST is not replayed: the person confirms it
    form_page = client.get(case.form_url).content.decode()
    missing = [typed for typed in case.typed if not shows_typed(form_page, typed)]
    assert not missing, f"not restored: {missing}"
    # Taken once: a later visit starts clean.
    assert not any(shows_typed(client.get(case.form_url).content.decode(), t) for t in case.typed if "=" not in t)

    confirmed = client.post(case.post_url, case.data)

    assert confirmed.status_code == 302 and "reauthenticate" not in confirmed.url
    assert case.written()


@pytest.mark.parametrize("action", sorted(CASES))
@pytest.mark.parametrize("verified", ["never", "stale", "in the future"])
def test_the_service_itself_refuses_without_a_fresh_check(action, verified, world, people, as_user):
    case = CASES[action](world, people)
    at = {"never": None, "stale": time.time() - STALE, "in the future": time.time() + 3600}[verified]

    with pytest.raises(ValidationError) as refused:
        case.call_service(at)

    assert refused.value.code == reauth.REAUTHENTICATION_REQUIRED
    assert not case.written()


@pytest.mark.parametrize("action", sorted(CASES))
def test_a_fresh_check_inside_the_window_lets_the_service_act(action, world, people):
    case = CASES[action](world, people)

    case.call_service(time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 30)

    assert case.written()


def test_a_draft_kept_for_one_person_is_not_given_to_another_in_the_same_session(world, people, as_user):
    case = sign_off_case(world, people)
    client = as_user(people.cso_a, recent_mfa=True, mfa_age=STALE)
    client.post(case.post_url, case.data)
    session = client.session
    drafts = session[reauth.DRAFTS_SESSION_KEY]
    drafts[case.form_url]["user"] = str(people.lead_a.pk)
    session[reauth.DRAFTS_SESSION_KEY] = drafts
    session.save()

    assert "Safe for use in radiology." not in client.get(case.form_url).content.decode()
