"""A CSO reviews the hazard log, accepts a transferred supplier hazard, reauthenticates and signs
off; a new revision of evidence a control relies on then supersedes the sign-off (issue 4
acceptance). In a real browser, signed in through the real form with TOTP, axe on every page."""

import re
import time
from importlib import import_module

import pyotp
import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from playwright.sync_api import BrowserContext, Page, expect

from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import EvidenceRevision
from safety.models import DeploymentHazard, SignOff
from safety.services.controls import control_save
from safety.services.sign_off import sign_off_blockers
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.browser.axe import assert_accessible
from tests.factories import PASSWORD
from tests.onboarding import evidence_fixtures as fx
from tests.safety.conftest import score_all

pytestmark = pytest.mark.browser

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
EVIDENCE_TITLE = "Interface conformance test report"
TOTP_PERIOD = 30


# --- authenticator codes ---------------------------------------------------------------------------


def fresh_code(secret: str, *, after_step: int | None = None) -> tuple[str, int]:
    """A code the server will accept: from a later time step than `after_step` (allauth refuses a
    code already used), and not so close to the step's end that the server's clock has moved on
    by the time the form arrives. Returns the code and its step."""
    while True:
        now = time.time()
        step, left = int(now) // TOTP_PERIOD, TOTP_PERIOD - now % TOTP_PERIOD
        if (after_step is None or step > after_step) and left > 3:
            return pyotp.TOTP(secret).at(now), step
        time.sleep(left + 0.2)


def age_authentication(context: BrowserContext, seconds: float) -> None:
    """Make every authentication recorded in the browser's session `seconds` older, as if the
    person had signed in that long ago (the clock, not the journey, is what is simulated)."""
    key = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=key)
    records = session["account_authentication_methods"]
    assert any(r["method"] == "mfa" for r in records), f"no MFA recorded at sign-in: {records}"
    for record in records:
        record["at"] -= seconds
    session["account_authentication_methods"] = records
    session.save()


# --- the journey -------------------------------------------------------------------------------------


def sign_in_with_totp(page: Page, checked_pages, live_server, person) -> int:
    """The real sign-in form, then the authenticator code; returns the code's time step."""
    page.goto(live_server.url + reverse("account_login"))
    assert_accessible(page, checked_pages, label="sign in, CSO")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_authenticate"))))
    assert_accessible(page, checked_pages, label="authenticator code at sign-in, CSO")
    code, step = fresh_code(person.totp_secret)
    page.locator("input[name=code]").fill(code)
    page.locator("input[name=code]").press("Enter")
    expect(page).to_have_url(live_server.url + reverse("home"))
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person.full_name)
    return step


def test_cso_accepts_a_transferred_hazard_reauthenticates_and_signs_off_and_a_new_evidence_revision_supersedes_it(
    safety_reference_data, framework, world, live_server, context, page, sign_in, checked_pages, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "evidence-store"},
        },
    }
    deployment = world.deployment_a
    cso = world.member(world.trust_a, Role.CSO, full_name="Dr Ada Clinician")
    CSOProfile.objects.create(
        user=cso,
        professional_body=CSOProfile.ProfessionalBody.GMC,
        registration_number="7654321",
        registration_checked_on=factories.recent_registration_check(),
    )
    supplier_lead = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    supplier_cso = world.member(world.supplier, Role.SUPPLIER_CSO)

    # Given Trust A's hazard log assessed throughout, with a control verified by supplier evidence
    # that Trust A's CSO accepted
    score_all(deployment)
    evidence = fx.supplier_evidence(supplier_lead, world.product_version, ["INT-01"], files=1, title=EVIDENCE_TITLE)
    fx.mark_clean(evidence)
    fx.decide(cso, evidence, deployment, "accept")
    verified = DeploymentHazard.objects.filter(deployment=deployment).order_by("number").first()
    control_save(
        actor=cso,
        hazard=verified,
        expected_version=verified.version,
        kind="test",
        description="Supplier's conformance tests cover every NIR message type.",
        owner=world.supplier,
        is_verified=True,
        evidence_revisions=[EvidenceRevision.objects.get(evidence=evidence, number=1)],
    )
    # and one hazard the supplier transferred under DCB0129, not yet decided on or assessed
    supplier_hazard = supplier_hazard_save(
        actor=supplier_cso,
        product_version=world.product_version,
        code="SUP-07",
        name="Report sent to the wrong registry record",
        description="A report reaches another patient's record.",
        clinical_impact="Wrong treatment decisions.",
        causes="Demographic mismatch at the interface.",
        supplier_controls="NHS number and date of birth must both match.",
        is_transferred=True,
        transfer_note="Check your PAS sends verified NHS numbers.",
    )
    transferred = DeploymentHazard.objects.get(deployment=deployment, supplier_hazard=supplier_hazard)
    name = f"{transferred.reference} {transferred.name}"
    assert sign_off_blockers(deployment) == [
        f"{name} has no residual risk assessment.",
        f"{name} was transferred by the supplier and needs your decision.",
    ], "the log should be ready except for the transferred hazard"

    # When the CSO signs in with their password and authenticator code
    sign_in_step = sign_in_with_totp(page, checked_pages, live_server, cso)
    assert_accessible(page, checked_pages, label="home, CSO after sign-in")

    # and opens their review queue from their home page
    page.get_by_role("link", name="Hazards needing your attention").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinical safety: needs your attention")
    assert_accessible(page, checked_pages, label="CSO review queue, transferred hazard pending")

    # Then the transferred hazard is the one thing waiting for them
    queue = page.get_by_test_id("queue-hazards").locator("tbody tr")
    expect(queue).to_have_count(1)
    expect(queue).to_contain_text("Your decision on the supplier's transfer")
    expect(queue).to_contain_text("A residual risk assessment")

    # When they open it, then the hazard log
    queue.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert_accessible(page, checked_pages, label="transferred hazard, undecided")
    page.get_by_role("link", name="Back to the hazard log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hazard log")
    expect(page.get_by_test_id(f"hazard-{transferred.reference}")).to_contain_text("Decision needed")
    assert_accessible(page, checked_pages, label="hazard log, before sign-off")

    # and filter it to the hazards without a residual rating
    page.get_by_label("Residual rating").select_option(label="Not assessed")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("hazard-log").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(transferred.name)
    assert_accessible(page, checked_pages, label="hazard log filtered to not assessed")

    # and accept the transferred hazard with a justification
    rows.get_by_role("link", name=name).click()
    page.get_by_role("link", name="Decide on the transfer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Decide on a transferred hazard")
    assert_accessible(page, checked_pages, label="transfer decision form")
    page.get_by_role("radio", name="Accept it as the supplier describes it").check()
    justification = "Our PAS sends only verified NHS numbers (PDS-traced); the supplier's control holds."
    page.get_by_label("Reason for your decision").fill(justification)
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_contain_text("Your decision on the transferred hazard has been recorded.")
    expect(page.get_by_test_id("transfer-decision")).to_have_text(f"Accepted: {justification}")
    assert_accessible(page, checked_pages, label="transferred hazard, accepted")

    # and score its risk
    page.get_by_role("link", name="Edit hazard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit {transferred.reference}")
    assert_accessible(page, checked_pages, label="edit hazard form")
    for legend, choice in (
        ("Initial severity", "Major"),
        ("Initial likelihood", "Medium"),
        ("Residual severity", "Minor"),
        ("Residual likelihood", "Low"),
    ):
        page.get_by_role("group", name=legend).get_by_role("radio", name=choice, exact=True).check()
    page.get_by_role("button", name="Save hazard").click()
    expect(page.get_by_role("status")).to_contain_text("The hazard has been saved.")
    expect(page.get_by_test_id("residual-risk")).to_contain_text("Minor severity, low likelihood: rating 1")
    expect(page.get_by_test_id("initial-rating")).to_have_text("3")
    assert_accessible(page, checked_pages, label="transferred hazard, assessed")

    # When they go to the sign-off page, their sign-in now more than five minutes old
    page.get_by_role("link", name="Back to the hazard log").click()
    page.get_by_role("link", name="Sign-off of this hazard log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hazard log sign-off")
    expect(page.get_by_test_id("no-sign-off")).to_be_visible()
    expect(page.get_by_test_id("no-blockers")).to_be_visible()
    assert_accessible(page, checked_pages, label="sign-off page, ready to sign")
    age_authentication(context, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 60)
    page.reload()
    expect(page.get_by_text("You will be asked for a code from your authenticator app first.")).to_be_visible()
    statement = "The residual risks are acceptable for NIR in Trust A's imaging departments."
    page.get_by_label("Summary safety statement").fill(statement)
    page.get_by_role("button", name="Sign off the hazard log").click()

    # Then they are asked for a code from their authenticator app, and nothing is signed yet
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_reauthenticate"))))
    expect(page.get_by_role("status")).to_contain_text("Enter a code from your authenticator app")
    assert_accessible(page, checked_pages, label="reauthenticate with authenticator code, before sign-off")
    assert not SignOff.objects.filter(deployment=deployment).exists()

    # When they enter a fresh code (the one used to sign in is spent)
    code, _ = fresh_code(cso.totp_secret, after_step=sign_in_step)
    page.locator("input[name=code]").fill(code)
    page.get_by_role("button", name="Confirm").click()

    # Then they are back on the sign-off page with their statement kept, and sign off
    expect(page).to_have_url(live_server.url + reverse("safety:sign-off", kwargs={"pk": deployment.pk}))
    expect(page.get_by_label("Summary safety statement")).to_have_value(statement)
    expect(page.get_by_text("You will be asked for a code")).to_have_count(0)
    assert_accessible(page, checked_pages, label="sign-off page after reauthentication")
    page.get_by_role("button", name="Sign off the hazard log").click()

    # Then the page shows the sign-off as current, with the hash of what was signed
    expect(page.get_by_role("status")).to_contain_text("You have signed off the hazard log.")
    expect(page.get_by_test_id("sign-off-status")).to_have_text("Current")
    sign_off = SignOff.objects.get(deployment=deployment)
    assert re.fullmatch(r"[0-9a-f]{64}", sign_off.snapshot_sha256)
    expect(page.get_by_test_id("snapshot-hash")).to_have_text(sign_off.snapshot_sha256)
    expect(page.get_by_test_id("sign-off")).to_contain_text(statement)
    assert_accessible(page, checked_pages, label="sign-off page, current")
    page.get_by_role("link", name="See what was signed off").click()
    expect(page.get_by_test_id("snapshot-hash")).to_have_text(sign_off.snapshot_sha256)
    expect(page.get_by_text("Matches the snapshot")).to_be_visible()
    expect(page.get_by_test_id("snapshot-hazards")).to_contain_text(transferred.name)
    assert_accessible(page, checked_pages, label="sign-off detail, current")
    # and what was signed binds the evidence revision the control relies on, file hashes included
    cited = [e for h in sign_off.snapshot["hazards"] for c in h["controls"] for e in c["evidence"]]
    assert [(e["title"], e["revision"]) for e in cited] == [(EVIDENCE_TITLE, 1)]
    assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) for e in cited for f in e["files"])

    # When the supplier uploads a new revision of the evidence the control relies on
    cso_cookies = context.cookies()
    sign_in(context, supplier_lead)
    page.goto(live_server.url + reverse("onboarding:evidence-detail", kwargs={"pk": evidence.pk}))
    assert_accessible(page, checked_pages, label="evidence detail, supplier, before revising")
    page.get_by_role("link", name="Upload a new revision").click()
    assert_accessible(page, checked_pages, label="upload a new revision, supplier")
    page.get_by_label("Statement").fill("Re-run against the 2026 conformance suite.")
    page.get_by_label("Files (optional)").set_input_files(
        {"name": "conformance-2026.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status")).to_contain_text("Revision 2 has been saved.")
    assert_accessible(page, checked_pages, label="evidence detail, supplier, revision 2")

    # Then the CSO's queue lists the sign-off as superseded
    context.clear_cookies()
    context.add_cookies(cso_cookies)
    page.goto(live_server.url + reverse("home"))
    assert_accessible(page, checked_pages, label="home, CSO after the new revision")
    page.get_by_role("link", name="Hazards needing your attention").click()
    expect(page.get_by_test_id("queue-sign-offs")).to_contain_text("Superseded")
    assert_accessible(page, checked_pages, label="CSO review queue, sign-off superseded")

    # and their sign-off page shows it superseded, listing the new revision of that evidence
    page.get_by_test_id("queue-sign-offs").get_by_role("link", name=deployment.name).click()
    expect(page.get_by_test_id("sign-off-status")).to_have_text("Superseded")
    changes = page.get_by_test_id("superseded-changes")
    expect(changes).to_contain_text(EVIDENCE_TITLE)
    expect(changes).to_contain_text("new revision 2")
    expect(changes).to_contain_text("signed with revision 1")
    assert_accessible(page, checked_pages, label="sign-off page, superseded")
    sign_off.refresh_from_db()
    assert sign_off.status == SignOff.Status.SUPERSEDED
