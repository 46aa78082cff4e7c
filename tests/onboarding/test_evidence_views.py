"""The evidence journey through the real views: upload, share, review, revise, accept, download."""

import re
from datetime import date
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nir_portal.audit.models import AuditEvent
from onboarding.models import Evidence, EvidenceFile, EvidenceLink
from onboarding.services.evidence.contributions import evidence_create, evidence_revise
from onboarding.services.evidence.scans import evidence_file_record_scan

FRAMEWORK_FILE = Path(__file__).resolve().parents[2] / "onboarding" / "data" / "framework.json"
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def _as(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _pdf(name="assurance.pdf", body=PDF):
    return SimpleUploadedFile(name, body, content_type="application/pdf")


def _mark_files_clean():
    for file in EvidenceFile.objects.exclude(scan_status=EvidenceFile.ScanStatus.CLEAN):
        evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.CLEAN, detail="OK")


def _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch):
    # The scan itself is exercised against a real clamd in test_scanning; here it is only queued.
    monkeypatch.setattr("onboarding.tasks.evidence_file_scan.delay", mock.MagicMock())
    with django_capture_on_commit_callbacks(execute=True):
        response = _as(client, people["supplier_lead"]).post(
            reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}),
            {
                "title": "Conformance test report",
                "requirement_codes": ["INT-01"],
                "statement": "All ITI-38, ITI-39 and RAD-75 tests pass.",
                "effective_date": "2026-11-01",
                "files": [_pdf()],
                "action": "submit",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Evidence.objects.get(title="Conformance test report")


def test_supplier_evidence_uploaded_once_appears_on_every_deployment_of_the_version(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)

    links = EvidenceLink.objects.filter(evidence=evidence)
    assert {link.deployment_id for link in links} == {world.deployment_a.pk, world.deployment_b.pk}
    assert all(link.status == EvidenceLink.Status.SUBMITTED for link in links)
    stored = EvidenceFile.objects.get(revision__evidence=evidence)
    assert stored.size == len(PDF)
    assert stored.detected_type == "pdf"
    assert stored.scan_status == EvidenceFile.ScanStatus.PENDING
    assert storages["evidence"].exists(stored.storage_name)
    assert "assurance" not in stored.storage_name  # paths are generated, never the sender's name


def test_review_round_trip_moves_the_deployment_checklist(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    link_a = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_a)
    link_b = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_b)
    review_url = reverse("onboarding:evidence-review", kwargs={"pk": link_a.pk})

    queue = _as(client, people["cso_a"]).get(reverse("onboarding:review-queue"))
    assert list(queue.context["links"]) == [link_a]

    no_comment = client.post(review_url, {"decision": "request_changes", "comment": "", "expected_version": 1})
    assert no_comment.status_code == 200
    assert "Say what needs to change." in no_comment.content.decode()
    assert no_comment.content.decode().count("nhsuk-error-summary") >= 1

    client.post(
        review_url,
        {"decision": "request_changes", "comment": "Add the RAD-75 partial-success case.", "expected_version": 1},
    )
    link_a.refresh_from_db()
    link_b.refresh_from_db()
    assert link_a.status == EvidenceLink.Status.CHANGES_REQUESTED
    assert link_b.status == EvidenceLink.Status.SUBMITTED  # trust B's CSO decides for trust B

    with django_capture_on_commit_callbacks(execute=True):
        revised = _as(client, people["supplier_lead"]).post(
            reverse("onboarding:evidence-revise", kwargs={"pk": evidence.pk}),
            {
                "statement": "Now includes the partial-success case.",
                "effective_date": "2026-11-20",
                "files": [_pdf("assurance-v2.pdf", PDF + b"% revision 2\n")],
                "based_on_revision": 1,
                "action": "submit",
            },
        )
    assert revised.status_code == 302
    link_a.refresh_from_db()
    assert link_a.status == EvidenceLink.Status.SUBMITTED and link_a.revision.number == 2

    checklist_url = reverse("onboarding:deployment-checklist", kwargs={"pk": world.deployment_a.pk})
    before = _as(client, people["cso_a"]).get(checklist_url).context["checklist"].mandatory_accepted
    _mark_files_clean()
    accepted = client.post(review_url, {"decision": "accept", "comment": "", "expected_version": link_a.version})
    assert accepted.status_code == 302
    after = client.get(checklist_url).context["checklist"].mandatory_accepted
    assert after == before + 1
    assert AuditEvent.objects.filter(action="evidence.review", object_id=str(link_a.pk)).count() == 2


def test_accepting_is_refused_while_a_file_is_quarantined(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    link = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_a)

    response = _as(client, people["cso_a"]).post(
        reverse("onboarding:evidence-review", kwargs={"pk": link.pk}),
        {"decision": "accept", "comment": "", "expected_version": link.version},
    )

    assert response.status_code == 200
    assert "have not passed the malware scan" in response.content.decode()
    link.refresh_from_db()
    assert link.status == EvidenceLink.Status.SUBMITTED


def _decision_radios(html: str) -> list[str]:
    return re.findall(r'<input class="nhsuk-radios__input" type="radio" name="decision" value="([a-z_]+)"', html)


def test_the_reviewer_is_told_before_deciding_that_unscanned_files_keep_accept_away(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    link = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_a)
    review_url = reverse("onboarding:evidence-review", kwargs={"pk": link.pk})

    waiting = _as(client, people["cso_a"]).get(review_url).content.decode()

    # The warning, naming the file and its state and what can be done, comes before the radios
    assert _decision_radios(waiting) == ["request_changes"]
    warning = waiting.index('data-testid="scan-hold"')
    assert warning < waiting.index('name="decision"')
    hold = waiting[warning : waiting.index('name="decision"')]
    assert "This evidence cannot be accepted yet" in hold
    assert "<strong>assurance.pdf</strong>: waiting for the malware scan" in hold
    assert "reload this page" in hold and "you can request changes now" in hold
    assert "Accept is offered once every file has passed the malware scan" in waiting
    # and the evidence page says the same to the reviewer, not to the contributor
    detail_url = reverse("onboarding:evidence-detail", kwargs={"pk": evidence.pk})
    detail = client.get(detail_url).content.decode()
    assert "Revision 1 cannot be accepted yet" in detail
    assert "<strong>assurance.pdf</strong>: waiting for the malware scan" in detail
    assert review_url in detail[detail.index('data-testid="scan-hold-reviews"') :]
    assert 'data-testid="scan-hold"' not in _as(client, people["supplier_lead"]).get(detail_url).content.decode()

    file = EvidenceFile.objects.get(revision__evidence=evidence)
    evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.ERROR, detail="down")
    retrying = _as(client, people["cso_a"]).get(review_url).content.decode()
    assert "the scan could not run (the scanner is not answering); it is retried automatically" in retrying
    assert "Nobody needs to do anything" in retrying
    assert _decision_radios(retrying) == ["request_changes"]

    _mark_files_clean()
    clean = client.get(review_url).content.decode()
    assert _decision_radios(clean) == ["accept", "request_changes"]
    assert 'data-testid="scan-hold"' not in clean
    assert 'data-testid="scan-hold"' not in client.get(detail_url).content.decode()


def test_an_infected_file_tells_the_reviewer_to_request_a_clean_copy(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    link = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_a)
    file = EvidenceFile.objects.get(revision__evidence=evidence)
    evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.INFECTED, detail="Eicar")

    page = _as(client, people["cso_a"]).get(reverse("onboarding:evidence-review", kwargs={"pk": link.pk}))

    html = page.content.decode()
    assert "<strong>assurance.pdf</strong>: refused: malware found" in html
    assert "Request changes, so that the contributor uploads a clean copy in a new revision." in html
    assert _decision_radios(html) == ["request_changes"]


def test_a_quarantined_file_cannot_be_downloaded_and_a_clean_one_is_an_audited_attachment(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    file = EvidenceFile.objects.get(revision__evidence=evidence)
    url = reverse("onboarding:evidence-file-download", kwargs={"pk": file.pk})

    quarantined = _as(client, people["cso_a"]).get(url)
    assert quarantined.status_code == 302
    assert not AuditEvent.objects.filter(action="evidence_file.download").exists()

    _mark_files_clean()
    clean = client.get(url)
    assert clean.status_code == 200
    assert clean["Content-Disposition"].startswith("attachment")
    assert clean["X-Content-Type-Options"] == "nosniff"
    assert b"".join(clean.streaming_content) == PDF
    assert AuditEvent.objects.filter(action="evidence_file.download", object_id=str(file.pk)).count() == 1


def test_a_bad_upload_is_refused_with_a_specific_message_and_nothing_is_stored(client, world, people):
    before = Evidence.objects.count()
    response = _as(client, people["supplier_lead"]).post(
        reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}),
        {
            "title": "Disguised image",
            "requirement_codes": ["INT-01"],
            "statement": "x",
            "effective_date": "2026-11-01",
            "files": [_pdf("report.pdf", b"\x89PNG\r\n\x1a\n" + b"0" * 64)],
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "There is a problem" in body
    assert "report.pdf" in body
    assert Evidence.objects.count() == before
    assert response.context["form"].errors["files"]


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param(b"preamble\r\n", id="preamble"),
        pytest.param(b"", id="encoded part"),
    ],
)
def test_a_malformed_upload_body_is_a_bad_request_and_nothing_is_stored(client, world, people, prefix):
    """Bodies no browser sends (see onboarding.uploads.multipart) are refused whole: 400, no
    evidence, no file, no audit record."""
    boundary = "----malformed"
    encoding = b"" if prefix else b"Content-Transfer-Encoding: base64\r\n"
    body = (
        prefix
        + f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nMalformed\r\n'.encode()
        + f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.pdf"\r\n'.encode()
        + encoding
        + b"Content-Type: application/pdf\r\n\r\n"
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    signed_in = _as(client, people["supplier_lead"])
    counts = (Evidence.objects.count(), EvidenceFile.objects.count(), AuditEvent.objects.count())

    response = signed_in.generic(
        "POST",
        reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert response.status_code == 400
    assert 'data-testid="bad-request"' in response.content.decode()  # the portal's page, saying nothing was saved
    assert (Evidence.objects.count(), EvidenceFile.objects.count(), AuditEvent.objects.count()) == counts


def test_a_supplier_cannot_see_a_trusts_own_evidence_and_trusts_cannot_see_each_other(client, world, people):
    own = evidence_create(
        actor=people["lead_a"],
        owner=world.trust_a,
        deployment=world.deployment_a,
        title="Training plan",
        requirement_codes=["TRN-01"],
        statement="Everyone is trained.",
        effective_date=date(2026, 11, 1),
        files=[],
    )
    url = reverse("onboarding:evidence-detail", kwargs={"pk": own.pk})
    link = own.links.get()
    link_url = reverse("onboarding:evidence-review", kwargs={"pk": link.pk})

    assert _as(client, people["lead_a"]).get(url).status_code == 200
    for outsider in (people["supplier_lead"], people["lead_b"], people["cso_b"]):
        assert _as(client, outsider).get(url).status_code == 404
        assert client.get(link_url).status_code == 404
    assert AuditEvent.objects.filter(action="access.denied", object_id=str(own.pk)).exists()


def _checklist_queries(client, user, deployment_pk) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("onboarding:deployment-checklist", kwargs={"pk": deployment_pk}))
    assert response.status_code == 200
    return len(captured)


def test_checklist_and_review_queue_queries_do_not_grow_with_evidence(client, world, people):
    def add_items(count, start):
        for index in range(start, start + count):
            evidence = evidence_create(
                actor=people["supplier_lead"],
                owner=world.supplier,
                product_version=world.product_version,
                title=f"Item {index}",
                requirement_codes=["INT-01", "DEG-01"],
                statement="Statement",
                effective_date=date(2026, 11, 1),
                files=[],
            )
            evidence_revise(
                actor=people["supplier_lead"],
                evidence=evidence,
                statement="Second revision",
                effective_date=date(2026, 11, 2),
                files=[],
                based_on_revision=1,
            )

    _as(client, people["cso_a"])
    add_items(5, 0)
    # A first request settles the session (its active organisation), which later requests only read.
    client.get(reverse("onboarding:review-queue"))
    small_checklist = _checklist_queries(client, people["cso_a"], world.deployment_a.pk)
    with CaptureQueriesContext(connection) as small_queue:
        assert len(client.get(reverse("onboarding:review-queue")).context["links"]) == 5
    add_items(45, 5)
    large_checklist = _checklist_queries(client, people["cso_a"], world.deployment_a.pk)
    with CaptureQueriesContext(connection) as large_queue:
        assert len(client.get(reverse("onboarding:review-queue")).context["links"]) == 50

    assert large_checklist == small_checklist
    assert len(large_queue) == len(small_queue)


def test_the_evidence_form_offers_only_requirements_the_organisation_provides(client, world, people):
    supplier_form = (
        _as(client, people["supplier_lead"])
        .get(reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}))
        .context["form"]
    )
    trust_form = (
        _as(client, people["lead_a"])
        .get(reverse("onboarding:deployment-evidence-create", kwargs={"deployment_pk": world.deployment_a.pk}))
        .context["form"]
    )

    supplier_codes = {code for code, _ in supplier_form.fields["requirement_codes"].choices}
    trust_codes = {code for code, _ in trust_form.fields["requirement_codes"].choices}
    assert "INT-01" in supplier_codes and "TRN-01" not in supplier_codes
    assert "TRN-01" in trust_codes and "INT-01" not in trust_codes
    assert "INT-02" in supplier_codes and "INT-02" in trust_codes  # provided by both


# --- an oversize file: its size is reported first, by name ---------------------------------------


def _first_summary_error(html: str) -> str:
    summary = html[html.index("nhsuk-error-summary__list") :]
    first = summary[summary.index("<li>") + 4 : summary.index("</li>")]
    return re.sub(r"<[^>]+>", "", first).strip()


@pytest.mark.parametrize("size_mib", [1.5, 3], ids=["file over the limit", "whole request over the limit"])
def test_an_oversize_file_with_an_empty_statement_is_refused_for_its_size_first(
    size_mib, client, world, people, settings
):
    settings.EVIDENCE_MAX_FILE_BYTES = 1024 * 1024
    big = _pdf("scan-of-the-sop.pdf", PDF + b"0" * int(size_mib * 1024 * 1024))

    response = _as(client, people["supplier_lead"]).post(
        reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}),
        {"title": "", "requirement_codes": ["INT-01"], "statement": "", "effective_date": "2026-11-01", "files": [big]},
    )

    html = response.content.decode()
    assert response.status_code == 200
    first = _first_summary_error(html)
    assert first.startswith("scan-of-the-sop.pdf: The file must be smaller than 1 MB"), first
    assert "Enter a statement, attach a file, or both." not in html
    assert "Enter a title" in html  # what else the form lacks is still said, after
    assert not Evidence.objects.exists()


def _what_happens_next(html: str) -> list[str]:
    panel = re.search(r'data-testid="what-happens-next">(.*?)</div>', html, re.DOTALL)
    return (
        [re.sub(r"\s+", " ", step).strip() for step in re.findall(r"<li>(.*?)</li>", panel.group(1), re.DOTALL)]
        if panel
        else []
    )


def test_after_an_upload_the_person_is_told_it_is_scanned_and_then_who_reviews_it(
    client, world, people, django_capture_on_commit_callbacks, monkeypatch
):
    # Given supplier evidence with a file, submitted for every deployment of the version
    evidence = _upload_supplier_evidence(client, world, people, django_capture_on_commit_callbacks, monkeypatch)
    routes = set(EvidenceLink.objects.filter(evidence=evidence).values_list("review_by", flat=True))

    # When they land on the evidence page
    steps = _what_happens_next(
        client.get(reverse("onboarding:evidence-detail", kwargs={"pk": evidence.pk})).content.decode()
    )

    # Then they read, in order: the scan, who reviews it (from the links' review routes), the decision
    assert steps[0].startswith("Each file is checked for viruses.")
    assert routes == {EvidenceLink.ReviewBy.DEPLOYING_CSO}
    assert steps[1] == "Then it is reviewed by the Clinical Safety Officer at each of the 2 deploying organisations."
    assert steps[2].startswith("The decision shows on this page.")
    # and only once
    assert (
        _what_happens_next(
            client.get(reverse("onboarding:evidence-detail", kwargs={"pk": evidence.pk})).content.decode()
        )
        == []
    )


def test_a_draft_without_files_is_told_nobody_reviews_it_until_it_is_submitted(client, world, people):
    response = _as(client, people["supplier_lead"]).post(
        reverse("onboarding:product-version-evidence-create", kwargs={"version_pk": world.product_version.pk}),
        {
            "title": "Draft report",
            "requirement_codes": ["INT-01"],
            "statement": "Work in progress.",
            "effective_date_day": "1",
            "effective_date_month": "11",
            "effective_date_year": "2026",
            "action": "draft",
        },
        follow=True,
    )

    assert _what_happens_next(response.content.decode()) == [
        "It is a draft: nobody reviews it until you submit it for review."
    ]
