"""The trust's lead records its go-live on 2.0; a supplier publishes version 2.1; the trust is
flagged; its lead upgrades the case; the CSO re-reviews the hazards the change touched and signs
off; the executive authorises; the deployment, still live, is live on 2.1, and 2.0's case stays
readable. In a real browser, axe on every page."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import CaseVersion, Deployment, ProductVersion
from safety.models import DeploymentHazard, SignOff
from safety.services.go_live import go_live_authorise
from safety.services.hazards import hazard_transfer_decide
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.browser.axe import assert_accessible
from tests.browser.test_sign_off_journey import sign_in_with_totp
from tests.safety.conftest import score_all

pytestmark = pytest.mark.browser


def _supplier_hazard(supplier_cso, version, name):
    return supplier_hazard_save(
        actor=supplier_cso,
        product_version=version,
        code="ACME-01",
        name=name,
        description="A slow network looks like an empty history.",
        clinical_impact="Missed priors.",
        causes="Gateway timeout.",
        supplier_controls="Per-source status shown.",
        is_transferred=True,
        transfer_note="Train staff that no result is not no imaging.",
    )


def test_supplier_publishes_21_the_trust_upgrades_re_reviews_signs_and_goes_live_on_21_with_20_readable(
    safety_reference_data, framework, world, live_server, context, page, sign_in, checked_pages, settings, clamd_url
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the notices are mailed by a task; here, in process
    deployment = world.deployment_a
    ProductVersion.objects.filter(pk=world.product_version.pk).update(version="2.0")
    supplier_cso = world.member(world.supplier, Role.SUPPLIER_CSO, full_name="Sam Supplier")
    cso = world.member(world.trust_a, Role.CSO, full_name="Dr Ada Clinician")
    CSOProfile.objects.create(
        user=cso,
        professional_body=CSOProfile.ProfessionalBody.GMC,
        registration_number="7654321",
        registration_checked_on=factories.recent_registration_check(),
    )
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Lee Lead")
    executive = world.member(world.trust_a, Role.EXECUTIVE_APPROVER, full_name="Eve Executive")

    # Given Trust A live on 2.0 with a signed-off, authorised case including a transferred hazard
    transferred = _supplier_hazard(supplier_cso, world.product_version, "Gateway timeout shown as no prior imaging")
    hazard = DeploymentHazard.objects.get(deployment=deployment, supplier_hazard=transferred)
    hazard_transfer_decide(
        actor=cso,
        hazard=hazard,
        decision="accepted",
        justification="Staff trained.",
        expected_version=hazard.version,
        mfa_verified_at=time.time(),
    )
    score_all(deployment)
    first = sign_off_create(
        actor=cso, deployment=deployment, statement="Safe on 2.0.", conditions=[], mfa_verified_at=time.time()
    )
    factories.ready_for_go_live(deployment)
    go_live_authorise(
        actor=executive, deployment=deployment, statement="Accepted for 2.0.", mfa_verified_at=time.time()
    )

    # and its lead records, on the deployment page, the day it went live on 2.0
    sign_in(context, lead)
    page.goto(live_server.url + deployment.get_absolute_url())
    expect(page.get_by_test_id("go-live-authorised")).to_be_visible()
    assert_accessible(page, checked_pages, label="deployment page, go-live authorised")
    page.get_by_role("button", name="Record go-live").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record go-live")
    expect(page.get_by_test_id("go-live-authorisation")).to_contain_text("Eve Executive")
    assert_accessible(page, checked_pages, label="record go-live")
    today = timezone.localdate()
    date_input = page.get_by_role("group", name="Date it went live")
    date_input.get_by_label("Day").fill(str(today.day))
    date_input.get_by_label("Month").fill(str(today.month))
    date_input.get_by_label("Year").fill(str(today.year))
    page.get_by_role("button", name="Record go-live").click()
    expect(page.get_by_role("status")).to_contain_text(f"is recorded as live since {today:%-d %B %Y}")
    expect(page.get_by_test_id("what-happens-next")).to_contain_text("The CSO and the executive approver")
    expect(page.get_by_test_id("go-live-authorised")).to_have_count(0)
    assert_accessible(page, checked_pages, label="deployment page, recorded live on 2.0")
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.LIVE
    assert CaseVersion.objects.get(deployment=deployment, number=1).status == "live"
    # and the supplier's 2.1, in which that hazard changed
    new = ProductVersion.objects.create(
        product=world.product_version.product, version="2.1", previous_version=world.product_version
    )
    _supplier_hazard(supplier_cso, new, "Gateway timeout shown as no prior imaging (retries added)")

    # When the supplier's CSO publishes 2.1 with its DCB0129 delta
    sign_in(context, supplier_cso)
    page.goto(live_server.url + reverse("safety:supplier-hazard-list", kwargs={"pk": new.pk}))
    assert_accessible(page, checked_pages, label="supplier hazards of 2.1, before publishing")
    page.get_by_role("link", name="Publish this version").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Publish this version")
    assert_accessible(page, checked_pages, label="publish a product version")
    page.get_by_label("What changed").fill("Retries slow gateways twice before showing them as failed.")
    page.get_by_role("group", name="Hazards changed in this version").get_by_role("checkbox").check()
    page.get_by_role("button", name="Publish version").click()
    expect(page.get_by_role("status")).to_contain_text("2 deployments of the earlier version have been told")

    # Then Trust A's deployment page says 2.1 is available, and the lead starts the upgrade
    sign_in(context, lead)
    page.goto(live_server.url + deployment.get_absolute_url())
    expect(page.get_by_test_id("upgrade-available")).to_contain_text("2.1 has been published")
    assert_accessible(page, checked_pages, label="deployment page, upgrade available")
    page.get_by_role("link", name="See the safety case versions and upgrade").click()
    assert_accessible(page, checked_pages, label="safety case versions, before the upgrade")
    page.get_by_role("link", name="Upgrade to 2.1").click()
    expect(page.get_by_text("Retries slow gateways twice")).to_be_visible()
    assert_accessible(page, checked_pages, label="upgrade the safety case")
    page.get_by_role("button", name="Start the upgrade").click()
    expect(page.get_by_role("status")).to_contain_text("The upgrade has started")
    flagged = list(DeploymentHazard.objects.filter(deployment=deployment, needs_re_review=True).order_by("number"))
    touched = {h.supplier_hazard.code if h.supplier_hazard else h.library_hazard.code for h in flagged}
    assert touched == {"ACME-01", "NIR-14"}

    # When the CSO re-reviews each touched hazard
    context.clear_cookies()
    sign_in_with_totp(page, checked_pages, live_server, cso)
    for hazard in flagged:
        page.goto(live_server.url + reverse("safety:hazard-detail", kwargs={"pk": hazard.pk}))
        expect(page.get_by_test_id("needs-re-review")).to_be_visible()
        assert_accessible(page, checked_pages, label=f"hazard needing re-review ({hazard.reference})")
        page.get_by_role("link", name="Re-review this hazard").click()
        assert_accessible(page, checked_pages, label=f"re-review form ({hazard.reference})")
        page.get_by_label("What you found and changed").fill("Retries reviewed: the assessment holds for 2.1.")
        page.get_by_role("button", name="Record the re-review").click()
        expect(page.get_by_role("status")).to_contain_text("The re-review is recorded.")
        expect(page.get_by_test_id("needs-re-review")).to_have_count(0)

    # and signs off the new case version
    page.goto(live_server.url + reverse("safety:sign-off", kwargs={"pk": deployment.pk}))
    expect(page.get_by_test_id("no-blockers")).to_be_visible()
    assert_accessible(page, checked_pages, label="sign-off page, upgraded case")
    page.get_by_label("Summary safety statement").fill("Version 2.1 is acceptably safe with the controls listed.")
    page.get_by_role("button", name="Sign off the hazard log").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed off the hazard log.")
    assert CaseVersion.objects.get(deployment=deployment, number=2).status == "in_preparation"

    # and the executive, with a fresh authenticator code, authorises it
    context.clear_cookies()
    sign_in_with_totp(page, checked_pages, live_server, executive)
    page.goto(live_server.url + reverse("safety:go-live", kwargs={"pk": deployment.pk}))
    assert_accessible(page, checked_pages, label="authorise go-live, upgraded case")
    page.get_by_label("Your statement").fill("I accept the residual risk of 2.1.")
    page.get_by_role("button", name="Authorise go-live").click()
    expect(page.get_by_role("status")).to_contain_text("Go-live is authorised")

    # Then the deployment, live all along, is live on 2.1: nothing more to record
    expect(page.get_by_role("heading", level=1)).to_have_text(deployment.name)
    expect(page.get_by_test_id("go-live-authorised")).to_have_count(0)
    deployment.refresh_from_db()
    assert (deployment.stage, deployment.product_version_id) == (Deployment.Stage.LIVE, new.pk)
    assert_accessible(page, checked_pages, label="deployment page, live on 2.1")

    # and 2.0's case is still readable: its version, its sign-off and the snapshot it signed
    page.goto(live_server.url + reverse("safety:case-versions", kwargs={"pk": deployment.pk}))
    expect(page.get_by_test_id("case-version-2")).to_contain_text("Live")
    old = page.get_by_test_id("case-version-1")
    expect(old).to_contain_text("2.0")
    expect(old).to_contain_text("Retired")
    assert_accessible(page, checked_pages, label="safety case versions, after the upgrade")
    old.get_by_role("link").first.click()
    expect(page.get_by_test_id("snapshot-hash")).to_have_text(first.snapshot_sha256)
    expect(page.get_by_text("Matches the snapshot")).to_be_visible()
    assert_accessible(page, checked_pages, label="sign-off of 2.0's case")
    assert SignOff.objects.get(pk=first.pk).snapshot["product_version"]["version"] == "2.0"
