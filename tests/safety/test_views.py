"""The clinical safety screens through the real views: editing and rating hazards, stale edits,
who may see and change what, sign-off with recent MFA and its supersession, go-live,
incidents, supplier hazards, controls and actions, and the hazard log's query budget."""

import re
import time
from datetime import date

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nir_portal.accounts import reauth
from nir_portal.audit.models import AuditEvent
from onboarding.models import Deployment, Evidence, EvidenceLink, EvidenceRevision
from safety.models import DeploymentHazard, HazardAction, HazardControl, SafetyIncident, SignOff
from safety.services.hazards import HAZARD_FIELDS, hazard_update
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.safety.conftest import score_all


def hazard_of(deployment, number: int = 1) -> DeploymentHazard:
    return DeploymentHazard.objects.get(deployment=deployment, number=number)


def edit_data(hazard: DeploymentHazard, **changes) -> dict:
    """The edit form as the page fills it in, with `changes` typed over it."""
    data = {name: getattr(hazard, name) for name in HAZARD_FIELDS}
    data.update(changes, expected_version=changes.get("expected_version", hazard.version))
    # A ticked checkbox sends "on"; an unticked one is not sent at all.
    if data.pop("is_applicable"):
        data["is_applicable"] = "on"
    return {key: "" if value is None else value for key, value in data.items()}


def text_of(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:dd|span|div|ul|p|strong)>', html, re.S)
    assert match, f"no element with data-testid={testid}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def sign_off_now(deployment, cso) -> SignOff:
    return sign_off_create(
        actor=cso, deployment=deployment, statement="Acceptably safe.", conditions=[], mfa_verified_at=time.time()
    )


# --- editing hazards ------------------------------------------------------------------------------


def test_a_cso_edits_a_hazard_and_the_page_shows_the_ratings_looked_up_from_the_matrix(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.cso_a)

    response = client.post(
        reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}),
        edit_data(
            hazard,
            initial_severity="major",
            initial_likelihood="high",
            residual_severity="minor",
            residual_likelihood="low",
        ),
        follow=True,
    )

    hazard.refresh_from_db()
    matrix = hazard.risk_matrix
    assert (hazard.initial_rating, hazard.residual_rating) == (matrix.rating("major", "high"), 1) == (4, 1)
    html = response.content.decode()
    assert text_of(html, "initial-rating") == "4"
    assert text_of(html, "residual-rating") == "1"
    assert "Major severity, high likelihood" in html
    # The change is in the history, field by field.
    history = html[html.index('data-testid="history"') :]
    assert "Initial severity" in history and "Major" in history


def test_the_edit_form_offers_the_matrix_scales_as_radios_with_their_definitions(world, people, as_user):
    hazard = hazard_of(world.deployment_a)

    html = as_user(people.cso_a).get(reverse("safety:hazard-edit", kwargs={"pk": hazard.pk})).content.decode()

    assert 'type="radio" name="initial_severity" value="catastrophic"' in html
    assert "Death or permanent life-changing incapacity of several patients." in html
    assert 'name="expected_version"' in html and 'type="hidden"' in html
    assert 'name="initial_rating"' not in html  # ratings are looked up, never typed


def test_a_stale_edit_shows_the_conflict_in_the_error_summary_and_saves_nothing(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    opened = edit_data(hazard, name="The CSO's wording")
    hazard_update(actor=people.lead_a, hazard=hazard, expected_version=hazard.version, name="The lead's wording")

    response = as_user(people.cso_a).post(reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}), opened)

    assert response.status_code == 200
    html = response.content.decode()
    summary = html[html.index("nhsuk-error-summary") :]
    assert "was changed by someone else after you opened it" in summary
    hazard.refresh_from_db()
    assert hazard.name == "The lead's wording"


def test_a_residual_rating_of_3_without_a_justification_is_refused_with_the_reason(world, people, as_user):
    hazard = hazard_of(world.deployment_a)

    response = as_user(people.cso_a).post(
        reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}),
        edit_data(hazard, residual_severity="considerable", residual_likelihood="medium", residual_justification=""),
    )

    assert response.status_code == 200
    assert "A residual rating of 3 is undesirable" in response.content.decode()
    hazard.refresh_from_db()
    assert hazard.residual_rating is None and hazard.version == 1


def test_the_hazard_log_filters_by_residual_rating_and_status(world, people, as_user):
    score_all(world.deployment_a)
    DeploymentHazard.objects.filter(deployment=world.deployment_a, number=2).update(
        residual_severity="major", residual_likelihood="high", residual_rating=4, status="closed"
    )
    client = as_user(people.viewer_a)
    url = reverse("safety:hazard-log", kwargs={"pk": world.deployment_a.pk})

    by_rating = client.get(url, {"rating": "4"}).content.decode()
    by_status = client.get(url, {"status": "open"}).content.decode()

    assert 'data-testid="hazard-H002"' in by_rating and 'data-testid="hazard-H001"' not in by_rating
    assert 'data-testid="hazard-H001"' in by_status and 'data-testid="hazard-H002"' not in by_status
    assert '<label class="nhsuk-label" for="id_rating">Residual rating</label>' in by_rating


def test_a_deployment_lead_adds_a_local_hazard(world, people, as_user):
    response = as_user(people.lead_a).post(
        reverse("safety:hazard-create", kwargs={"pk": world.deployment_a.pk}),
        {"name": "Priors not checked at MDT", "description": "The MDT coordinator does not open NIR."},
    )

    hazard = DeploymentHazard.objects.get(deployment=world.deployment_a, name="Priors not checked at MDT")
    assert hazard.source == DeploymentHazard.Source.LOCAL
    assert response.url == reverse("safety:hazard-edit", kwargs={"pk": hazard.pk})


# --- who may see and change what ------------------------------------------------------------------------


def test_a_cso_of_another_trust_gets_404_on_every_page_of_trust_a(world, people, as_user):
    score_all(world.deployment_a)
    sign_off = sign_off_now(world.deployment_a, people.cso_a)
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.cso_b, recent_mfa=True)
    deployment = {"pk": world.deployment_a.pk}

    pages = [
        reverse("safety:hazard-log", kwargs=deployment),
        reverse("safety:hazard-log-export-csv", kwargs=deployment),
        reverse("safety:hazard-log-export-xlsx", kwargs=deployment),
        reverse("safety:sign-off", kwargs=deployment),
        reverse("safety:incident-list", kwargs=deployment),
        reverse("safety:hazard-detail", kwargs={"pk": hazard.pk}),
        reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}),
        reverse("safety:sign-off-detail", kwargs={"pk": sign_off.pk}),
    ]

    assert {url: client.get(url).status_code for url in pages} == dict.fromkeys(pages, 404)
    assert client.post(reverse("safety:sign-off", kwargs=deployment), {"statement": "Mine"}).status_code == 404
    assert client.post(reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}), edit_data(hazard)).status_code == 404
    assert not AuditEvent.objects.filter(action="hazard_log.export").exists()
    assert AuditEvent.objects.filter(action="access.denied", actor=people.cso_b).exists()


def test_a_supplier_cannot_open_a_trusts_log_but_sees_what_each_deployment_decided(world, people, as_user):
    DeploymentHazard.objects.create(
        deployment=world.deployment_a,
        number=99,
        source=DeploymentHazard.Source.LOCAL,
        name="Trust A's own secret",
        description="Local only.",
        risk_matrix=world.deployment_a.risk_plan.risk_matrix,
    )
    supplier = as_user(people.supplier_cso)
    supplier.post(
        reverse("safety:supplier-hazard-create", kwargs={"pk": world.product_version.pk}),
        {
            "code": "SUP-7",
            "name": "Query timeout not shown",
            "description": "A slow source is dropped silently.",
            "clinical_impact": "Incomplete history.",
            "causes": "Timeouts.",
            "supplier_controls": "Timeout banner.",
            "is_transferred": "on",
            "transfer_note": "Train staff on the banner.",
        },
    )
    transferred = DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard__code="SUP-7")
    assert DeploymentHazard.objects.filter(deployment=world.deployment_b, supplier_hazard__code="SUP-7").exists()
    as_user(people.cso_a, recent_mfa=True).post(
        reverse("safety:hazard-transfer-decision", kwargs={"pk": transferred.pk}),
        {
            "decision": "accepted",
            "justification": "Banner training added to induction.",
            "expected_version": transferred.version,
        },
    )
    supplier = as_user(people.supplier_cso)

    log = supplier.get(reverse("safety:hazard-log", kwargs={"pk": world.deployment_a.pk}))
    hazard_page = supplier.get(reverse("safety:hazard-detail", kwargs={"pk": transferred.pk}))
    acceptance = supplier.get(reverse("safety:supplier-hazard-list", kwargs={"pk": world.product_version.pk}))

    assert (log.status_code, hazard_page.status_code, acceptance.status_code) == (404, 404, 200)
    html = acceptance.content.decode()
    table = html[html.index('data-testid="acceptance-SUP-7"') :]
    assert "Trust A NIR" in table and "Accepted" in table and "Banner training added to induction." in table
    assert "Trust B NIR" in table and "Not decided" in table
    assert "Trust A&#x27;s own secret" not in html and "Trust A's own secret" not in html


def test_only_the_deploying_cso_decides_on_a_transferred_hazard(world, people, as_user):
    supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=world.product_version,
        code="SUP-1",
        name="Stale cache",
        description="d",
        clinical_impact="i",
        causes="c",
        supplier_controls="s",
        is_transferred=True,
        transfer_note="Purge nightly.",
    )
    transferred = DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard__code="SUP-1")
    library = hazard_of(world.deployment_a, 1)
    url = reverse("safety:hazard-transfer-decision", kwargs={"pk": transferred.pk})

    assert as_user(people.lead_a).get(url).status_code == 403  # sees the hazard; told only the CSO decides
    assert as_user(people.cso_a).get(url).status_code == 200
    assert (
        as_user(people.cso_a).get(reverse("safety:hazard-transfer-decision", kwargs={"pk": library.pk})).status_code
        == 404
    )


def test_the_national_team_reads_every_log_without_edit_controls_and_cannot_change_it(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.national_reviewer, recent_mfa=True)

    log = client.get(reverse("safety:hazard-log", kwargs={"pk": world.deployment_a.pk}))
    detail = client.get(reverse("safety:hazard-detail", kwargs={"pk": hazard.pk}))
    sign_off = client.get(reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk}))

    assert (log.status_code, detail.status_code, sign_off.status_code) == (200, 200, 200)
    assert "Add a local hazard" not in log.content.decode()
    assert "Edit hazard" not in detail.content.decode() and "Add a control" not in detail.content.decode()
    assert "Sign off the hazard log" not in sign_off.content.decode()
    edit = reverse("safety:hazard-edit", kwargs={"pk": hazard.pk})
    assert client.get(edit).status_code == 403
    assert client.post(edit, edit_data(hazard, name="National rewrite")).status_code == 403
    assert (
        client.post(reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk}), {"statement": "x"}).status_code
        == 403
    )
    hazard.refresh_from_db()
    assert hazard.name != "National rewrite"


# --- sign-off ---------------------------------------------------------------------------------------------------


def test_signing_off_without_a_recent_mfa_check_sends_the_cso_to_reauthenticate(world, people, as_user):
    score_all(world.deployment_a)
    url = reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})
    client = as_user(people.cso_a, recent_mfa=True, mfa_age=3600)

    response = client.post(url, {"statement": "Safe for use in radiology."})

    assert response.status_code == 302
    assert response.url == reauth.reauthenticate_url(url)
    assert not SignOff.objects.exists()
    # What the CSO typed is waiting for them when they come back.
    assert "Safe for use in radiology." in client.get(url).content.decode()


def test_a_cso_with_recent_mfa_signs_off_a_log_whose_residual_risks_are_acceptable(world, people, as_user):
    score_all(world.deployment_a, residual=("significant", "low"))  # rating 2
    url = reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})
    client = as_user(people.cso_a, recent_mfa=True)
    assert 'data-testid="no-blockers"' in client.get(url).content.decode()

    response = client.post(
        url,
        {
            "statement": "Acceptably safe for this use.",
            "condition_1": "Re-run BC test",
            "condition_1_due_on": "2030-12-01",
        },
        follow=True,
    )

    sign_off = SignOff.objects.get(deployment=world.deployment_a)
    assert sign_off.status == SignOff.Status.CURRENT
    assert sign_off.cso == people.cso_a and sign_off.registration_number == "7654321"
    assert HazardAction.objects.filter(sign_off=sign_off, description="Re-run BC test").exists()
    html = response.content.decode()
    assert text_of(html, "sign-off-status") == "Current"
    # and the CSO is told the executive approver authorises go-live next
    assert 'data-testid="what-happens-next"' in html
    assert f"An executive approver at {world.deployment_a.organisation.name} reviews the residual risk" in html
    assert text_of(html, "snapshot-hash") == sign_off.snapshot_sha256
    detail = client.get(reverse("safety:sign-off-detail", kwargs={"pk": sign_off.pk})).content.decode()
    assert sign_off.snapshot_sha256 in detail and "Matches the snapshot" in detail
    assert 'data-testid="snapshot-json"' in detail and "Images or reports of the wrong patient shown" in detail


def test_a_residual_rating_of_4_blocks_the_sign_off_and_says_why(world, people, as_user):
    score_all(world.deployment_a)
    DeploymentHazard.objects.filter(deployment=world.deployment_a, number=2).update(
        residual_severity="major", residual_likelihood="high", residual_rating=4
    )
    url = reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})

    response = as_user(people.cso_a, recent_mfa=True).post(url, {"statement": "Safe."})

    assert response.status_code == 200
    html = response.content.decode()
    summary = html[html.index("nhsuk-error-summary") : html.index("</div>", html.index("nhsuk-error-summary__body"))]
    assert "H002" in summary and "has a residual rating of 4: it must be reduced before sign-off." in summary
    assert not SignOff.objects.exists()


def test_a_change_after_sign_off_shows_it_superseded_with_the_change_listed(world, people, as_user):
    score_all(world.deployment_a)
    sign_off_now(world.deployment_a, people.cso_a)
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.cso_a)

    client.post(
        reverse("safety:hazard-edit", kwargs={"pk": hazard.pk}), edit_data(hazard, residual_likelihood="very_low")
    )
    html = client.get(reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})).content.decode()

    assert text_of(html, "sign-off-status") == "Superseded"
    changes = html[html.index('data-testid="superseded-changes"') :]
    assert "H001: residual.likelihood changed from" in changes
    assert SignOff.objects.get().status == SignOff.Status.SUPERSEDED
    queue = client.get(reverse("safety:review-queue")).content.decode()
    assert 'data-testid="queue-sign-offs"' in queue and "Superseded" in queue


def test_the_executive_approver_authorises_go_live_after_sign_off_and_the_stage_moves(world, people, as_user):
    url = reverse("safety:go-live", kwargs={"pk": world.deployment_a.pk})
    executive = as_user(people.executive_a, recent_mfa=True)
    at_setup = executive.get(url).content.decode()
    assert 'data-testid="onboarding-blockers"' in at_setup
    assert "The deployment is at setup and eligibility" in at_setup
    assert 'name="statement"' not in at_setup  # no form to fill in while go-live cannot be authorised
    deployment_page = world.deployment_a.get_absolute_url()
    assert 'data-testid="authorise-go-live"' not in executive.get(deployment_page).content.decode()
    refused = executive.post(url, {"statement": "I accept the residual risk."})
    assert "Go-live can be authorised once it has reached clinical safety sign-off" in refused.content.decode()
    assert Deployment.objects.get(pk=world.deployment_a.pk).stage == Deployment.Stage.SETUP

    factories.ready_for_go_live(world.deployment_a)
    assert 'data-testid="authorise-go-live"' in executive.get(deployment_page).content.decode()
    ready = executive.get(url).content.decode()
    assert 'data-testid="onboarding-blockers"' not in ready
    assert 'name="statement"' not in ready  # nor before the CSO's sign-off
    refused = executive.post(url, {"statement": "I accept the residual risk."})
    assert "needs a current sign-off" in refused.content.decode()
    score_all(world.deployment_a)
    sign_off_now(world.deployment_a, people.cso_a)

    assert 'name="statement"' in executive.get(url).content.decode()
    response = executive.post(url, {"statement": "I accept the residual risk."})

    assert response.status_code == 302
    deployment = Deployment.objects.get(pk=world.deployment_a.pk)
    assert deployment.stage == Deployment.Stage.GO_LIVE_AUTHORISED
    assert as_user(people.cso_a).get(url).status_code == 403  # the CSO's approval is not top management's


# --- incidents --------------------------------------------------------------------------------------------------


def test_an_incident_on_a_signed_off_hazard_flags_re_review_and_emails_the_cso(
    world, people, as_user, django_capture_on_commit_callbacks
):
    score_all(world.deployment_a)
    sign_off = sign_off_now(world.deployment_a, people.cso_a)
    hazard = hazard_of(world.deployment_a, 2)
    lead = as_user(people.lead_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(
            reverse("safety:incident-create", kwargs={"pk": world.deployment_a.pk}),
            {
                "reference": "INC-2026-014",
                "reported_on": "2026-03-02",
                "summary": "Priors missing at vetting.",
                "clinical_risk_assessment": "Moderate.",
                "severity": "considerable",
                "likelihood": "low",
                "system_release": "1.0",
                "hazards": [hazard.pk],
            },
        )

    incident = SafetyIncident.objects.get(reference="INC-2026-014")
    assert incident.risk_rating == 2  # considerable and low, looked up on the matrix
    assert response.url == reverse("safety:incident-detail", kwargs={"pk": incident.pk})
    sign_off.refresh_from_db()
    assert sign_off.needs_re_review
    assert [m.to for m in mail.outbox] == [[people.cso_a.email]]
    assert "INC-2026-014" in mail.outbox[0].subject
    html = as_user(people.cso_a).get(reverse("safety:sign-off", kwargs={"pk": world.deployment_a.pk})).content
    assert b'data-testid="needs-re-review"' in html


def test_the_incident_journal_records_actions_and_needs_a_cause_before_closing(world, people, as_user):
    incident = incident_report(
        actor=people.lead_a,
        deployment=world.deployment_a,
        reference="INC-1",
        reported_on=date(2026, 3, 1),
        summary="Wrong priors shown.",
    )
    client = as_user(people.lead_a)
    url = reverse("safety:incident-journal", kwargs={"pk": incident.pk})

    refused = client.post(url, {"text": "Closed it.", "closed_on": "2026-03-05"})
    client.post(
        url,
        {
            "text": "Config corrected.",
            "made_safe_on": "2026-03-02",
            "closed_on": "2026-03-05",
            "cause": "Wrong home community ID.",
        },
    )

    assert refused.status_code == 200 and "Record the cause before closing the incident." in refused.content.decode()
    incident.refresh_from_db()
    assert incident.status == SafetyIncident.Status.CLOSED and incident.cause == "Wrong home community ID."
    page = client.get(reverse("safety:incident-detail", kwargs={"pk": incident.pk})).content.decode()
    assert "Config corrected." in page
    assert as_user(people.national_reviewer).post(url, {"text": "x"}).status_code == 403


# --- controls and actions ---------------------------------------------------------------------------------------


def test_a_controls_owner_is_narrowed_to_the_trust_and_its_supplier(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.cso_a)
    url = reverse("safety:control-create", kwargs={"pk": hazard.pk})

    page = client.get(url).content.decode()
    foreign = client.post(
        url, {"kind": "design", "description": "x", "owner": world.trust_b.pk, "expected_version": hazard.version}
    )
    unverified = client.post(
        url,
        {
            "kind": "design",
            "description": "Verified NHS number only.",
            "owner": world.supplier.pk,
            "is_verified": "on",
            "expected_version": hazard.version,
        },
    )
    added = client.post(
        url,
        {
            "kind": "training",
            "description": "Absence of results is not absence of imaging.",
            "owner": world.trust_a.pk,
            "expected_version": hazard.version,
        },
    )

    assert "Trust A" in page and "Supplier S" in page and "Trust B" not in page
    assert foreign.status_code == 200 and "Select a valid choice" in foreign.content.decode()
    assert "must link to accepted evidence" in unverified.content.decode()
    assert added.status_code == 302
    assert list(HazardControl.objects.filter(hazard=hazard).values_list("kind", flat=True)) == ["training"]


def _evidence(deployment, owner, author, title: str, status: str) -> EvidenceRevision:
    evidence = Evidence.objects.create(
        owner=owner, deployment=deployment, title=title, requirement_codes=["GOV-02"], created_by=author
    )
    revision = EvidenceRevision.objects.create(
        evidence=evidence, number=1, statement="s", effective_date=date(2026, 1, 15), uploaded_by=author
    )
    EvidenceLink.objects.create(
        evidence=evidence, deployment=deployment, status=status, review_by="national", revision=revision
    )
    return revision


def test_a_verified_control_may_cite_only_evidence_accepted_for_this_deployment(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    accepted = _evidence(world.deployment_a, world.trust_a, people.lead_a, "BC test report", "accepted")
    _evidence(world.deployment_a, world.trust_a, people.lead_a, "Draft SOP", "submitted")
    elsewhere = _evidence(world.deployment_b, world.trust_b, people.cso_b, "Trust B training log", "accepted")
    client = as_user(people.cso_a)
    url = reverse("safety:control-create", kwargs={"pk": hazard.pk})

    page = client.get(url).content.decode()
    refused = client.post(
        url,
        {
            "kind": "test",
            "description": "BC tested.",
            "owner": world.trust_a.pk,
            "is_verified": "on",
            "evidence_revisions": [elsewhere.pk],
            "expected_version": hazard.version,
        },
    )
    saved = client.post(
        url,
        {
            "kind": "test",
            "description": "BC tested.",
            "owner": world.trust_a.pk,
            "is_verified": "on",
            "evidence_revisions": [accepted.pk],
            "expected_version": hazard.version,
        },
    )

    assert "BC test report, revision 1" in page
    assert "Draft SOP" not in page and "Trust B training log" not in page
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert saved.status_code == 302
    control = HazardControl.objects.get(hazard=hazard)
    assert control.is_verified and list(control.evidence_revisions.all()) == [accepted]
    detail = client.get(reverse("safety:hazard-detail", kwargs={"pk": hazard.pk})).content.decode()
    assert "BC test report</a> (revision 1)" in detail


def test_an_action_is_added_and_completed_from_the_hazard_page(world, people, as_user):
    hazard = hazard_of(world.deployment_a)
    client = as_user(people.lead_a)

    client.post(
        reverse("safety:action-create", kwargs={"pk": hazard.pk}),
        {
            "description": "Write the vetting SOP.",
            "owner": world.trust_a.pk,
            "due_on": "2030-06-30",
            "expected_version": hazard.version,
        },
    )
    action = HazardAction.objects.get(hazard=hazard)
    client.post(reverse("safety:action-complete", kwargs={"pk": action.pk}))

    action.refresh_from_db()
    assert action.completed_at is not None
    assert as_user(people.cso_b).post(reverse("safety:action-complete", kwargs={"pk": action.pk})).status_code == 404


# --- queue and matrix -------------------------------------------------------------------------------------------


def test_the_cso_queue_lists_only_their_own_organisations_unassessed_hazards(world, people, as_user):
    score_all(world.deployment_a)
    DeploymentHazard.objects.filter(deployment=world.deployment_a, number=3).update(
        residual_severity="", residual_likelihood="", residual_rating=None
    )

    html = as_user(people.cso_a).get(reverse("safety:review-queue")).content.decode()

    queue = html[html.index('data-testid="queue-hazards"') :]
    assert "H003" in queue and "Trust A NIR" in queue and "Trust B NIR" not in queue
    assert "H001" not in queue


def test_the_risk_matrix_page_is_an_accessible_table_with_acceptability(world, people, as_user):
    html = as_user(people.viewer_a).get(reverse("safety:risk-matrix")).content.decode()

    assert '<th scope="row" class="nhsuk-table__header">Very high</th>' in html
    assert '<th scope="col">Catastrophic</th>' in html
    assert "<caption" in html
    assert "Mandatory elimination or control" in html


# --- query budget -----------------------------------------------------------------------------------------------


def _add_hazards(deployment, count: int, controls_each: int = 5) -> None:
    matrix = deployment.risk_plan.risk_matrix
    hazards = DeploymentHazard.objects.bulk_create(
        [
            DeploymentHazard(
                deployment=deployment,
                number=1000 + n,
                source=DeploymentHazard.Source.LOCAL,
                name=f"Local hazard {n}",
                description="Bulk.",
                risk_matrix=matrix,
                residual_severity="minor",
                residual_likelihood="low",
                residual_rating=1,
            )
            for n in range(count)
        ]
    )
    HazardControl.objects.bulk_create(
        [
            HazardControl(
                hazard=hazard, kind=HazardControl.Kind.DESIGN, description=f"Control {c}", owner=deployment.organisation
            )
            for hazard in hazards
            for c in range(controls_each)
        ]
    )
    HazardAction.objects.bulk_create(
        [
            HazardAction(
                hazard=hazard,
                deployment=deployment,
                description="Act.",
                owner=deployment.organisation,
                due_on=date(2026, 6, 1),
            )
            for hazard in hazards
        ]
    )


@pytest.mark.parametrize("url_name", ["safety:hazard-log"])
def test_the_hazard_log_page_makes_the_same_queries_for_20_and_200_hazards(world, people, as_user, url_name):
    _add_hazards(world.deployment_a, 20)
    _add_hazards(world.deployment_b, 200)
    client = as_user(people.national_reviewer)
    counts = []
    for deployment in (world.deployment_a, world.deployment_b):
        url = reverse(url_name, kwargs={"pk": deployment.pk})
        client.get(url)  # warm the session and caches
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert b"Local hazard 199" in response.content


def test_the_hazard_log_counts_only_live_controls_and_a_hazard_without_any_as_zero(world, people, as_user):
    _add_hazards(world.deployment_a, 2, controls_each=0)
    counted, bare = DeploymentHazard.objects.filter(deployment=world.deployment_a, number__in=[1000, 1001]).order_by(
        "number"
    )
    owner = world.deployment_a.organisation
    HazardControl.objects.bulk_create(
        HazardControl(hazard=counted, kind=HazardControl.Kind.DESIGN, description=f"Control {n}", owner=owner)
        for n in range(3)
    )
    HazardControl.objects.filter(hazard=counted, description="Control 0").update(is_withdrawn=True)

    response = as_user(people.national_reviewer).get(reverse("safety:hazard-log", kwargs={"pk": world.deployment_a.pk}))
    html = response.content.decode()

    def controls_cell(hazard) -> str:
        return html.split(f'data-testid="hazard-{hazard.reference}"')[1].split("</tr>")[0].rsplit("<td", 1)[1]

    assert controls_cell(counted).endswith('<span class="nhsuk-table-responsive__heading">Controls </span>2</td>')
    assert controls_cell(bare).endswith('<span class="nhsuk-table-responsive__heading">Controls </span>0</td>')
