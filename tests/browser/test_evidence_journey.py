"""Evidence uploaded once by a supplier, reviewed on two deployments, sent back, revised and
accepted, in a real browser (issue 3 acceptance). Every page the journey visits is checked with axe."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Role
from onboarding.models import EvidenceFile, EvidenceLink, Review
from onboarding.services.evidence.scans import evidence_file_record_scan
from tests.browser.axe import assert_accessible

pytestmark = pytest.mark.browser

# A small, valid PDF (as in tests/onboarding/test_evidence_views.py): no JavaScript, no actions.
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
TITLE = "NIR interface conformance report"
PROGRESS = re.compile(r"^\s*(\d+) of (\d+)\s+mandatory requirements accepted\s*$")


def pdf_file(name: str, extra: bytes = b"") -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF + extra}


@pytest.fixture
def evidence_storage(settings, tmp_path) -> Path:
    """Uploaded files go to a directory of this test's own."""
    location = tmp_path / "evidence-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


def scan_clean(title: str, revision: int) -> None:
    """What the Celery scan does after commit when clamd reports the files clean (the scanner is
    tested in tests/onboarding/test_scanning.py)."""
    files = EvidenceFile.objects.filter(revision__evidence__title=title, revision__number=revision)
    assert files.exists(), f"revision {revision} of {title!r} has no stored files"
    for file in files:
        assert file.scan_status == EvidenceFile.ScanStatus.PENDING, "a file was released before it was scanned"
        evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.CLEAN, detail="OK")


def checklist_progress(page: Page, checked_pages, deployment_name: str, when: str) -> tuple[int, int, str]:
    """From the home page, open a deployment's onboarding checklist; return its "x of y mandatory
    accepted" and INT-01's status tag as the page shows them."""
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Home").click()
    expect(page).to_have_url(re.compile(r"/$"))
    assert_accessible(page, checked_pages, label=f"home, {when}")
    page.get_by_test_id("deployment-table").get_by_role("link", name=deployment_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(deployment_name)
    assert_accessible(page, checked_pages, label=f"deployment page, {when}")
    page.get_by_role("link", name="Onboarding checklist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Onboarding checklist")
    assert_accessible(page, checked_pages, label=f"onboarding checklist of {deployment_name}, {when}")
    text = page.get_by_test_id("overall-progress").inner_text()
    match = PROGRESS.match(text)
    assert match, f"the checklist's progress reads {text!r}"
    status = page.get_by_test_id("requirement-INT-01").locator(".nhsuk-task-list__status").inner_text().strip()
    return int(match[1]), int(match[2]), status


def test_supplier_evidence_is_reviewed_on_two_deployments_sent_back_revised_and_accepted(
    framework, world, live_server, context, page, sign_in, checked_pages, evidence_storage
):
    # Given the supplier's assurance lead, and a person who is the CSO of both trusts deploying
    # the supplier's product version
    supplier = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    reviewer = world.member(world.trust_a, Role.CSO, full_name="Dr Two Trusts")
    account_services.membership_grant(actor=None, organisation=world.trust_b, user=reviewer, role=Role.CSO)
    version = str(world.product_version)

    # and Trust B's checklist as the reviewer sees it before anything is uploaded
    sign_in(context, reviewer)
    page.goto(live_server.url + reverse("home"))
    accepted_at_start, total, status = checklist_progress(page, checked_pages, "Trust B NIR", "before any evidence")
    assert total > 0, "the deployment is not assessed against the framework"
    assert status == "Not started", f"INT-01 starts as {status!r}"

    # When the supplier opens their product version's evidence page from their home page
    sign_in(context, supplier)
    page.goto(live_server.url + reverse("home"))
    assert_accessible(page, checked_pages, label="home, supplier assurance lead")
    page.get_by_test_id("product-versions").get_by_role("link", name=f"Evidence for {version}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Evidence for {version}")
    expect(page.get_by_text("used by all 2 deployments of this version")).to_be_visible()
    assert_accessible(page, checked_pages, label="product version evidence, empty")

    # and uploads evidence for INT-01 with a file
    page.get_by_role("link", name="Add evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add evidence")
    assert_accessible(page, checked_pages, label="add product-version evidence")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_role("checkbox", name=re.compile(r"^INT-01 ")).check()
    page.get_by_label("Statement").fill("Passed every case of the NIR conformance suite on 1.0.")
    page.get_by_label("Files (optional)").set_input_files(pdf_file("conformance.pdf"))
    page.get_by_role("button", name="Submit for review").click()

    # Then the evidence is saved once and used by both deployments, its file quarantined until scanned
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_role("status")).to_contain_text(f"{TITLE} has been saved.")
    used = page.locator("table.nhsuk-table tbody tr")
    expect(used).to_have_count(2)
    expect(used.filter(has_text="Trust A NIR")).to_contain_text("Waiting for review")
    expect(used.filter(has_text="Trust B NIR")).to_contain_text("Waiting for review")
    expect(page.get_by_role("link", name="conformance.pdf")).to_have_count(0)
    expect(page.get_by_test_id("scan-status")).to_have_text("Waiting for the malware scan")
    assert_accessible(page, checked_pages, label="evidence detail, revision 1 quarantined")
    scan_clean(TITLE, 1)

    # When the reviewer opens their review queue
    sign_in(context, reviewer)
    page.goto(live_server.url + reverse("home"))
    assert_accessible(page, checked_pages, label="home, CSO of two trusts")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reviews").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Evidence waiting for your review")
    assert_accessible(page, checked_pages, label="review queue, CSO of two trusts")

    # Then the one upload waits for them on both deployments of the version
    rows = page.get_by_test_id("review-queue").locator("tbody tr").filter(has_text=TITLE)
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Trust A NIR")).to_have_count(1)
    expect(rows.filter(has_text="Trust B NIR")).to_have_count(1)

    # When they request changes on Trust B's deployment, with a comment
    rows.filter(has_text="Trust B NIR").get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_text("for Trust B NIR")).to_be_visible()
    expect(page.get_by_role("link", name="conformance.pdf")).to_be_visible()
    assert_accessible(page, checked_pages, label="review page, revision 1")
    comment = "Please include the degraded-mode test cases (section 4) in the report."
    page.get_by_role("radio", name="Request changes").check()
    page.get_by_label("Comment", exact=True).fill(comment)
    page.get_by_role("button", name="Record decision").click()

    # Then the decision is recorded and only Trust A's copy still waits for them
    expect(page.get_by_role("heading", level=1)).to_have_text("Evidence waiting for your review")
    expect(page.get_by_role("status")).to_contain_text("Your decision has been recorded.")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Trust A NIR")
    assert_accessible(page, checked_pages, label="review queue after requesting changes")

    # When the supplier returns to their product version's evidence page
    sign_in(context, supplier)
    page.goto(live_server.url + reverse("home"))
    assert_accessible(page, checked_pages, label="home, supplier after the review")
    page.get_by_test_id("product-versions").get_by_role("link", name=f"Evidence for {version}").click()
    assert_accessible(page, checked_pages, label="product version evidence, changes requested")

    # Then they see that Trust B requested changes and Trust A's review is pending
    card = page.locator(".nhsuk-card").filter(has=page.get_by_role("link", name=TITLE))
    expect(card.locator("li").filter(has_text="Trust B")).to_contain_text("Changes requested")
    expect(card.locator("li").filter(has_text="Trust A")).to_contain_text("Waiting for review")

    # and Trust B's comment
    card.get_by_role("link", name="comments and decisions for Trust B").click()
    expect(page.get_by_test_id("link-status")).to_have_text("Changes requested")
    expect(page.locator("#comments ~ .nhsuk-inset-text")).to_contain_text(comment)
    expect(page.locator("#comments ~ .nhsuk-inset-text")).to_contain_text("Dr Two Trusts, Trust B")
    assert_accessible(page, checked_pages, label="review page as the supplier sees it, changes requested")

    # When they upload a new revision answering it
    page.get_by_role("link", name="All revisions of this evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(used.filter(has_text="Trust B NIR")).to_contain_text("Changes requested")
    assert_accessible(page, checked_pages, label="evidence detail, changes requested")
    page.get_by_role("link", name="Upload a new revision").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload a new revision")
    assert_accessible(page, checked_pages, label="upload a new revision")
    page.get_by_label("Statement").fill("Now includes the degraded-mode cases in section 4.")
    page.get_by_label("Files (optional)").set_input_files(pdf_file("conformance-v2.pdf", b"% revision 2\n"))
    page.get_by_role("button", name="Submit for review").click()

    # Then revision 2 is submitted to both deployments
    expect(page.get_by_role("status")).to_contain_text("Revision 2 has been saved.")
    expect(used.filter(has_text="Trust B NIR")).to_contain_text("Waiting for review")
    expect(used.filter(has_text="Trust B NIR").locator("td").nth(2)).to_have_text("2")
    assert_accessible(page, checked_pages, label="evidence detail, revision 2")
    scan_clean(TITLE, 2)

    # When the reviewer, acting for Trust B, reads Trust B's checklist and then accepts revision 2
    sign_in(context, reviewer)
    page.goto(live_server.url + reverse("home"))
    expect(page.get_by_test_id("active-organisation")).to_contain_text("Trust A")
    assert_accessible(page, checked_pages, label="home, acting for Trust A")
    page.get_by_label("Acting for").select_option(label="Trust B")
    page.get_by_role("button", name="Switch organisation").click()
    expect(page.get_by_test_id("active-organisation")).to_contain_text("Trust B")
    assert_accessible(page, checked_pages, label="home, acting for Trust B")
    accepted_before, total_before, status = checklist_progress(page, checked_pages, "Trust B NIR", "before accepting")
    assert (accepted_before, total_before) == (accepted_at_start, total), "the count moved before any acceptance"
    assert status == "Waiting for review", f"INT-01 waits for review as {status!r}"

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Reviews").click()
    expect(rows).to_have_count(2)
    assert_accessible(page, checked_pages, label="review queue, revision 2 submitted")
    rows.filter(has_text="Trust B NIR").get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_role("heading", name="Revision 2")).to_be_visible()
    expect(page.get_by_role("link", name="conformance-v2.pdf")).to_be_visible()
    assert_accessible(page, checked_pages, label="review page, revision 2")
    page.get_by_role("radio", name="Accept").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_contain_text("Your decision has been recorded.")
    expect(rows).to_have_count(1)
    assert_accessible(page, checked_pages, label="review queue after accepting")

    # Then Trust B's "x of y mandatory accepted" has moved by one, and INT-01 is accepted
    accepted_after, total_after, status = checklist_progress(page, checked_pages, "Trust B NIR", "after accepting")
    assert (accepted_after, total_after) == (accepted_before + 1, total_before)
    assert status == "Accepted"
    # and Trust A's copy still waits for its own review
    link_a = EvidenceLink.objects.get(evidence__title=TITLE, deployment=world.deployment_a)
    assert link_a.status == EvidenceLink.Status.SUBMITTED and link_a.revision.number == 2
    decisions = list(
        Review.objects.filter(link__evidence__title=TITLE)
        .order_by("pk")
        .values_list("link__deployment__name", "revision__number", "decision", "reviewer_organisation__name")
    )
    assert decisions == [
        ("Trust B NIR", 1, Review.Decision.REQUEST_CHANGES, "Trust B"),
        ("Trust B NIR", 2, Review.Decision.ACCEPT, "Trust B"),
    ]
