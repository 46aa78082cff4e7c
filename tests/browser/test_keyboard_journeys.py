"""Keyboard-only journeys for uploading evidence, reviewing it and signing off a hazard log (issue 7).

Only page.keyboard drives the pages (Tab, Shift+Tab, Enter, Space, arrow keys and typing); page.goto
opens a journey's start page, and the operating system's file dialog, opened from the file input
with Space, is answered through Playwright's file chooser. Every element that takes focus on the
way must show a visible focus indicator, and the fields must be reached in the order they are shown.
"""

import re
from datetime import date

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import Evidence, EvidenceLink, Review
from safety.models import SignOff
from tests.browser.axe import assert_accessible
from tests.browser.test_sign_off_journey import fresh_code
from tests.onboarding import evidence_fixtures as fx
from tests.safety.conftest import score_all

pytestmark = pytest.mark.browser

MAX_TABS = 60
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)

# The focused element and whether a sighted keyboard user can see it has focus. NHS.UK styles give
# every control a transparent outline (for forced-colours mode) and draw the visible indicator as a
# box-shadow; for checkboxes and radios, which are visually hidden, it is drawn on the label's
# ::before box. So: :focus-visible must match, and the element (or, for a checkbox or radio, its
# label's ::before) must draw a box-shadow or an outline that is not transparent.
FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {key: 'body', visible: false, html: 'nothing (the page body)'};
  const drawn = (style) => style.boxShadow !== 'none' || (
    style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 &&
    !/rgba\\(.*,\\s*0\\)|transparent/.test(style.outlineColor));
  let visible;
  if (el.type === 'date' && !el.matches(':focus-visible')) {
    // The calendar button inside a native date input: Chromium draws its focus ring in the
    // input's closed shadow tree, which the page cannot inspect.
    visible = null;
  } else if (el.type === 'checkbox' || el.type === 'radio') {
    const label = el.id && document.querySelector(`label[for="${el.id}"]`);
    visible = !!label && getComputedStyle(label, '::before').boxShadow !== 'none';
  } else {
    visible = drawn(getComputedStyle(el));
  }
  const text = (el.innerText || el.value || '').trim().split('\\n')[0].slice(0, 40);
  return {
    key: el.id || `${el.tagName.toLowerCase()}:${text}`,
    visible: visible === null ? null : visible && el.matches(':focus-visible'),
    html: el.outerHTML.slice(0, 120),
  };
}"""


def focus(page: Page) -> dict:
    return page.evaluate(FOCUS_JS)


def is_focused(locator: Locator) -> bool:
    return locator.evaluate("(el) => el === document.activeElement")


def tab_to(page: Page, target: Locator, *, key: str = "Tab") -> list[str]:
    """Press Tab (or Shift+Tab) until `target` has focus. Returns the focus stops on the way,
    target included, one per element (a native date input's day, month, year and calendar button
    are one element); fails if any of them showed no visible focus indicator."""
    stops: list[str] = []
    invisible: list[str] = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        now = focus(page)
        if not stops or stops[-1] != now["key"]:
            stops.append(now["key"])
        if now["visible"] is False:
            invisible.append(now["html"])
        if is_focused(target):
            assert not invisible, "no visible focus indicator on:\n" + "\n".join(invisible)
            return stops
    raise AssertionError(f"{key} never reached {target}; focus went through:\n" + "\n".join(stops))


def skip_to_main_content(page: Page) -> None:
    """The first Tab reaches the skip link, which shows itself; Enter moves focus past the header."""
    page.keyboard.press("Tab")
    skip_link = page.locator("a.nhsuk-skip-link")
    assert is_focused(skip_link), f"the first Tab focused {focus(page)['html']}, not the skip link"
    expect(skip_link).to_be_visible()
    assert focus(page)["visible"], "the skip link shows no focus indicator"
    page.keyboard.press("Enter")
    expect(page.locator("#maincontent")).to_be_focused()


def expect_error_summary_focused(page: Page) -> Locator:
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    return summary


# --- (a) uploading evidence -------------------------------------------------------------------------


def test_a_supplier_uploads_evidence_using_only_the_keyboard(
    framework, world, live_server, context, page, sign_in, checked_pages, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "evidence-store"},
        },
    }
    supplier = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    sign_in(context, supplier)

    # Given the supplier on their product version's evidence page
    page.goto(live_server.url + reverse("onboarding:product-version-evidence", kwargs={"pk": world.product_version.pk}))
    assert_accessible(page, checked_pages, label="product version evidence, keyboard journey")

    # When they skip the header and open the form with Enter
    skip_to_main_content(page)
    tab_to(page, page.get_by_role("link", name="Add evidence"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Add evidence")
    assert_accessible(page, checked_pages, label="add evidence, keyboard journey")

    # Then Tab reaches every field in the order shown, each with a visible focus indicator
    skip_to_main_content(page)
    submit = page.get_by_role("button", name="Submit for review")
    requirement_ids = page.locator("input[name=requirement_codes]").evaluate_all("(els) => els.map((el) => el.id)")
    assert len(requirement_ids) > 2, requirement_ids
    stops = tab_to(page, submit)
    expected = [
        "id_title",
        *requirement_ids,
        "id_statement",
        "id_effective_date_day",
        "id_effective_date_month",
        "id_effective_date_year",
        "id_files",
        "button:Submit for review",
    ]
    assert stops == expected, f"focus order {stops}"
    # and Shift+Tab goes back the same way
    assert tab_to(page, page.locator("#id_statement"), key="Shift+Tab") == [
        "id_files",
        "id_effective_date_year",
        "id_effective_date_month",
        "id_effective_date_day",
        "id_statement",
    ]

    # When they send the form empty
    tab_to(page, submit)
    page.keyboard.press("Enter")

    # Then the error summary has focus, the title says there is an error, and its first link
    # takes them to the title field
    summary = expect_error_summary_focused(page)
    assert_accessible(page, checked_pages, label="add evidence with errors, keyboard journey")
    expect(summary.get_by_role("link")).to_have_count(3)  # title, requirements, statement
    tab_to(page, summary.get_by_role("link").first)
    page.keyboard.press("Enter")
    expect(page.locator("#id_title")).to_be_focused()

    # When they type a title, tick INT-01 with Space, and write a statement
    page.keyboard.type("Degraded modes test report")
    int_01 = page.get_by_role("checkbox", name=re.compile(r"^INT-01 "))
    tab_to(page, int_01)
    page.keyboard.press("Space")
    expect(int_01).to_be_checked()
    tab_to(page, page.locator("#id_statement"))
    page.keyboard.type("Every degraded-mode case passed; see section 3 of the report.")

    # and type the effective date's day and year, but clear its month (Tab selects what a box holds)
    tab_to(page, page.locator("#id_effective_date_day"))
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    page.keyboard.press("Backspace")
    page.keyboard.press("Tab")
    page.keyboard.type("2026")

    # and send it
    tab_to(page, submit)
    page.keyboard.press("Enter")

    # Then the error summary names the missing month, only the month box is marked, and the link
    # takes them to it
    summary = expect_error_summary_focused(page)
    expect(summary.get_by_role("link")).to_have_text(["Effective date must include a month"])
    expect(page.locator(".nhsuk-date-input .nhsuk-input--error")).to_have_count(1)
    expect(page.locator("#id_effective_date_month")).to_have_class(re.compile("nhsuk-input--error"))
    assert_accessible(page, checked_pages, label="add evidence with a date error, keyboard journey")
    tab_to(page, summary.get_by_role("link").first)
    page.keyboard.press("Enter")
    expect(page.locator("#id_effective_date_month")).to_be_focused()

    # When they type the month
    page.keyboard.type("3")
    expect(page.locator("#id_effective_date_day")).to_have_value("3")
    expect(page.locator("#id_effective_date_year")).to_have_value("2026")

    # and choose the file from the file input with Space (the system dialog is answered for them)
    tab_to(page, page.locator("#id_files"))
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files({"name": "degraded-modes.pdf", "mimeType": "application/pdf", "buffer": PDF})
    expect(page.locator("#id_files")).to_be_focused()

    # and send it with Enter
    tab_to(page, submit)
    page.keyboard.press("Enter")

    # Then the evidence is saved as they typed it, and submitted to both deployments of the version
    expect(page.get_by_role("heading", level=1)).to_have_text("Degraded modes test report")
    expect(page.get_by_role("status")).to_contain_text("Degraded modes test report has been saved.")
    # and told what happens next: the scan, then review by each deploying organisation's CSO
    expect(page.get_by_test_id("what-happens-next")).to_contain_text("Each file is checked for viruses.")
    expect(page.get_by_test_id("what-happens-next")).to_contain_text("the Clinical Safety Officer at each of the")
    assert_accessible(page, checked_pages, label="evidence saved, keyboard journey")
    evidence = Evidence.objects.get(title="Degraded modes test report")
    revision = evidence.revisions.get()
    assert evidence.requirement_codes == ["INT-01"]
    assert revision.effective_date == date(2026, 3, 3)
    assert revision.statement == "Every degraded-mode case passed; see section 3 of the report."
    assert [f.original_name for f in revision.files.all()] == ["degraded-modes.pdf"]
    assert set(evidence.links.values_list("status", flat=True)) == {EvidenceLink.Status.SUBMITTED}
    assert evidence.links.count() == 2


# --- (b) reviewing evidence -------------------------------------------------------------------------


def test_a_cso_reviews_evidence_using_only_the_keyboard(
    framework, world, live_server, context, page, sign_in, checked_pages
):
    # Given supplier evidence for INT-01 waiting for Trust A's CSO, its file scanned clean
    supplier = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    cso = world.member(world.trust_a, Role.CSO)
    evidence = fx.supplier_evidence(
        supplier, world.product_version, ["INT-01"], files=1, title="Interface conformance report"
    )
    fx.mark_clean(evidence)
    sign_in(context, cso)

    # When the CSO opens it from their review queue with the keyboard
    page.goto(live_server.url + reverse("onboarding:review-queue"))
    assert_accessible(page, checked_pages, label="review queue, keyboard journey")
    skip_to_main_content(page)
    tab_to(page, page.get_by_test_id("review-queue").get_by_role("link", name="Interface conformance report"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Interface conformance report")
    assert_accessible(page, checked_pages, label="review page, keyboard journey")

    # Then Tab reaches the file, the decision, the comment and the button in the order shown
    skip_to_main_content(page)
    decision = page.locator("input[name=decision]")
    accept, request_changes = decision.nth(0), decision.nth(1)
    stops = tab_to(page, page.get_by_role("button", name="Record decision"))
    file_link = f"a:{evidence.revisions.get().files.get().original_name}"
    assert stops == [
        file_link,
        "a:All revisions of this evidence",
        "id_decision_0",
        "id_comment",
        "button:Record decision",
    ], f"focus order {stops}"

    # When they choose "Request changes" with the arrow keys and send it without a comment
    tab_to(page, accept, key="Shift+Tab")
    page.keyboard.press("Space")
    expect(accept).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(request_changes).to_be_checked()
    expect(request_changes).to_be_focused()
    assert focus(page)["visible"], "the chosen radio shows no focus indicator"
    tab_to(page, page.get_by_role("button", name="Record decision"))
    page.keyboard.press("Enter")

    # Then the error summary has focus, and its link takes them to the comment
    summary = expect_error_summary_focused(page)
    expect(summary).to_contain_text("Say what needs to change.")
    assert_accessible(page, checked_pages, label="review page with errors, keyboard journey")
    tab_to(page, summary.get_by_role("link", name="Say what needs to change."))
    page.keyboard.press("Enter")
    expect(page.locator("#id_comment")).to_be_focused()
    expect(request_changes).to_be_checked()

    # When they type the comment and send the decision with Enter
    page.keyboard.type("Section 4 is missing the degraded-mode cases.")
    tab_to(page, page.get_by_role("button", name="Record decision"))
    page.keyboard.press("Enter")

    # Then the decision is recorded with the comment, and they are back on their queue
    expect(page.get_by_role("heading", level=1)).to_have_text("Evidence waiting for your review")
    expect(page.get_by_role("status")).to_contain_text("Your decision has been recorded.")
    assert_accessible(page, checked_pages, label="review queue after a keyboard review")
    review = Review.objects.get(link__evidence=evidence)
    assert (review.decision, review.comment, review.reviewer) == (
        Review.Decision.REQUEST_CHANGES,
        "Section 4 is missing the degraded-mode cases.",
        cso,
    )
    assert fx.link_of(evidence, world.deployment_a).status == EvidenceLink.Status.CHANGES_REQUESTED


# --- (c) signing off a hazard log ----------------------------------------------------------------------


def test_a_cso_signs_off_a_hazard_log_and_reauthenticates_using_only_the_keyboard(
    safety_reference_data, framework, world, live_server, context, page, sign_in, checked_pages
):
    # Given Trust A's CSO, with their registration on file, and a hazard log with nothing blocking
    # sign-off; signed in with a session that holds no recent authenticator code
    deployment = world.deployment_a
    cso = world.member(world.trust_a, Role.CSO, full_name="Dr Kay Board")
    CSOProfile.objects.create(
        user=cso,
        professional_body=CSOProfile.ProfessionalBody.NMC,
        registration_number="12A3456B",
        registration_checked_on=date(2026, 2, 1),
    )
    score_all(deployment)
    sign_in(context, cso)
    page.goto(live_server.url + reverse("safety:sign-off", kwargs={"pk": deployment.pk}))
    expect(page.get_by_test_id("no-blockers")).to_be_visible()
    assert_accessible(page, checked_pages, label="sign-off page, keyboard journey")

    # Then Tab reaches the statement, each condition and its due date, and the button, in that order
    skip_to_main_content(page)
    statement = page.get_by_label("Summary safety statement")
    sign_off = page.get_by_role("button", name="Sign off the hazard log")
    tab_to(page, statement)
    assert tab_to(page, sign_off) == [
        "id_condition_1",
        *[f"id_condition_1_due_on_{part}" for part in ("day", "month", "year")],
        "id_condition_2",
        *[f"id_condition_2_due_on_{part}" for part in ("day", "month", "year")],
        "id_condition_3",
        *[f"id_condition_3_due_on_{part}" for part in ("day", "month", "year")],
        "button:Sign off the hazard log",
    ]

    # When they type their statement and press Enter on the button
    tab_to(page, statement, key="Shift+Tab")
    text = "Residual risks are acceptable for NIR in Trust A's imaging departments."
    page.keyboard.type(text)
    tab_to(page, sign_off)
    page.keyboard.press("Enter")

    # Then they are asked for a code from their authenticator app, which they type and send
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_reauthenticate"))))
    expect(page).to_have_title(re.compile(r"^Confirm access with your authenticator app - "))
    expect(page.get_by_role("status")).to_contain_text("Enter a code from your authenticator app")
    assert_accessible(page, checked_pages, label="reauthenticate, keyboard journey")
    skip_to_main_content(page)
    tab_to(page, page.locator("input[name=code]"))
    code, _ = fresh_code(cso.totp_secret)
    page.keyboard.type(code)
    page.keyboard.press("Enter")

    # Then they are back on the sign-off page with their statement kept
    expect(page).to_have_url(live_server.url + reverse("safety:sign-off", kwargs={"pk": deployment.pk}))
    expect(statement).to_have_value(text)
    assert not SignOff.objects.filter(deployment=deployment).exists()
    assert_accessible(page, checked_pages, label="sign-off page after reauthentication, keyboard journey")

    # When they press Enter on the button
    skip_to_main_content(page)
    tab_to(page, sign_off)
    page.keyboard.press("Enter")

    # Then the hazard log is signed off, and the page shows it current with its hash
    expect(page.get_by_role("status")).to_contain_text("You have signed off the hazard log.")
    expect(page.get_by_test_id("sign-off-status")).to_have_text("Current")
    signed = SignOff.objects.get(deployment=deployment)
    assert (signed.cso, signed.statement) == (cso, text)
    expect(page.get_by_test_id("snapshot-hash")).to_have_text(signed.snapshot_sha256)
    assert_accessible(page, checked_pages, label="sign-off page, signed by keyboard")


class FocusStayedOnThePage(AssertionError):
    """Following an error summary link left focus on the page instead of the field it names."""


def test_the_error_summary_link_for_a_group_of_checkboxes_moves_focus_to_the_first_checkbox(
    framework, world, live_server, context, page, sign_in, checked_pages
):
    # Given the evidence form sent with no requirement chosen
    sign_in(context, world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD))
    page.goto(
        live_server.url
        + reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk})
    )
    assert_accessible(page, checked_pages, label="add evidence, requirements link")
    tab_to(page, page.get_by_role("button", name="Submit for review"))
    page.keyboard.press("Enter")
    summary = expect_error_summary_focused(page)
    assert_accessible(page, checked_pages, label="add evidence with errors, requirements link")

    # When they follow the error link for the requirements with the keyboard
    tab_to(page, summary.locator("a[href^='#id_requirement_codes']"))
    page.keyboard.press("Enter")

    # Then the first requirement's checkbox has focus, as the NHS.UK error summary pattern asks
    first = page.locator("input[name=requirement_codes]").first
    try:
        expect(first).to_be_focused(timeout=1000)
    except AssertionError as error:
        raise FocusStayedOnThePage(f"focus is on {focus(page)['html']}") from error
