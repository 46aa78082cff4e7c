"""The CSCR document: every required section and every hazard in the PDF's own text, the bundle's
records taken exactly from the signed snapshot, document control against the previous CSCR, the
evidence files within their cap, and a URL fetcher that reaches nothing outside the project."""

import csv
import io
import json
import time
import zipfile

import pikepdf
import pytest
from weasyprint.urls import FatalURLFetchingError

from safety import cscr_services
from safety.cscr import document
from safety.cscr.document import SECTIONS, ProjectFilesFetcher
from safety.models import CSCRBundleJob, DeploymentHazard
from safety.services.controls import control_save
from safety.services.hazards import hazard_update
from tests.cscr.conftest import build, bundle_path, sign, stored_evidence, verify
from tests.cscr.pdf_text import normalised, pdf_text


def _member(job: CSCRBundleJob, name: str) -> bytes:
    with zipfile.ZipFile(bundle_path(job)) as archive:
        return archive.read(name)


def test_the_pdf_text_has_every_required_section_and_every_hazard_of_the_signed_log(built, signed_off):
    text = normalised(pdf_text(_member(built, "cscr.pdf")))

    for section in SECTIONS:
        assert section in text, f"section missing from the PDF: {section}"
    for hazard in signed_off.snapshot["hazards"]:
        assert f"{hazard['reference']} " in text
        assert normalised(hazard["name"]) in text, f"{hazard['reference']} {hazard['name']} missing from the PDF"
    # The approval block: who, their registration, when, and the hash of what they signed.
    for fact in ("Dr Ada Clinician", "GMC", "7654321", signed_off.snapshot_sha256):
        assert fact in text
    # The evidence index: the revision's requirement code, file name, size and SHA-256, and its review.
    evidence = json.loads(_member(built, "evidence-manifest.json"))["evidence"][0]
    file = evidence["files"][0]
    assert "GOV-03" in text and file["name"] in text and f"{file['size']} bytes" in text
    assert file["sha256"] in text.replace(" ", "")
    assert "Accepted by National team" in text
    # Transferred hazards with their acceptance, residual risk with operating limits, go-live controls.
    assert "SUP-7" in text and "Accepted" in text
    assert "is monitored weekly" in text
    assert "Run the fallback drill." in text


def test_a_long_report_rendered_in_parts_reads_as_one_document_and_verifies(
    signed_off, people, bundle_storage, monkeypatch
):
    """A report longer than one part (here: parts of a few rows, so that this small log is long) is
    rendered part by part and put together: every section and hazard, "Page n of N" on every page
    counted through the whole report, the running heads past the cover, one outline, and the
    signed bundle verifies."""
    monkeypatch.setattr(document, "PART_HAZARDS", 2)
    monkeypatch.setattr(document, "WHOLE_CHARACTERS", 4000)
    monkeypatch.setattr(document, "PART_CHARACTERS", 4000)
    rendered: list[int] = []
    render = document._render_in_parts

    def counting(parts):
        rendered.append(len(parts))
        return render(parts)

    monkeypatch.setattr(document, "_render_in_parts", counting)
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    job = build(job)
    assert job.status == CSCRBundleJob.Status.COMPLETE, job.failure_reason
    assert rendered and rendered[0] > 3

    pdf = _member(job, "cscr.pdf")
    pages = pdf_text(pdf).split("\f")
    assert len(pages) == job.page_count
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in normalised(page), f"page {number} is not numbered"
        if number > 1:
            assert "Version 1" in page and "Clinical Safety Case Report" in page
    text = normalised("\f".join(pages))
    for section in SECTIONS:
        assert section in text, f"section missing from the PDF: {section}"
    for hazard in signed_off.snapshot["hazards"]:
        assert normalised(hazard["name"]) in text, f"{hazard['reference']} missing from the PDF"
    with pikepdf.open(io.BytesIO(pdf)) as merged, merged.open_outline() as outline:
        assert [item.title for item in outline.root] == [f"Clinical Safety Case Report: {signed_off.deployment.name}"]
        assert {item.title for item in outline.root[0].children} >= set(SECTIONS[1:])
    assert verify(bundle_path(job)).valid


def test_the_bundle_records_exactly_the_signed_snapshot(built, signed_off):
    sign_off = json.loads(_member(built, "sign-off.json"))
    hazard_log = json.loads(_member(built, "hazard-log.json"))
    rows = list(csv.reader(io.StringIO(_member(built, "hazard-log.csv").decode("utf-8-sig"))))

    assert sign_off["snapshot"] == signed_off.snapshot
    assert sign_off["snapshot_sha256"] == signed_off.snapshot_sha256
    assert hazard_log["hazards"] == signed_off.snapshot["hazards"]
    assert [row[0] for row in rows[1:]] == [h["reference"] for h in signed_off.snapshot["hazards"]]
    assert rows[0][0] == "Hazard number" and rows[0][-1] == "Status"


def test_a_hazard_edited_after_the_sign_off_is_not_in_a_bundle_of_that_sign_off(built, signed_off, people):
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=2)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, name="Renamed after signing")

    text = normalised(pdf_text(_member(built, "cscr.pdf")))

    assert "Renamed after signing" not in text
    assert DeploymentHazard.objects.get(pk=hazard.pk).name == "Renamed after signing"


def test_document_control_names_the_previous_cscr_and_what_changed_since(built, signed_off, people):
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=2)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, residual_likelihood="low")
    sign(signed_off.deployment, people.cso_a)
    second, created = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    second = build(second)

    text = normalised(pdf_text(_member(second, "cscr.pdf")))
    manifest = json.loads(_member(second, "manifest.json"))

    assert created and second.version == 2 and second.previous_id == built.pk
    assert "Version 1, issued" in text
    assert "H002: residual.likelihood changed from 'very_low' to 'low'" in text
    assert manifest["cscr"]["previous_bundle_sha256"] == built.bundle_sha256


def test_evidence_files_are_included_when_asked_within_the_size_cap(signed_off, people, world, settings):
    big = stored_evidence(
        world, people, title="Fallback drill recording", content=b"%PDF-1.7 " + b"y" * 5000, name="drill.pdf"
    )
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=4)
    control_save(
        actor=people.cso_a,
        hazard=hazard,
        expected_version=hazard.version,
        kind="test",
        description="Fallback drill run.",
        owner=world.trust_a,
        is_verified=True,
        evidence_revisions=[big.revisions.get()],
    )
    sign(signed_off.deployment, people.cso_a)
    settings.CSCR_INCLUDE_EVIDENCE_MAX_BYTES = 4000  # room for the small file, not the drill recording
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, include_evidence=True, mfa_verified_at=time.time()
    )

    job = build(job)
    with zipfile.ZipFile(bundle_path(job)) as archive:
        names = archive.namelist()
        evidence = json.loads(archive.read("evidence-manifest.json"))["evidence"]
    files = {f["name"]: f for item in evidence for f in item["files"]}

    assert job.evidence_files_included == 1
    included = files["test-report.pdf"]["included_as"]
    assert included in names and included.startswith("evidence/")
    assert files["drill.pdf"]["included_as"] is None
    assert "size cap" in files["drill.pdf"]["not_included"]
    assert verify(bundle_path(job)).valid


def test_an_evidence_file_changed_in_storage_fails_the_job_and_issues_nothing(
    signed_off, people, evidence, bundle_storage
):
    from django.core.files.storage import storages

    stored = evidence.revisions.get().files.get()
    with storages["evidence"].open(stored.storage_name, "wb") as file:
        file.write(b"%PDF-1.7 not what was signed off")
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, include_evidence=True, mfa_verified_at=time.time()
    )

    cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == CSCRBundleJob.Status.FAILED
    assert "no longer has the SHA-256 the sign-off recorded" in job.failure_reason
    assert not list((bundle_storage / str(job.deployment_id)).glob("*"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/remote.css",
        "https://assets.nhs.uk/fonts/frutiger.woff2",
        "file:///etc/passwd",
        "data:text/css,body{}",
    ],
)
def test_the_url_fetcher_refuses_anything_but_the_projects_static_files(url, settings):
    with pytest.raises(ValueError, match="refused"):
        ProjectFilesFetcher().fetch(url)

    allowed = ProjectFilesFetcher().fetch(document.base_url() + "css/cscr-print.css")
    assert b"@page" in allowed.read()


def test_a_template_that_asks_for_a_remote_asset_does_not_render(db):
    with pytest.raises(FatalURLFetchingError):
        document.html_to_pdf('<html><body><img src="http://127.0.0.1:9/logo.png" alt=""></body></html>')
