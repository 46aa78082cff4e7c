"""Recording the malware scan of an evidence file."""

from django.db import transaction
from django.utils import timezone

from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from onboarding.models import (
    EvidenceFile,
)
from onboarding.services.pars import pars_check_enqueue

# A file in one of these states is never scanned again.
FINAL_SCAN_STATES = (
    EvidenceFile.ScanStatus.CLEAN,
    EvidenceFile.ScanStatus.INFECTED,
    EvidenceFile.ScanStatus.OVER_LIMIT,
)


@transaction.atomic
def evidence_file_record_scan(*, file: EvidenceFile, status: str, detail: str = "") -> EvidenceFile:
    file = EvidenceFile.objects.select_for_update().get(pk=file.pk)
    if file.scan_status in FINAL_SCAN_STATES:
        return file  # final: a later redelivery of the same scan changes nothing
    file.scan_status = status
    file.scan_detail = detail[:255]
    file.scanned_at = timezone.now()
    file.save(update_fields=["scan_status", "scan_detail", "scanned_at"])
    audit_event_record(
        action="evidence_file.scan",
        target=file,
        outcome=AuditEvent.Outcome.SUCCESS if status == EvidenceFile.ScanStatus.CLEAN else AuditEvent.Outcome.FAILURE,
        changes={"status": status, "detail": detail[:255], "sha256": file.sha256},
    )
    pars_check_enqueue(file=file)
    return file
