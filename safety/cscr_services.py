"""Writes for CSCR bundles: requesting one (in the request's transaction, enqueued on commit) and
building it (in a worker, keyed on the job row so a redelivered task builds nothing twice).

A build runs the job through queued -> rendering -> signing -> complete. A worker that dies
mid-build leaves the row in `rendering` or `signing`; the broker redelivers the task (acks_late,
reject_on_worker_lost), and the next attempt builds the same file name again and replaces whatever
the dead one left. After CSCR_MAX_ATTEMPTS attempts the job is failed with the reason.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from nir_portal.accounts import reauth
from nir_portal.audit.checkpoints import AUDIT_CHECKPOINT_TAKE
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.mail import messages as mail
from nir_portal.task_registry import registered_task
from onboarding.models import Deployment
from safety.cscr import bundle, document, signing
from safety.cscr.permissions import can_request_bundle
from safety.cscr.verification import EVIDENCE_MANIFEST, HAZARD_LOG_CSV, HAZARD_LOG_JSON, PDF, SIGN_OFF
from safety.lifecycle.phases import phase_refusal
from safety.models import CSCRBundleJob, SignOff
from safety.services import sign_off_refresh

logger = logging.getLogger(__name__)

# Registered by safety.tasks under this name; enqueued by name so that the two modules do not import
# each other.
CSCR_BUNDLE_BUILD = "safety.tasks.cscr_bundle_build"

# pg_try_advisory_lock(BUILD_LOCK_CLASS, job id): one build of a job at a time, across workers. A
# session lock, so a worker that dies releases it with its connection.
BUILD_LOCK_CLASS = 0x43534352 & 0x7FFFFFFF  # "CSCR"


def _refused(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


# --- requesting ---------------------------------------------------------------------------------------


def bundle_request(
    *,
    actor,
    deployment: Deployment,
    lifecycle_phase: str = CSCRBundleJob.Phase.DEPLOYMENT,
    include_evidence: bool = False,
    mfa_verified_at: float | None,
) -> tuple[CSCRBundleJob, bool]:
    """Ask for the CSCR bundle of the deployment's current sign-off. Returns the job and whether it
    is new: a bundle of the same sign-off and phase already queued, building or issued is returned
    as it is. Issuing the safety case binds the person who asks for it, so it needs a fresh
    authenticator check: `mfa_verified_at` is when they last completed one (epoch seconds)."""
    # The refusal is audited outside the request's transaction, which would roll it back.
    if not can_request_bundle(actor, deployment):
        audit_event_record(action="cscr.request", actor=actor, target=deployment, outcome=AuditEvent.Outcome.DENIED)
        raise PermissionDenied(
            "Only the deploying organisation's CSO, deployment lead or executive approver can produce its CSCR bundle."
        )
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="issue the safety case report")
    return _bundle_request_record(
        actor=actor, deployment=deployment, lifecycle_phase=lifecycle_phase, include_evidence=include_evidence
    )


@transaction.atomic
def _bundle_request_record(
    *, actor, deployment: Deployment, lifecycle_phase: str, include_evidence: bool
) -> tuple[CSCRBundleJob, bool]:
    if lifecycle_phase not in CSCRBundleJob.Phase.values:
        raise _refused("Choose the lifecycle phase the report is for.", "invalid_phase")
    # Row lock on the deployment: requests for one deployment queue here, so versions never clash,
    # and a change to the hazard log cannot slip between the check below and the job row.
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    sign_off_refresh(deployment=deployment)
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None:
        latest = SignOff.objects.filter(deployment=deployment).first()
        if latest is None:
            raise _refused(
                "The hazard log has not been signed off by the CSO, so there is no safety case to produce yet.",
                "no_sign_off",
            )
        superseded = timezone.localtime(latest.superseded_at) if latest.superseded_at else None
        raise _refused(
            f"The CSO's sign-off of {timezone.localtime(latest.signed_at):%d %B %Y} was superseded"
            + (f" on {superseded:%d %B %Y at %H:%M}" if superseded else "")
            + " because the hazard log changed. The CSO must sign off the hazard log again before a CSCR can be "
            "produced.",
            "sign_off_superseded",
        )
    if current.needs_re_review:
        raise _refused(
            "A safety incident flagged the current sign-off for re-review by the CSO: the CSO must "
            "review the hazard log before a CSCR can be produced.",
            "re_review",
        )
    phase_refusal(deployment=deployment, sign_off=current, phase=lifecycle_phase)
    existing = (
        CSCRBundleJob.objects.filter(sign_off=current, lifecycle_phase=lifecycle_phase)
        .exclude(status=CSCRBundleJob.Status.FAILED)
        .first()
    )
    if existing is not None:
        return existing, False
    version = (CSCRBundleJob.objects.filter(deployment=deployment).aggregate(v=Max("version"))["v"] or 0) + 1
    job = CSCRBundleJob(
        deployment=deployment,
        sign_off=current,
        requested_by=actor,
        lifecycle_phase=lifecycle_phase,
        version=version,
        include_evidence=include_evidence,
    )
    job.full_clean()
    job.save()
    audit_event_record(
        action="cscr.request",
        actor=actor,
        organisation=deployment.organisation,
        target=job,
        changes={
            "version": version,
            "lifecycle_phase": lifecycle_phase,
            "snapshot_sha256": current.snapshot_sha256,
            "include_evidence": include_evidence,
        },
    )
    transaction.on_commit(lambda: bundle_enqueue(job_id=job.pk))
    return job, True


def bundle_enqueue(*, job_id: int) -> None:
    options = {"queue": settings.CSCR_QUEUE} if settings.CSCR_QUEUE else {}
    try:
        registered_task(CSCR_BUNDLE_BUILD).apply_async(args=[job_id], **options)
    except Exception:
        logger.exception("CSCR bundle job %s could not be enqueued; it stays queued.", job_id)


# --- building -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOutcome:
    job_id: int
    status: str
    built: bool = False  # this call wrote the bundle
    retry: bool = False  # a transient failure: run the task again
    pages: int = 0


def bundle_storage_name(job: CSCRBundleJob) -> str:
    return f"{job.deployment_id}/cscr-{job.deployment.organisation.ods_code}-v{job.version}-job{job.pk}.zip"


def bundle_download_name(job: CSCRBundleJob) -> str:
    return f"cscr-{job.deployment.organisation.ods_code}-{job.deployment_id}-v{job.version}.zip"


class _BuildLock:
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.acquired = False

    def __enter__(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [BUILD_LOCK_CLASS, self.job_id])
            self.acquired = bool(cursor.fetchone()[0])
        return self.acquired

    def __exit__(self, *exc: object) -> None:
        if self.acquired and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BUILD_LOCK_CLASS, self.job_id])


def _fail(job: CSCRBundleJob, reason: str) -> BuildOutcome:
    with transaction.atomic():
        CSCRBundleJob.objects.filter(pk=job.pk).exclude(status=CSCRBundleJob.Status.COMPLETE).update(
            status=CSCRBundleJob.Status.FAILED, failure_reason=reason, updated_at=timezone.now()
        )
        audit_event_record(
            action="cscr.fail",
            organisation=job.deployment.organisation,
            target=job,
            outcome=AuditEvent.Outcome.FAILURE,
            changes={"reason": reason[:500], "attempts": job.attempts},
        )
        mail.cscr_bundle_failed(job=job)
    logger.warning("CSCR bundle job %s failed: %s", job.pk, reason)
    return BuildOutcome(job.pk, CSCRBundleJob.Status.FAILED)


def _attempt_start(job_id: int) -> CSCRBundleJob | BuildOutcome:
    """Claim the next attempt, in a transaction of its own so its state is visible while it runs."""
    with transaction.atomic():
        job = (
            CSCRBundleJob.objects.select_for_update(of=("self",))
            .select_related("deployment__organisation", "sign_off", "requested_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.is_finished:
            return BuildOutcome(job_id, job.status if job else "missing")
        if job.attempts >= settings.CSCR_MAX_ATTEMPTS:
            stage = job.get_status_display().lower()
            return _fail(
                job,
                f"The bundle could not be built in {job.attempts} attempts: each stopped before it "
                f"finished (the last while {stage}). Request it again; if it fails again, tell the "
                "portal's support team.",
            )
        if job.sign_off.status != SignOff.Status.CURRENT:
            return _fail(
                job,
                "The sign-off was superseded before the bundle was built: the hazard log changed. "
                "The CSO must sign it off again, and then the CSCR can be produced.",
            )
        job.attempts += 1
        job.status = CSCRBundleJob.Status.RENDERING
        job.started_at = job.started_at or timezone.now()
        if job.previous_id is None:
            job.previous = (
                CSCRBundleJob.objects.filter(
                    deployment_id=job.deployment_id, version__lt=job.version, status=CSCRBundleJob.Status.COMPLETE
                )
                .select_related("sign_off")
                .order_by("-version")
                .first()
            )
        job.save(update_fields=["attempts", "status", "started_at", "previous", "updated_at"])
    return job


def bundle_build(*, job_id: int) -> BuildOutcome:
    """Build and store the job's bundle. Safe to call again for the same job at any point."""
    with _BuildLock(job_id) as acquired:
        if not acquired:
            # Another worker holds this job right now; it will finish it or, dying, have it redelivered.
            return BuildOutcome(job_id, "building elsewhere")
        claimed = _attempt_start(job_id)
        if isinstance(claimed, BuildOutcome):
            return claimed
        job = claimed
        try:
            return _build(job)
        except signing.SigningNotConfigured as error:
            return _fail(job, str(error))
        except bundle.EvidenceChanged as error:
            return _fail(job, str(error))
        except Exception as error:
            logger.exception("CSCR bundle job %s: attempt %s failed", job.pk, job.attempts)
            reason = f"Attempt {job.attempts} failed: {type(error).__name__}: {error}"[:1000]
            if job.attempts >= settings.CSCR_MAX_ATTEMPTS:
                return _fail(job, f"The bundle could not be built in {job.attempts} attempts. {reason}")
            CSCRBundleJob.objects.filter(
                pk=job.pk, status__in=[CSCRBundleJob.Status.RENDERING, CSCRBundleJob.Status.SIGNING]
            ).update(status=CSCRBundleJob.Status.QUEUED, failure_reason=reason, updated_at=timezone.now())
            return BuildOutcome(job.pk, CSCRBundleJob.Status.QUEUED, retry=True)


def _build(job: CSCRBundleJob) -> BuildOutcome:
    credentials = signing.signing_credentials()  # first: a production run without a key stops here
    issued_at = timezone.now()
    name = bundle_storage_name(job)
    bundle.stale_parts_remove(name, job.pk)

    index = document.evidence_index(job.sign_off)
    plan = bundle.evidence_plan(index, include=job.include_evidence, max_bytes=settings.CSCR_INCLUDE_EVIDENCE_MAX_BYTES)
    context = document.cscr_context(
        job,
        issued_at=issued_at,
        signer_subject=credentials.subject,
        signer_fingerprint=credentials.fingerprint,
        evidence=index,
    )
    rendered = document.html_to_pdf(document.render_html(context))

    CSCRBundleJob.objects.filter(pk=job.pk).update(status=CSCRBundleJob.Status.SIGNING, updated_at=timezone.now())
    tsa = signing.timestamper()
    organisation = job.deployment.organisation
    signed_pdf = signing.pdf_sign(
        rendered.pdf,
        credentials,
        tsa=tsa,
        location=f"{organisation.name} ({organisation.ods_code})",
        reason=f"DCB0160 Clinical Safety Case Report v{job.version}, "
        f"hazard log snapshot {job.sign_off.snapshot_sha256}",
    )
    snapshot, digest = job.sign_off.snapshot, job.sign_off.snapshot_sha256
    members = [
        (PDF, signed_pdf),
        (HAZARD_LOG_CSV, bundle.hazard_log_csv(context["hazards"])),
        (HAZARD_LOG_JSON, bundle.hazard_log_json(snapshot, digest)),
        (EVIDENCE_MANIFEST, bundle.evidence_manifest_json(index, digest)),
        (SIGN_OFF, bundle.sign_off_json(job.sign_off, status_at_issue=job.sign_off.status)),
    ]
    written = bundle.bundle_write(
        name=name,
        job_id=job.pk,
        members=members,
        evidence=plan,
        credentials=credentials,
        tsa=tsa,
        manifest=lambda files: bundle.manifest_document(
            files=files,
            generated_at=issued_at,
            job=job,
            snapshot=snapshot,
            snapshot_sha256=digest,
            credentials=credentials,
            timestamped=tsa is not None,
        ),
    )
    _complete(
        job,
        written=written,
        pages=rendered.pages,
        credentials=credentials,
        timestamped=tsa is not None,
        included=len(plan.included),
        issued_at=issued_at,
    )
    return BuildOutcome(job.pk, CSCRBundleJob.Status.COMPLETE, built=True, pages=rendered.pages)


@transaction.atomic
def _complete(
    job: CSCRBundleJob,
    *,
    written: bundle.WrittenBundle,
    pages: int,
    credentials: signing.SigningCredentials,
    timestamped: bool,
    included: int,
    issued_at: datetime,
) -> None:
    locked = CSCRBundleJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
    locked.status = CSCRBundleJob.Status.COMPLETE
    locked.storage_name = written.storage_name
    locked.bundle_sha256, locked.bundle_size = written.sha256, written.size
    # Hashed as it was written into the ZIP: the manifest lists the same digest.
    locked.pdf_sha256 = next(f["sha256"] for f in written.files if f["name"] == PDF)
    locked.page_count = pages
    locked.signer_subject, locked.signer_fingerprint = credentials.subject[:500], credentials.fingerprint
    locked.timestamped, locked.evidence_files_included = timestamped, included
    locked.failure_reason = ""
    locked.completed_at = issued_at
    locked.save()
    # The chain is checkpointed at every signing: the bundle's own signature time anchors it.
    transaction.on_commit(lambda: registered_task(AUDIT_CHECKPOINT_TAKE).delay(reason="cscr.issue", cscr_job=locked.pk))
    audit_event_record(
        action="cscr.issue",
        organisation=job.deployment.organisation,
        target=locked,
        changes={
            "version": locked.version,
            "bundle_sha256": written.sha256,
            "pages": pages,
            "snapshot_sha256": job.sign_off.snapshot_sha256,
            "attempts": locked.attempts,
            "signer_fingerprint": credentials.fingerprint,
        },
    )
    mail.cscr_bundle_ready(job=locked)
