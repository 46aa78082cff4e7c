"""Background jobs. Each loads rows by id and calls a service; each is safe to run twice."""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from nir_portal.periodic import periodic_task
from onboarding import scanning, selectors
from onboarding.models import EvidenceFile
from onboarding.services.evidence.expiry import evidence_expire_due
from onboarding.services.evidence.rules import EVIDENCE_FILE_SCAN
from onboarding.services.evidence.scans import FINAL_SCAN_STATES, evidence_file_record_scan
from onboarding.services.pars import pars_report_record
from onboarding.services.reminders import reminders_send
from onboarding.services.reminders import reviewer_digests_send as reviewer_digests_queue

logger = logging.getLogger(__name__)

# With the default 10 s doubling to 5 minutes: about 20 minutes of retries, then the periodic rescan.
SCAN_MAX_RETRIES = 7


def _retry_ceiling(retries: int) -> float:
    return min(settings.CLAMAV_RETRY_MAX_SECONDS, settings.CLAMAV_RETRY_SECONDS * 2**retries)


def scan_retry_window() -> timedelta:
    """The longest a file's first scan can take with all its retries: every attempt timing out,
    and every wait at its longest. A file still waiting after this lost its scan (the task was
    never queued, or was dropped) and is left to the periodic rescan; before it, the scan's own
    retries are still under way."""
    waits = sum(_retry_ceiling(retries) for retries in range(SCAN_MAX_RETRIES))
    return timedelta(seconds=waits + (SCAN_MAX_RETRIES + 1) * settings.CLAMAV_TIMEOUT)


def scan_retry_countdown(retries: int) -> float:
    """Seconds before attempt `retries` + 1: doubling from CLAMAV_RETRY_SECONDS up to
    CLAMAV_RETRY_MAX_SECONDS, half of it random so that files queued together spread out."""
    ceiling = _retry_ceiling(retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  spreading retries, not a secret


@shared_task(bind=True, name=EVIDENCE_FILE_SCAN, max_retries=SCAN_MAX_RETRIES, acks_late=True)
def evidence_file_scan(self, file_id: int, retry: bool = True) -> str:
    """Scan one file with ClamAV. Until an explicit clean answer the file stays quarantined.

    While the scanner cannot be reached the file stays pending and the task tries again with
    exponential backoff; once the retries are spent the file is recorded as a scanner error, and
    the periodic rescan (evidence_files_rescan_quarantined) takes it up from there. The rescan
    asks for one attempt (`retry=False`): its own schedule is the retry, so its attempts never
    pile up into overlapping chains of backoff."""
    file = EvidenceFile.objects.filter(pk=file_id).first()
    if file is None or file.scan_status in FINAL_SCAN_STATES:
        return "skipped"
    result = scanning.scan_storage_file(file.storage_name)
    if result.status == EvidenceFile.ScanStatus.ERROR:
        attempt = self.request.retries + 1
        logger.warning("Scanner unavailable for evidence file %s (attempt %s): %s", file_id, attempt, result.detail)
        if retry and result.transient and self.request.retries < self.max_retries:
            raise self.retry(countdown=scan_retry_countdown(self.request.retries))
        if file.scan_status == EvidenceFile.ScanStatus.ERROR:
            return result.status  # already recorded; the periodic rescan keeps trying
    evidence_file_record_scan(file=file, status=result.status, detail=result.detail)
    return result.status


@shared_task(name="onboarding.tasks.evidence_file_pars_check", acks_late=True)
def evidence_file_pars_check(file_id: int) -> bool | None:
    """Check a clean file's sample AuditEvents against the PARS rules; returns whether it passed."""
    report = pars_report_record(file_id=file_id)
    return None if report is None else report.passed


@periodic_task(name="onboarding.tasks.evidence_files_rescan_quarantined")
def evidence_files_rescan_quarantined() -> int:
    """Scan again, once each, the files still quarantined past their own scan's retries: those
    recorded as a scanner error, and those waiting longer than any first scan with its retries
    can take (their scan was lost). A file whose first scan is still retrying is left to it."""
    pending = list(
        selectors.evidence_files_awaiting_rescan(waiting_since=timezone.now() - scan_retry_window()).values_list(
            "pk", flat=True
        )
    )
    for file_id in pending:
        evidence_file_scan.delay(file_id, retry=False)
    return len(pending)


@periodic_task(name="onboarding.tasks.evidence_daily_expiry_and_reminders")
def evidence_daily_expiry_and_reminders() -> dict:
    """Expire evidence past its date, then remind its owners of what expired or soon expires."""
    expired = evidence_expire_due()
    queued = reminders_send(expired_link_ids=expired)
    return {"expired": len(expired), "emails": queued}


@periodic_task(name="onboarding.tasks.reviewer_digests_send")
def reviewer_digests_send() -> int:
    """Tell each reviewer what waits in their review queue (weekday mornings)."""
    return reviewer_digests_queue()
