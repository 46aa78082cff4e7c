"""Bundles built by a real Celery worker on Redis (issue acceptance): requested in the browser,
built, downloaded and verified by `verify_bundle`; and a worker process killed with SIGKILL in the
middle of a render still ends with exactly one complete, valid bundle."""

import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from nir_portal.audit.models import AuditEvent
from nir_portal.celery import app as celery_app
from safety import cscr_services
from safety.cscr import signing
from safety.models import CSCRBundleJob
from tests.browser.axe import assert_accessible, horizontal_overflow
from tests.browser.test_accessibility import REFLOW_WIDTH, structure_problems
from tests.conftest import mark_mfa, require
from tests.cscr.conftest import bundle_path, verify
from tests.test_celery_worker import _test_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
RENDER_DELAY_SECONDS = 4


def _wait_for(condition, *, timeout: float, what: str, log: Path, process: subprocess.Popen, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert process.poll() is None, f"the worker stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{log.read_text()[-5000:]}"
        time.sleep(every)


class Worker:
    def __init__(self, process: subprocess.Popen, queue: str, log: Path) -> None:
        self.process, self.queue, self.log = process, queue, log

    def children(self) -> list[int]:
        """The prefork pool's worker processes (concurrency 1: one at a time)."""
        try:
            return [child.pid for child in psutil.Process(self.process.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def wait_for(self, condition, *, timeout: float = 90, what: str = "condition"):
        return _wait_for(condition, timeout=timeout, what=what, log=self.log, process=self.process)


@pytest.fixture
def prefork_worker(settings, bundle_storage, tmp_path):
    """A prefork worker (concurrency 1) on its own queue, reading the test database and writing
    bundles where this test reads them. Renders pause RENDER_DELAY_SECONDS when asked."""
    require(bool(settings.REDIS_URL), "REDIS_URL is not set: a real Celery worker needs the Redis broker")
    signing.development_key_ensure(Path(settings.CSCR_SIGNING_DEV_DIR))  # one key for both processes
    started: list[Worker] = []

    def start(*, render_delay: float = 0) -> Worker:
        queue = f"test-cscr-{uuid.uuid4().hex[:12]}"
        settings.CSCR_QUEUE = queue
        log = tmp_path / "worker.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CSCR_BUNDLE_DIR": str(bundle_storage),
            "NIR_CSCR_TEST_RENDER_DELAY": str(render_delay),
            "CSCR_RECYCLE_AFTER_PAGES": "1",  # every CSCR counts as large: the child is replaced after it
            "CSCR_QUEUE": queue,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "nir_portal", "worker",
            "--pool", "prefork", "--concurrency", "1", "-Q", queue, "-n", f"{queue}@%h",
            "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("w") as output:
            process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
        worker = Worker(process, queue, log)
        started.append(worker)
        worker.wait_for(lambda: "ready." in log.read_text(), timeout=60, what="the worker to start")
        return worker

    yield start
    for worker in started:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(worker.queue)


def _check_page(page, checked_pages, label: str) -> None:
    """axe, then what the portal's accessibility suite asks of every page: one h1, a title, the skip
    link first, and no sideways scrolling at 320 CSS pixels."""
    assert_accessible(page, checked_pages, label=label)
    problems = structure_problems(page)
    size = page.viewport_size
    page.set_viewport_size({"width": REFLOW_WIDTH, "height": size["height"]})
    overflow = horizontal_overflow(page)
    page.set_viewport_size(size)
    if overflow["scrollWidth"] > REFLOW_WIDTH:
        problems.append(f"scrolls sideways at {REFLOW_WIDTH}px: {overflow['sticking']}")
    assert not problems, f"{label}: {problems}"


def _job(job_id: int) -> CSCRBundleJob:
    return CSCRBundleJob.objects.get(pk=job_id)


@pytest.mark.celery
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_render_still_ends_with_exactly_one_complete_valid_bundle(
    prefork_worker, signed_off, people, bundle_storage
):
    worker = prefork_worker(render_delay=RENDER_DELAY_SECONDS)
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )  # enqueued on commit

    # When the worker's child process is killed while it renders
    worker.wait_for(lambda: _job(job.pk).status == CSCRBundleJob.Status.RENDERING, what="the render to start")
    (first_child,) = worker.children()
    time.sleep(0.5)
    assert _job(job.pk).status == CSCRBundleJob.Status.RENDERING
    os.kill(first_child, signal.SIGKILL)

    # Then the task is redelivered to a new child, which builds the bundle
    second_child = worker.wait_for(
        lambda: next((p for p in worker.children() if p != first_child), None), what="a new worker child"
    )
    done = worker.wait_for(lambda: _job(job.pk).is_finished and _job(job.pk), what="the job to finish")
    assert done.status == CSCRBundleJob.Status.COMPLETE, done.failure_reason
    assert done.attempts == 2
    # Exactly one bundle, nothing half-written left behind, issued once.
    assert [p.name for p in bundle_storage.rglob("*") if p.is_file()] == [Path(done.storage_name).name]
    assert AuditEvent.objects.filter(action="cscr.issue", object_id=str(job.pk)).count() == 1
    report = verify(bundle_path(done))
    assert report.valid, report.problems
    # And the child that rendered it is replaced afterwards, not left holding the render's memory.
    worker.wait_for(
        lambda: worker.children() and second_child not in worker.children(),
        what="the child that rendered the CSCR to be replaced",
        timeout=30,
    )
    log = worker.log.read_text()
    assert "WorkerLostError" in log  # the killed attempt
    assert log.count("succeeded in") == 1  # the build ran to the end once; the recycling lost nothing


@pytest.mark.celery
@pytest.mark.redis
@pytest.mark.browser
def test_a_cso_requests_a_bundle_in_the_browser_and_it_is_built_downloaded_and_verified(
    prefork_worker, signed_off, people, live_server, page, sign_in, checked_pages, tmp_path
):
    worker = prefork_worker()
    client = sign_in(page.context, people.cso_a)
    # Issuing a bundle binds the CSO: their authenticator code was entered just now.
    mark_mfa(client, people.cso_a)

    # Given the CSO on the sign-off page of a signed-off hazard log
    page.goto(live_server.url + reverse("safety:sign-off", kwargs={"pk": signed_off.deployment_id}))
    _check_page(page, checked_pages, "sign-off, with the CSCR button")

    # When they produce the CSCR bundle
    page.get_by_role("button", name="Produce the CSCR bundle").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinical Safety Case Report, version 1")
    job = CSCRBundleJob.objects.get()
    assert page.url.endswith(reverse("cscr:job-detail", kwargs={"pk": job.pk}))
    _check_page(page, checked_pages, "CSCR job, in progress")
    page.evaluate("() => { window.notReloaded = true; }")

    # Then the page shows it complete without being reloaded
    expect(page.get_by_test_id("job-status")).to_have_text("Complete", timeout=90_000)
    assert page.evaluate("() => window.notReloaded === true"), "the page was reloaded"
    _check_page(page, checked_pages, "CSCR job, complete")

    # And the downloaded bundle passes verify_bundle
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    downloaded = tmp_path / download.value.suggested_filename
    download.value.save_as(downloaded)
    out = io.StringIO()
    call_command("verify_bundle", str(downloaded), stdout=out)
    assert out.getvalue().startswith("Bundle: VALID")
    assert AuditEvent.objects.filter(action="cscr.download", actor=people.cso_a).count() == 1
    assert re.fullmatch(r"cscr-[A-Z0-9]+-\d+-v1\.zip", downloaded.name)

    # And anyone can check it on the public page, signed out
    page.context.clear_cookies()
    page.goto(live_server.url + reverse("cscr:verify"))
    _check_page(page, checked_pages, "verify a bundle, signed out")
    page.get_by_label("Upload the CSCR bundle (.zip)").set_input_files(downloaded)
    page.get_by_role("button", name="Check the bundle").click()
    expect(page.get_by_test_id("verdict")).to_contain_text("The bundle is signed and unchanged")
    expect(page.get_by_test_id("pdf-signature")).to_contain_text("Valid")
    expect(page.get_by_test_id("manifest-signature")).to_contain_text("Valid")
    _check_page(page, checked_pages, "verify a bundle, result")
    assert worker.process.poll() is None
