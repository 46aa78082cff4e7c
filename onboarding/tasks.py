"""Background jobs. Each loads rows by id and calls a service; each is safe to run twice."""

import logging

from celery import shared_task

from onboarding import scanning
from onboarding.models import EvidenceFile
from onboarding.services.evidence import EVIDENCE_FILE_SCAN, evidence_expire_due, evidence_file_record_scan
from onboarding.services.reminders import reminders_send

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=EVIDENCE_FILE_SCAN, max_retries=5, default_retry_delay=60, acks_late=True)
def evidence_file_scan(self, file_id: int) -> str:
    """Scan one file with ClamAV. Until an explicit clean answer the file stays quarantined."""
    file = EvidenceFile.objects.filter(pk=file_id).first()
    if file is None or file.scan_status in (EvidenceFile.ScanStatus.CLEAN, EvidenceFile.ScanStatus.INFECTED):
        return "skipped"
    result = scanning.scan_storage_file(file.storage_name)
    evidence_file_record_scan(file=file, status=result.status, detail=result.detail)
    if result.status == EvidenceFile.ScanStatus.ERROR:
        logger.warning("Scanner unavailable for evidence file %s: %s", file_id, result.detail)
    return result.status


@shared_task(name="onboarding.tasks.evidence_file_pars_check", acks_late=True)
def evidence_file_pars_check(file_id: int) -> bool | None:
    """Check a clean file's sample AuditEvents against the PARS rules; returns whether it passed."""
    from onboarding.services.pars import pars_report_record

    report = pars_report_record(file_id=file_id)
    return None if report is None else report.passed


@shared_task
def evidence_files_rescan_quarantined() -> int:
    """Retry every file still quarantined (scanner was down), so it is released once clean."""
    pending = list(
        EvidenceFile.objects.filter(
            scan_status__in=[EvidenceFile.ScanStatus.PENDING, EvidenceFile.ScanStatus.ERROR]
        ).values_list("pk", flat=True)
    )
    for file_id in pending:
        evidence_file_scan.delay(file_id)
    return len(pending)


@shared_task
def evidence_daily_expiry_and_reminders() -> dict:
    """Expire evidence past its date, then email owners and reviewers."""
    expired = evidence_expire_due()
    sent = reminders_send(expired_link_ids=expired)
    return {"expired": len(expired), "emails": sent}
