"""A file stays quarantined until clamd says it is clean: with the scanner down the scan is tried
again with backoff, the file is kept and cannot be downloaded; a later scan that reports clean
releases it."""

import hashlib
import logging
from datetime import date, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from nir_portal.audit.models import AuditEvent
from onboarding.arrangements import stored_upload as _stored
from onboarding.models import EvidenceFile
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.rules import StoredUpload
from onboarding.services.evidence.scans import evidence_file_record_scan
from onboarding.tasks import (
    SCAN_MAX_RETRIES,
    evidence_file_scan,
    evidence_files_rescan_quarantined,
    scan_retry_countdown,
    scan_retry_window,
)
from tests.conftest import free_port
from tests.onboarding.test_evidence_views import PDF, _as
from tests.onboarding.test_scanning import _nested_zip

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _evidence_with(world, people, content: bytes, name: str):
    evidence = evidence_create(
        actor=people["supplier_lead"],
        owner=world.supplier,
        product_version=world.product_version,
        title=name,
        requirement_codes=["INT-01"],
        statement="See file.",
        effective_date=date(2026, 11, 1),
        files=[_stored(content, name)],
    )
    return EvidenceFile.objects.get(revision__evidence=evidence)


@pytest.mark.clamd
def test_with_clamd_down_a_file_stays_quarantined_until_a_later_scan_reports_clean(
    client,
    world,
    people,
    clamd_urls,
    settings,
    caplog,
):
    file = _evidence_with(world, people, PDF, "assurance.pdf")
    download = reverse("onboarding:evidence-file-download", kwargs={"pk": file.pk})

    settings.CLAMAV_URL = f"tcp://127.0.0.1:{free_port()}"  # the scanner is down
    with caplog.at_level(logging.WARNING, logger="onboarding.tasks"):
        evidence_file_scan.apply(args=[file.pk])  # eager: each retry runs at once, without waiting
    attempts = [r for r in caplog.records if r.getMessage().startswith("Scanner unavailable")]
    assert len(attempts) == SCAN_MAX_RETRIES + 1
    file.refresh_from_db()
    assert file.scan_status == EvidenceFile.ScanStatus.ERROR  # retries spent: left to the periodic rescan
    assert _as(client, people["cso_a"]).get(download).status_code == 302  # refused: quarantined

    # The periodic rescan while the scanner is still down records nothing new.
    evidence_file_scan.apply(args=[file.pk])
    assert AuditEvent.objects.filter(action="evidence_file.scan", object_id=str(file.pk)).count() == 1

    settings.CLAMAV_URL = clamd_urls[0]  # the scanner is back
    queued = []
    original_delay = evidence_file_scan.delay
    evidence_file_scan.delay = lambda file_id, **kw: queued.append(file_id) or evidence_file_scan.run(file_id, **kw)
    try:
        assert evidence_files_rescan_quarantined.run() >= 1
    finally:
        evidence_file_scan.delay = original_delay
    assert file.pk in queued
    file.refresh_from_db()
    assert file.scan_status == EvidenceFile.ScanStatus.CLEAN
    response = client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


@pytest.mark.clamd
def test_an_infected_file_is_never_released(client, world, people, clamd_urls, settings):
    file = _evidence_with(world, people, b"notes: " + EICAR + b"\n", "notes.txt")
    settings.CLAMAV_URL = clamd_urls[0]

    assert evidence_file_scan.run(file.pk) == EvidenceFile.ScanStatus.INFECTED
    assert evidence_file_scan.run(file.pk) == "skipped"  # a final verdict is not rescanned
    file.refresh_from_db()
    assert file.scan_status == EvidenceFile.ScanStatus.INFECTED
    response = _as(client, people["cso_a"]).get(reverse("onboarding:evidence-file-download", kwargs={"pk": file.pk}))
    assert response.status_code == 302


@pytest.mark.clamd
def test_a_file_beyond_the_scanners_limits_is_refused_for_good_and_the_reviewer_is_told_why(
    client, world, people, clamd_urls, settings, monkeypatch
):
    # Upload inspection refuses archives nested this deep; in storage anyway (stored before that
    # rule, or the scanner's limits set below the portal's), the scan must not release it.
    content = _nested_zip(30)
    stored = StoredUpload(
        original_name="deeply-nested.zip",
        storage_name=storages["evidence"].save("evidence/deeply-nested.zip", ContentFile(content)),
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        detected_type="zip",
    )
    evidence = evidence_create(
        actor=people["supplier_lead"],
        owner=world.supplier,
        product_version=world.product_version,
        title="Nested archive",
        requirement_codes=["INT-01"],
        statement="See file.",
        effective_date=date(2026, 11, 1),
        files=[stored],
    )
    file = EvidenceFile.objects.get(revision__evidence=evidence)
    settings.CLAMAV_URL = clamd_urls[0]

    assert evidence_file_scan.run(file.pk) == EvidenceFile.ScanStatus.OVER_LIMIT
    assert evidence_file_scan.run(file.pk) == "skipped"  # final: scanning it again gives the same answer
    assert _rescanned(monkeypatch) == []
    file.refresh_from_db()
    assert file.scan_detail.startswith("Not fully scanned: Heuristics.Limits.Exceeded")
    cso = _as(client, people["cso_a"])
    assert cso.get(reverse("onboarding:evidence-file-download", kwargs={"pk": file.pk})).status_code == 302
    link = file.revision.evidence.links.get(deployment=world.deployment_a)
    page = cso.get(reverse("onboarding:evidence-review", kwargs={"pk": link.pk})).content.decode()
    assert "deeply-nested.zip</strong>: refused: too large or too deeply nested" in page
    assert "uploads it in smaller parts, or unpacked, in a new revision" in page
    assert 'value="accept"' not in page


def test_a_scan_that_cannot_reach_clamd_waits_longer_each_time_up_to_the_ceiling(settings):
    settings.CLAMAV_RETRY_SECONDS, settings.CLAMAV_RETRY_MAX_SECONDS = 10, 300

    waits = [[scan_retry_countdown(retries) for _ in range(50)] for retries in range(7)]

    ceilings = [10, 20, 40, 80, 160, 300, 300]
    for ceiling, samples in zip(ceilings, waits, strict=True):
        assert all(ceiling / 2 <= wait <= ceiling for wait in samples), (ceiling, min(samples), max(samples))
    assert len({round(wait, 6) for wait in waits[3]}) > 1  # spread, so files queued together do not retry together


def test_a_misconfigured_scanner_address_is_recorded_at_once_without_retrying(world, people, settings, caplog):
    file = _evidence_with(world, people, PDF, "assurance.pdf")
    settings.CLAMAV_URL = "clamd.example"  # waiting cannot mend this

    with caplog.at_level(logging.WARNING, logger="onboarding.tasks"):
        assert evidence_file_scan.apply(args=[file.pk]).get() == EvidenceFile.ScanStatus.ERROR

    assert len([r for r in caplog.records if r.getMessage().startswith("Scanner unavailable")]) == 1
    file.refresh_from_db()
    assert file.scan_status == EvidenceFile.ScanStatus.ERROR


def _rescanned(monkeypatch) -> list[tuple[int, dict]]:
    """Run the periodic rescan; what it queues is recorded, not run."""
    queued: list[tuple[int, dict]] = []
    monkeypatch.setattr(evidence_file_scan, "delay", lambda file_id, **kw: queued.append((file_id, kw)))
    assert evidence_files_rescan_quarantined.run() == len(queued)
    return queued


def test_the_rescan_leaves_a_file_whose_first_scan_is_still_retrying_alone(world, people, settings, monkeypatch):
    settings.CLAMAV_RETRY_SECONDS, settings.CLAMAV_RETRY_MAX_SECONDS, settings.CLAMAV_TIMEOUT = 10, 300, 120
    # Uploaded just inside the longest its first scan, with every retry, can take
    with time_machine.travel(timezone.now() - scan_retry_window() + timedelta(minutes=1)):
        retrying = _evidence_with(world, people, PDF, "retrying.pdf")
    fresh = _evidence_with(world, people, PDF, "fresh.pdf")
    assert retrying.scan_status == fresh.scan_status == EvidenceFile.ScanStatus.PENDING

    assert _rescanned(monkeypatch) == []


def test_the_rescan_takes_up_files_past_their_retries_with_one_attempt_each(world, people, settings, monkeypatch):
    settings.CLAMAV_RETRY_SECONDS, settings.CLAMAV_RETRY_MAX_SECONDS, settings.CLAMAV_TIMEOUT = 10, 300, 120
    assert scan_retry_window() == timedelta(seconds=10 + 20 + 40 + 80 + 160 + 300 + 300 + 8 * 120)
    with time_machine.travel(timezone.now() - scan_retry_window() - timedelta(minutes=1)):
        lost = _evidence_with(world, people, PDF, "lost.pdf")  # its scan never ran
    errored = _evidence_with(world, people, PDF, "errored.pdf")  # retries spent a moment ago
    evidence_file_record_scan(file=errored, status=EvidenceFile.ScanStatus.ERROR, detail="down")
    fresh = _evidence_with(world, people, PDF, "fresh.pdf")
    infected = _evidence_with(world, people, PDF, "infected.pdf")
    evidence_file_record_scan(file=infected, status=EvidenceFile.ScanStatus.INFECTED, detail="X")

    queued = _rescanned(monkeypatch)

    assert queued == [(lost.pk, {"retry": False}), (errored.pk, {"retry": False})]
    assert fresh.pk not in {file_id for file_id, _ in queued}


def test_a_rescan_attempt_with_the_scanner_down_records_the_error_without_a_chain_of_retries(
    world, people, settings, caplog
):
    with time_machine.travel(timezone.now() - timedelta(days=1)):
        lost = _evidence_with(world, people, PDF, "lost.pdf")
    settings.CLAMAV_URL = f"tcp://127.0.0.1:{free_port()}"  # the scanner is down

    with caplog.at_level(logging.WARNING, logger="onboarding.tasks"):
        result = evidence_file_scan.apply(args=[lost.pk], kwargs={"retry": False}).get()

    assert result == EvidenceFile.ScanStatus.ERROR
    assert len([r for r in caplog.records if r.getMessage().startswith("Scanner unavailable")]) == 1
    lost.refresh_from_db()
    assert lost.scan_status == EvidenceFile.ScanStatus.ERROR
