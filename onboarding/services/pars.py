"""PARS conformance of uploaded sample AuditEvents: the check after a clean malware scan, what
it means for accepting the evidence, and a reviewer's justified exception."""

import zipfile

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.db import transaction

from nir_portal.accounts import reauth
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.task_registry import registered_task
from onboarding.models import EvidenceFile, EvidenceLink, EvidenceRevision, ParsException, ParsReport
from onboarding.pars.codes import requirement_code
from onboarding.pars.files import documents_from
from onboarding.pars.report import failed_rules, pars_report
from onboarding.permissions import can_review

# Only text and ZIP uploads can hold JSON or NDJSON; a PDF beside them is read by people.
CHECKED_TYPES = ("json", "txt", "zip")
JUSTIFICATION_MIN_CHARS = 20
# The task that checks one clean file (onboarding.tasks), enqueued by name after commit.
EVIDENCE_FILE_PARS_CHECK = "onboarding.tasks.evidence_file_pars_check"


def pars_applies(file: EvidenceFile) -> bool:
    return file.detected_type in CHECKED_TYPES and requirement_code() in file.revision.evidence.requirement_codes


def pars_check_enqueue(*, file: EvidenceFile) -> None:
    """Queue the check of a file just scanned clean, once the scan's transaction commits."""
    if file.scan_status == EvidenceFile.ScanStatus.CLEAN and pars_applies(file):
        file_id = file.pk
        transaction.on_commit(lambda: registered_task(EVIDENCE_FILE_PARS_CHECK).delay(file_id))


@transaction.atomic
def pars_report_record(*, file_id: int) -> ParsReport | None:
    """Check one clean file and keep its report. Runs again harmlessly: a file has one report."""
    file = EvidenceFile.objects.select_for_update().select_related("revision__evidence").get(pk=file_id)
    existing = ParsReport.objects.filter(file=file).first()
    if existing is not None or file.scan_status != EvidenceFile.ScanStatus.CLEAN or not pars_applies(file):
        return existing
    with storages["evidence"].open(file.storage_name, "rb") as stored:
        data = stored.read()
    try:
        report = pars_report(documents_from(file.original_name, data))
    except zipfile.BadZipFile as error:  # a damaged ZIP is a failing report, never a lost check
        report = pars_report([(file.original_name, b"")])
        report["input"][0]["failures"] = [{"source": file.original_name, "path": "$", "message": str(error)[:300]}]
        report["passed"] = False
    saved = ParsReport.objects.create(
        file=file, revision=file.revision, passed=report["passed"], rules_version=report["rules_version"], report=report
    )
    audit_event_record(
        action="pars.check",
        organisation=file.revision.evidence.owner,
        target=file,
        outcome=AuditEvent.Outcome.SUCCESS if report["passed"] else AuditEvent.Outcome.FAILURE,
        changes={"report": saved.pk, "passed": report["passed"], "failed_rules": failed_rules(report)},
    )
    return saved


def pars_acceptance_problem(*, link: EvidenceLink, revision: EvidenceRevision) -> ValidationError | None:
    """Why this revision cannot be accepted for PARS conformance yet, or None."""
    if requirement_code() not in link.evidence.requirement_codes:
        return None
    files = [f for f in revision.files.all() if f.detected_type in CHECKED_TYPES]
    if not files:
        return ValidationError(
            "PARS audit conformance needs sample AuditEvents: a .json or .ndjson file, a .txt of either, "
            "or a ZIP of them.",
            code="pars_no_samples",
        )
    reports = {r.file_id: r for r in ParsReport.objects.filter(file__in=files)}
    if len(reports) < len(files):
        return ValidationError(
            "The PARS conformance check has not finished for every file yet.", code="pars_check_pending"
        )
    if all(r.passed for r in reports.values()):
        return None
    if ParsException.objects.filter(link=link, revision=revision).exists():
        return None
    return ValidationError(
        "The PARS conformance report fails. Accept only after recording a justified exception.",
        code="pars_failed",
    )


@transaction.atomic
def pars_exception_record(
    *, actor, link: EvidenceLink, justification: str, mfa_verified_at: float | None
) -> ParsException:
    """Record a reviewer's reasoned acceptance of a failing PARS report for the link's revision.
    It binds the reviewer to accepting evidence that fails a rule, so it needs a fresh
    authenticator check, as a sign-off does."""
    link = EvidenceLink.objects.select_for_update(of=("self",)).select_related("evidence", "deployment").get(pk=link.pk)
    if not can_review(actor, link):
        raise PermissionDenied("You cannot review this evidence.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="record an exception to a failing PARS check")
    if link.status != EvidenceLink.Status.SUBMITTED or link.revision_id is None:
        raise ValidationError("Only evidence waiting for review can have an exception.", code="not_submitted")
    failing = list(ParsReport.objects.filter(revision_id=link.revision_id, passed=False))
    if not failing:
        raise ValidationError("No failing PARS report needs an exception.", code="pars_nothing_failed")
    if ParsException.objects.filter(link=link, revision_id=link.revision_id).exists():
        raise ValidationError("An exception is already recorded for this revision.", code="pars_exception_exists")
    justification = justification.strip()
    if len(justification) < JUSTIFICATION_MIN_CHARS:
        raise refused(
            "justification",
            f"Say why the failing rules are acceptable, in at least {JUSTIFICATION_MIN_CHARS} characters.",
            "justification_required",
        )
    rules = sorted({tuple(rule) for report in failing for rule in failed_rules(report.report)})
    exception = ParsException(
        link=link, revision_id=link.revision_id, reviewer=actor, justification=justification, failed_rules=rules
    )
    exception.full_clean()
    exception.save()
    audit_event_record(
        action="pars.exception",
        actor=actor,
        organisation=link.deployment.organisation,
        target=link,
        changes={"revision": link.revision_id, "failed_rules": rules, "justification": justification},
    )
    return exception
