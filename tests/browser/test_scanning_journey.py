"""Uploads scanned for real, in a real browser: a real Celery worker takes the scan that the upload
queues after commit (as in production) and sends the file to a real clamd (issue acceptance).

A clean PDF is released within seconds and can be accepted, and the checklist counts it; the EICAR
test file ends refused and is never downloadable; a file uploaded while clamd is down waits (a
reviewer is told so before deciding, and is not offered Accept), and is scanned once clamd is back,
with nobody doing anything, and then accepted. Every page visited is checked with axe."""

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.urls import reverse
from playwright.sync_api import BrowserContext, Page, expect

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.celery import app as celery_app
from nir_portal.clamav import daemon as clamav_daemon
from onboarding.models import EvidenceFile, EvidenceLink
from onboarding.tasks import evidence_file_scan
from tests.browser.axe import assert_accessible
from tests.conftest import require, start_clamd

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.redis, pytest.mark.clamd]

BASE_DIR = Path(__file__).resolve().parents[2]
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
# The EICAR test file, joined here so that no file in the repository holds it whole.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PROGRESS = re.compile(r"^\s*(\d+) of (\d+)\s+mandatory requirements accepted\s*$")
SCAN_SECONDS = 30  # "within seconds", with room for a machine busy with other tests


def _test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log = process, log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self, seconds: float = 120) -> None:
        """Until the worker says it is ready: starting one (Django, the PDF libraries) takes longer
        than a scan on a busy machine, and a production worker is running long before an upload."""
        deadline = time.monotonic() + seconds
        while " ready." not in self.text():
            assert self.process.poll() is None, f"the worker exited:\n{self.text()}"
            assert time.monotonic() < deadline, f"the worker was not ready within {seconds:.0f} s:\n{self.text()}"
            time.sleep(0.2)


@pytest.fixture
def scan_worker(settings, tmp_path, monkeypatch):
    """Start a real Celery worker that scans with the clamd at a given URL. Scans go to a queue of
    this test's own, so no other test's worker takes them; retries wait 1-3 s instead of minutes."""
    require(bool(settings.REDIS_URL), "REDIS_URL is not set: a real Celery worker needs the Redis broker")
    queue = f"test-scan-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(evidence_file_scan, "queue", queue, raising=False)
    monkeypatch.setattr(evidence_file_scan, "_exec_options", None)  # Celery caches the routing options
    workers: list[Worker] = []

    def _start(clamav_url: str, retry_max_seconds: float = 3) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CLAMAV_URL": clamav_url,
            "CLAMAV_RETRY_SECONDS": "1",
            "CLAMAV_RETRY_MAX_SECONDS": str(retry_max_seconds),
        }
        command = [
            sys.executable, "-m", "celery", "-A", "nir_portal", "worker",
            "--pool", "solo", "--concurrency", "1", "-Q", queue, "-n", f"{queue}-{len(workers)}@%h",
            "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("w") as output:
            process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
        worker = Worker(process, log)
        workers.append(worker)
        worker.wait_until_ready()
        return worker

    yield _start
    for worker in workers:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


@pytest.fixture
def outside_requests(context: BrowserContext, live_server) -> list[str]:
    """Every request the browser makes to anything but the portal (there should be none)."""
    seen: list[str] = []
    context.on("request", lambda r: None if r.url.startswith((live_server.url, "data:")) else seen.append(r.url))
    return seen


def upload(page: Page, checked_pages, *, title: str, code: str, name: str, content: bytes) -> None:
    """From the deployment's checklist, add evidence for one requirement with one file."""
    page.get_by_role("link", name="Add evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add evidence")
    page.get_by_label("Title").fill(title)
    page.get_by_role("checkbox", name=re.compile(f"^{code} ")).check()
    page.get_by_label("Statement").fill("The record for every go-live user.")
    page.get_by_label("Files (optional)").set_input_files(
        {"name": name, "mimeType": "application/pdf", "buffer": content}
    )
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_role("status")).to_contain_text(f"{title} has been saved.")


def wait_until_shown(page: Page, locator, what: str, seconds: float = SCAN_SECONDS) -> float:
    """Reload the page, as a person would, until `locator` shows; returns the seconds it took."""
    started = time.monotonic()
    while not locator.count():
        assert time.monotonic() - started < seconds, f"{what} not shown within {seconds:.0f} s"
        time.sleep(0.5)
        page.reload()
    return time.monotonic() - started


def open_checklist(page: Page, live_server, deployment) -> tuple[int, int, str]:
    page.goto(live_server.url + reverse("onboarding:deployment-checklist", kwargs={"pk": deployment.pk}))
    expect(page.get_by_role("heading", level=1)).to_have_text("Onboarding checklist")
    match = PROGRESS.match(page.get_by_test_id("overall-progress").inner_text())
    assert match, page.get_by_test_id("overall-progress").inner_text()
    status = page.get_by_test_id("requirement-TRN-01").locator(".nhsuk-task-list__status").inner_text().strip()
    return int(match[1]), int(match[2]), status


def test_a_clean_pdf_is_scanned_by_clamd_within_seconds_then_accepted_and_counted(
    framework, world, live_server, context, page, sign_in, checked_pages, clamd_urls, scan_worker, outside_requests
):
    # Given a trust's evidence contributor, a national reviewer, and a worker scanning with clamd
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    worker = scan_worker(clamd_urls[0])
    sign_in(context, contributor)
    accepted_before, total, status = open_checklist(page, live_server, world.deployment_a)
    assert status == "Not started"

    # When the contributor uploads a PDF for TRN-01
    upload(page, checked_pages, title="Training record", code="TRN-01", name="training.pdf", content=PDF)

    # Then it waits for the malware scan, saying what happens next, and cannot be downloaded yet
    # (unless the worker was quicker than the page)
    link = page.get_by_role("link", name="training.pdf")
    if not link.count():
        expect(page.get_by_test_id("scan-status")).to_have_text("Waiting for the malware scan")
        expect(page.get_by_test_id("scan-next")).to_contain_text("once the scan finds it clean")
        assert_accessible(page, checked_pages, label="evidence detail, waiting for the malware scan")

    # and within seconds clamd has found it clean, with nobody doing anything, and it can be downloaded
    took = wait_until_shown(page, link, "the clean file's download link")
    file = EvidenceFile.objects.get(revision__evidence__title="Training record")
    assert file.scan_status == EvidenceFile.ScanStatus.CLEAN, worker.text()
    assert "Task onboarding.tasks.evidence_file_scan[" in worker.text()
    scans = AuditEvent.objects.filter(action="evidence_file.scan", object_id=str(file.pk))
    assert list(scans.values_list("outcome", flat=True)) == [AuditEvent.Outcome.SUCCESS]
    assert_accessible(page, checked_pages, label=f"evidence detail, scanned clean ({took:.1f} s)")

    # When the national reviewer accepts it
    sign_in(context, reviewer)
    page.goto(live_server.url + reverse("onboarding:review-queue"))
    page.get_by_test_id("review-queue").get_by_role("link", name="Training record").click()
    expect(page.get_by_role("link", name="training.pdf")).to_be_visible()
    page.get_by_role("radio", name="Accept").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_contain_text("Your decision has been recorded.")

    # Then the contributor's checklist counts it
    sign_in(context, contributor)
    accepted_after, total_after, status = open_checklist(page, live_server, world.deployment_a)
    assert (accepted_after, total_after) == (accepted_before + 1, total)
    assert status == "Accepted"
    assert EvidenceLink.objects.get(evidence__title="Training record").status == EvidenceLink.Status.ACCEPTED
    assert_accessible(page, checked_pages, label="checklist after the scanned evidence was accepted")
    # and no page asked for anything outside the portal
    assert outside_requests == []


def test_the_eicar_test_file_ends_refused_as_infected_and_is_never_downloadable(
    framework, world, live_server, context, page, sign_in, checked_pages, clamd_urls, scan_worker
):
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    scan_worker(clamd_urls[0])
    sign_in(context, contributor)
    open_checklist(page, live_server, world.deployment_a)

    # When the contributor uploads a PDF carrying the EICAR test file
    upload(page, checked_pages, title="Infected record", code="TRN-01", name="infected.pdf", content=PDF + EICAR)

    # Then clamd finds it, and the page says it will never be available
    refused = page.get_by_test_id("scan-status").filter(has_text="Refused: malware found")
    wait_until_shown(page, refused, "the refusal")
    expect(page.get_by_test_id("scan-next")).to_contain_text("will never be available to download")
    expect(page.get_by_role("link", name="infected.pdf")).to_have_count(0)
    assert_accessible(page, checked_pages, label="evidence detail, refused as infected")
    file = EvidenceFile.objects.get(revision__evidence__title="Infected record")
    assert file.scan_status == EvidenceFile.ScanStatus.INFECTED
    assert "EICAR" in file.scan_detail

    # and neither the uploader nor a reviewer can download it, even by its address
    download = live_server.url + reverse("onboarding:evidence-file-download", kwargs={"pk": file.pk})
    for person in (contributor, reviewer):
        sign_in(context, person)
        response = page.goto(download)
        assert response is not None and "attachment" not in (response.headers.get("content-disposition") or "")
        expect(page.get_by_role("status")).to_contain_text("infected.pdf cannot be downloaded: refused: malware found")
    assert not AuditEvent.objects.filter(action="evidence_file.download").exists()


def test_a_file_uploaded_while_clamd_is_down_is_scanned_once_it_is_back_without_anyone_acting(
    framework, world, live_server, context, page, sign_in, checked_pages, scan_worker, tmp_path
):
    # Given a clamd of this test's own, which is then stopped
    clamd_dir = tmp_path / "clamd"
    daemon = start_clamd(clamd_dir)
    try:
        assert clamav_daemon.stop(clamd_dir)
        assert not clamav_daemon.ping(daemon.url)
        # (retries up to 6 s apart: about 30 s of them, time for a reviewer to look meanwhile)
        worker = scan_worker(daemon.url, retry_max_seconds=6)
        contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
        reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
        sign_in(context, contributor)
        open_checklist(page, live_server, world.deployment_a)

        # When a contributor uploads a file while clamd is down
        upload(page, checked_pages, title="Training record", code="TRN-01", name="training.pdf", content=PDF)

        # Then the worker keeps trying, and the file waits, saying so, rather than hitting a dead end
        deadline = time.monotonic() + SCAN_SECONDS
        while "(attempt 2)" not in worker.text():
            assert worker.process.poll() is None, worker.text()
            assert time.monotonic() < deadline, f"no retry within {SCAN_SECONDS} s:\n{worker.text()}"
            time.sleep(0.2)
        file = EvidenceFile.objects.get(revision__evidence__title="Training record")
        assert file.scan_status == EvidenceFile.ScanStatus.PENDING
        page.reload()
        expect(page.get_by_test_id("scan-status")).to_have_text("Waiting for the malware scan")
        expect(page.get_by_role("link", name="training.pdf")).to_have_count(0)
        assert_accessible(page, checked_pages, label="evidence detail, scanner down, waiting")

        # When a reviewer opens it meanwhile
        sign_in(context, reviewer)
        page.goto(live_server.url + reverse("onboarding:review-queue"))
        page.get_by_test_id("review-queue").get_by_role("link", name="Training record").click()

        # Then before choosing they are told it cannot be accepted yet, which file, why and what
        # can be done, and Accept is not offered; requesting changes is
        hold = page.get_by_test_id("scan-hold")
        expect(hold.get_by_role("heading")).to_have_text("Important: This evidence cannot be accepted yet")
        expect(hold.get_by_test_id("scan-hold-file")).to_have_text(["training.pdf: waiting for the malware scan"])
        expect(hold.get_by_test_id("scan-hold-actions")).to_contain_text("then reload this page")
        request_changes = page.get_by_role("radio", name="Request changes")
        expect(request_changes).to_be_enabled()
        expect(page.get_by_role("radio", name="Accept")).to_have_count(0)
        expect(page.get_by_role("group", name="Your decision")).to_contain_text(
            "Accept is offered once every file has passed the malware scan"
        )
        hold_box, radio_box = hold.bounding_box(), request_changes.bounding_box()
        assert hold_box and radio_box and hold_box["y"] + hold_box["height"] <= radio_box["y"]
        assert_accessible(page, checked_pages, label="review page, scanner down, Accept not offered")

        # When clamd is started again, and nobody does anything else
        start_clamd(clamd_dir)

        # Then the file is scanned clean and, reloading, the reviewer can download it and is offered Accept
        accept = page.get_by_role("radio", name="Accept")
        wait_until_shown(page, accept, "Accept after clamd returned")
        file.refresh_from_db()
        assert file.scan_status == EvidenceFile.ScanStatus.CLEAN, worker.text()
        expect(page.get_by_role("link", name="training.pdf")).to_be_visible()
        expect(page.get_by_test_id("scan-hold")).to_have_count(0)
        assert_accessible(page, checked_pages, label="review page, scanned clean, Accept offered")

        # and accepts it
        accept.check()
        page.get_by_role("button", name="Record decision").click()
        expect(page.get_by_role("status")).to_contain_text("Your decision has been recorded.")
        assert EvidenceLink.objects.get(evidence__title="Training record").status == EvidenceLink.Status.ACCEPTED
    finally:
        clamav_daemon.stop(clamd_dir)


def test_every_page_warns_when_uploads_are_scanned_with_development_signatures_only(
    world, live_server, context, page, sign_in, checked_pages, settings
):
    viewer = world.member(world.trust_a, Role.VIEWER)
    settings.CLAMAV_DEVELOPMENT_SIGNATURES = False
    page.goto(live_server.url + reverse("account_login"))
    expect(page.get_by_test_id("development-signatures")).to_have_count(0)

    settings.CLAMAV_DEVELOPMENT_SIGNATURES = True
    for label, path in (("sign in", reverse("account_login")), ("home", reverse("home"))):
        if label == "home":
            sign_in(context, viewer)
        page.goto(live_server.url + path)
        banner = page.get_by_role("region", name="Development malware signatures")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("only detect test files such as EICAR")
        assert_accessible(page, checked_pages, label=f"{label}, development signatures banner")
