"""Requesting and building bundles: the preconditions, one job row per request enqueued on commit
with its id, an idempotent build keyed on the job row, bounded attempts, and signing keys (a
configured PKCS#12 key, a timestamp authority, and a production run without a key refused)."""

import asyncio
import json
import threading
import time
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from asn1crypto import tsp
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from nir_portal.audit.models import AuditEvent
from safety import cscr_services
from safety.cscr import signing
from safety.models import CSCRBundleJob, DeploymentHazard
from safety.services.hazards import hazard_update
from safety.services.incidents import incident_report
from tests.cscr.conftest import build, bundle_path, verify


def _request(signed_off, people, **kwargs):
    return cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, **kwargs, mfa_verified_at=time.time()
    )


# --- preconditions ---------------------------------------------------------------------------------


def test_without_a_sign_off_the_request_is_refused_with_a_clear_message(world, people):
    with pytest.raises(ValidationError) as refused:
        cscr_services.bundle_request(actor=people.cso_a, deployment=world.deployment_a, mfa_verified_at=time.time())

    assert refused.value.code == "no_sign_off"
    assert "has not been signed off" in refused.value.messages[0]
    assert not CSCRBundleJob.objects.exists()


def test_a_superseded_sign_off_is_refused_with_a_clear_message(signed_off, people):
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=3)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, residual_likelihood="low")

    with pytest.raises(ValidationError) as refused:
        _request(signed_off, people)

    assert refused.value.code == "sign_off_superseded"
    assert "was superseded" in refused.value.messages[0]
    assert "sign off the hazard log again" in refused.value.messages[0]
    assert not CSCRBundleJob.objects.exists()


def test_a_sign_off_flagged_by_an_incident_is_refused_until_the_cso_re_reviews(signed_off, people):
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=1)
    incident_report(
        actor=people.lead_a,
        deployment=signed_off.deployment,
        reference="INC-9",
        reported_on=date(2026, 3, 1),
        summary="Priors missing.",
        hazards=[hazard],
    )

    with pytest.raises(ValidationError) as refused:
        _request(signed_off, people)

    assert refused.value.code == "re_review"


def test_only_the_deploying_organisations_cso_lead_or_executive_may_request(signed_off, people):
    for person in (people.viewer_a, people.contributor_a, people.cso_b, people.supplier_cso, people.national_reviewer):
        with pytest.raises(PermissionDenied):
            cscr_services.bundle_request(actor=person, deployment=signed_off.deployment, mfa_verified_at=time.time())
    for person in (people.lead_a, people.executive_a):
        job, _ = cscr_services.bundle_request(
            actor=person, deployment=signed_off.deployment, mfa_verified_at=time.time()
        )
        assert job.sign_off == signed_off
    assert AuditEvent.objects.filter(action="cscr.request", outcome=AuditEvent.Outcome.DENIED).count() == 5


# --- the job row -------------------------------------------------------------------------------------


def test_the_job_row_is_created_in_the_request_and_enqueued_with_its_id_on_commit(
    signed_off, people, django_capture_on_commit_callbacks, settings
):
    settings.CSCR_QUEUE = "cscr-test"
    with mock.patch("safety.tasks.cscr_bundle_build.apply_async") as enqueue:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job, created = _request(signed_off, people, lifecycle_phase=CSCRBundleJob.Phase.USE)
        enqueue.assert_not_called()  # nothing reaches the broker before the row is committed
        for callback in callbacks:
            callback()

    enqueue.assert_called_once_with(args=[job.pk], queue="cscr-test")
    assert created and job.status == CSCRBundleJob.Status.QUEUED and job.version == 1
    assert job.lifecycle_phase == "use" and job.sign_off == signed_off
    assert AuditEvent.objects.get(action="cscr.request").changes["snapshot_sha256"] == signed_off.snapshot_sha256


def test_asking_again_for_the_same_sign_off_and_phase_returns_the_same_job(signed_off, people):
    first, created = _request(signed_off, people)
    again, created_again = _request(signed_off, people)
    other_phase, created_other = _request(signed_off, people, lifecycle_phase=CSCRBundleJob.Phase.USE)

    assert created and not created_again and again == first
    assert created_other and other_phase.version == 2


def test_a_failed_job_can_be_requested_again(signed_off, people):
    first, _ = _request(signed_off, people)
    CSCRBundleJob.objects.filter(pk=first.pk).update(status=CSCRBundleJob.Status.FAILED, failure_reason="x")

    second, created = _request(signed_off, people)

    assert created and second.pk != first.pk and second.version == 2


# --- building ------------------------------------------------------------------------------------------


def test_a_redelivered_task_for_a_complete_job_builds_nothing(built, bundle_storage):
    before = bundle_path(built).read_bytes()

    outcome = cscr_services.bundle_build(job_id=built.pk)

    built.refresh_from_db()
    assert outcome.status == "complete" and not outcome.built
    assert built.attempts == 1
    assert bundle_path(built).read_bytes() == before
    assert AuditEvent.objects.filter(action="cscr.issue").count() == 1


def test_an_attempt_that_died_mid_render_is_taken_over_and_ends_with_one_bundle(signed_off, people, bundle_storage):
    job, _ = _request(signed_off, people)
    # What a worker killed mid-render leaves: the row in `rendering`, one attempt used, a partial file.
    CSCRBundleJob.objects.filter(pk=job.pk).update(status=CSCRBundleJob.Status.RENDERING, attempts=1)
    folder = bundle_storage / str(job.deployment_id)
    folder.mkdir(parents=True)
    (folder / f".cscr-{job.pk}-deadbeef.part").write_bytes(b"PK\x03\x04 half a zip")

    job = build(job)

    assert job.status == CSCRBundleJob.Status.COMPLETE and job.attempts == 2
    assert [p.name for p in folder.iterdir()] == [Path(job.storage_name).name]
    assert verify(bundle_path(job)).valid


def test_a_job_whose_worker_keeps_dying_fails_after_the_bounded_number_of_attempts(signed_off, people, settings):
    job, _ = _request(signed_off, people)
    CSCRBundleJob.objects.filter(pk=job.pk).update(
        status=CSCRBundleJob.Status.SIGNING, attempts=settings.CSCR_MAX_ATTEMPTS
    )

    outcome = cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.status == job.status == CSCRBundleJob.Status.FAILED
    assert f"in {settings.CSCR_MAX_ATTEMPTS} attempts" in job.failure_reason
    assert "while signing the bundle" in job.failure_reason
    assert AuditEvent.objects.get(action="cscr.fail").outcome == AuditEvent.Outcome.FAILURE


def test_a_failing_attempt_is_retried_and_then_failed_with_its_reason(signed_off, people, settings):
    settings.CSCR_MAX_ATTEMPTS = 2
    job, _ = _request(signed_off, people)
    with mock.patch("safety.cscr.document.html_to_pdf", side_effect=OSError("disk full")):
        first = cscr_services.bundle_build(job_id=job.pk)
        job.refresh_from_db()
        assert first.retry and job.status == CSCRBundleJob.Status.QUEUED
        assert "Attempt 1 failed: OSError: disk full" in job.failure_reason
        second = cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert not second.retry and job.status == CSCRBundleJob.Status.FAILED
    assert "could not be built in 2 attempts" in job.failure_reason and "disk full" in job.failure_reason


def test_a_sign_off_superseded_while_queued_fails_the_job(signed_off, people):
    job, _ = _request(signed_off, people)
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=3)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, residual_likelihood="low")

    cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == CSCRBundleJob.Status.FAILED and "superseded before the bundle was built" in job.failure_reason


def test_a_job_another_worker_is_building_is_left_to_it(signed_off, people):
    job, _ = _request(signed_off, people)
    # Another session on the same server, however the tests reach it (a TCP port, or the embedded
    # server's socket directory).
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [cscr_services.BUILD_LOCK_CLASS, job.pk])

        outcome = cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.status == "building elsewhere" and not outcome.built
    assert job.status == CSCRBundleJob.Status.QUEUED and job.attempts == 0


# --- signing keys ----------------------------------------------------------------------------------------


def test_in_production_a_job_without_a_configured_key_refuses_to_sign(signed_off, people, settings, bundle_storage):
    settings.DEBUG, settings.TESTING = False, False
    settings.CSCR_SIGNING_PKCS12_FILE = settings.CSCR_SIGNING_KEY_FILE = settings.CSCR_SIGNING_CERT_FILE = ""
    job, _ = _request(signed_off, people)

    outcome = cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.status == job.status == CSCRBundleJob.Status.FAILED and not outcome.retry
    assert job.failure_reason == signing.NOT_CONFIGURED_MESSAGE
    assert "CSCR_SIGNING_PKCS12_FILE" in job.failure_reason and "CSCR_SIGNING_PASSPHRASE" in job.failure_reason
    assert not list(bundle_storage.rglob("*.zip"))


def test_a_configured_pkcs12_key_signs_the_bundle(signed_off, people, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CSCR_SIGNING_PASSPHRASE", "correct horse battery")
    paths = signing.development_key_create(
        tmp_path / "keys", common_name="Trust A CSCR seal", pkcs12_passphrase=b"correct horse battery"
    )
    settings.DEBUG, settings.TESTING = False, False  # production: the configured key, never the development one
    settings.CSCR_SIGNING_PKCS12_FILE = str(paths["pkcs12"])
    settings.CSCR_SIGNING_PASSPHRASE = "correct horse battery"
    job, _ = _request(signed_off, people)

    job = build(job)

    certificate = load_cert_from_pemder(str(paths["certificate"]))
    assert job.status == CSCRBundleJob.Status.COMPLETE
    assert job.signer_fingerprint == signing.certificate_fingerprint(certificate)
    assert "Trust A CSCR seal" in job.signer_subject
    assert verify(bundle_path(job)).valid  # trusting the configured certificate


def test_a_wrong_passphrase_fails_the_job_with_a_clear_message(signed_off, people, settings, tmp_path):
    paths = signing.development_key_create(tmp_path / "keys", pkcs12_passphrase=b"right")
    settings.CSCR_SIGNING_PKCS12_FILE, settings.CSCR_SIGNING_PASSPHRASE = str(paths["pkcs12"]), "wrong"
    job, _ = _request(signed_off, people)

    outcome = cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == CSCRBundleJob.Status.FAILED and not outcome.retry  # no point retrying a wrong key
    assert "could not be loaded" in job.failure_reason and "CSCR_SIGNING_PASSPHRASE" in job.failure_reason


class _TimestampAuthority:
    """An RFC 3161 timestamp authority on 127.0.0.1, answering with pyHanko's test timestamper."""

    def __init__(self, directory: Path) -> None:
        paths = signing.development_key_create(directory, common_name="Test timestamp authority")
        stamper = DummyTimeStamper(
            tsa_cert=load_cert_from_pemder(str(paths["certificate"])),
            tsa_key=load_private_key_from_pemder(str(paths["key"]), passphrase=None),
        )

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
                body = asyncio.run(stamper.async_request_tsa_response(request)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def test_with_a_timestamp_authority_both_signatures_carry_a_timestamp(signed_off, people, settings, tmp_path):
    authority = _TimestampAuthority(tmp_path / "tsa")
    settings.CSCR_TSA_URL = authority.url
    try:
        job, _ = _request(signed_off, people)
        job = build(job)
    finally:
        authority.stop()

    report = verify(bundle_path(job))
    with zipfile.ZipFile(bundle_path(job)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert job.timestamped and manifest["signing"]["rfc3161_timestamps"] is True
    assert report.valid, report.problems
    for check in (report.pdf_signature, report.manifest_signature):
        assert check.timestamp is not None and check.timestamp_valid
        assert abs((check.timestamp - check.signed_at).total_seconds()) < 120
