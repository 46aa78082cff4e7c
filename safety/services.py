"""Writes for clinical safety. Every change to covered content re-checks the current sign-off in
the same transaction, so a sign-off is superseded the moment what it covered changes."""

import json
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Prefetch
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.accounts.models import CSOProfile, Organisation
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from onboarding.models import Deployment, EvidenceLink, EvidenceRevision, ProductVersion
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.models import (
    ClinicalRiskManagementPlan,
    DeploymentHazard,
    GoLiveAuthorisation,
    HazardAction,
    HazardChange,
    HazardControl,
    HazardLibrary,
    IncidentJournalEntry,
    LibraryHazard,
    RiskMatrix,
    SafetyIncident,
    SignOff,
    SupplierHazard,
)
from safety.snapshots import snapshot_build, snapshot_changes, snapshot_sha256

DATA_DIR = Path(__file__).resolve().parent / "data"
BLOCKING_RATING = 4  # 4 and 5 must be reduced before sign-off
JUSTIFY_RATING = 3


HAZARD_FIELDS = (
    "name",
    "description",
    "clinical_impact",
    "causes",
    "existing_controls",
    "is_applicable",
    "applicability_justification",
    "initial_severity",
    "initial_likelihood",
    "residual_severity",
    "residual_likelihood",
    "residual_justification",
    "operating_limits",
    "status",
)


# --- reference data ------------------------------------------------------------------------------


@transaction.atomic
def safety_reference_data_load() -> tuple[RiskMatrix, HazardLibrary]:
    """Load the default risk matrix and the national hazard library. Safe to run again."""
    matrix_data = json.loads((DATA_DIR / "risk_matrix.json").read_text(encoding="utf-8"))
    matrix = RiskMatrix.objects.filter(version=matrix_data["version"]).first()
    if matrix is None:
        matrix = RiskMatrix.objects.create(
            version=matrix_data["version"],
            name=matrix_data["name"],
            severities=matrix_data["severities"],
            likelihoods=matrix_data["likelihoods"],
            ratings=matrix_data["ratings"],
            acceptability=matrix_data["acceptability"],
            is_default=not RiskMatrix.objects.filter(is_default=True).exists(),
        )
    library_data = json.loads((DATA_DIR / "hazard_library.json").read_text(encoding="utf-8"))
    library = HazardLibrary.objects.filter(version=library_data["version"]).first()
    if library is None:
        library = HazardLibrary.objects.create(
            version=library_data["version"], status=HazardLibrary.Status.PUBLISHED, published_at=timezone.now()
        )
        LibraryHazard.objects.bulk_create(
            [
                LibraryHazard(
                    library=library,
                    order=index,
                    **{
                        k: h[k]
                        for k in ("code", "name", "description", "clinical_impact", "causes", "example_controls")
                    },
                )
                for index, h in enumerate(library_data["hazards"])
            ]
        )
    return matrix, library


def rating_for(matrix: RiskMatrix, severity: str, likelihood: str) -> int | None:
    if not severity or not likelihood:
        return None
    try:
        return matrix.rating(severity, likelihood)
    except KeyError:
        raise ValidationError(f"{severity}/{likelihood} is not on {matrix}.", code="not_on_matrix") from None


# --- sign-off supersession --------------------------------------------------------------------


def sign_off_refresh(*, deployment: Deployment, reason: str = "") -> SignOff | None:
    """Supersede the current sign-off if what it covered has changed. Returns it when superseded."""
    current = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None:
        return None
    snapshot = snapshot_build(deployment)
    if snapshot_sha256(snapshot) == current.snapshot_sha256:
        return None
    current.status = SignOff.Status.SUPERSEDED
    current.superseded_at = timezone.now()
    current.superseded_changes = snapshot_changes(current.snapshot, snapshot) or [reason or "Content changed"]
    current.save(update_fields=["status", "superseded_at", "superseded_changes"])
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="sign_off.superseded",
        organisation=deployment.organisation,
        target=current,
        changes={"changes": current.superseded_changes[:50]},
    )
    mail.sign_off_superseded(sign_off=current)
    return current


def sign_offs_refresh_for_evidence(*, evidence_id: int) -> None:
    """A new revision of evidence relied on by a control supersedes the sign-offs that cited it."""
    # Row lock on every deployment relying on the evidence, whether or not it is signed off now: a
    # sign-off being recorded at this moment holds that lock, so it commits first and is superseded
    # here, or waits and builds its snapshot with the new revision.
    deployment_ids = HazardControl.objects.filter(evidence_revisions__evidence_id=evidence_id).values(
        "hazard__deployment_id"
    )
    deployments = Deployment.objects.select_for_update(of=("self",)).filter(pk__in=deployment_ids).order_by("pk")
    for deployment in deployments:
        sign_off_refresh(deployment=deployment, reason="New evidence revision")


# --- hazard log -----------------------------------------------------------------------------------


def _next_number(deployment: Deployment) -> int:
    return (DeploymentHazard.objects.filter(deployment=deployment).aggregate(n=Max("number"))["n"] or 0) + 1


def _copy_supplier_hazard(deployment: Deployment, hazard: SupplierHazard, matrix: RiskMatrix, number: int):
    return DeploymentHazard(
        deployment=deployment,
        number=number,
        source=DeploymentHazard.Source.SUPPLIER,
        supplier_hazard=hazard,
        name=hazard.name,
        description=hazard.description,
        clinical_impact=hazard.clinical_impact,
        causes=hazard.causes,
        existing_controls=hazard.supplier_controls,
        transfer_decision=DeploymentHazard.TransferDecision.PENDING,
        risk_matrix=matrix,
        status=DeploymentHazard.Status.TRANSFERRED,
    )


def hazard_log_create(*, deployment: Deployment) -> int:
    """Start a deployment's hazard log from the national library and the supplier's transferred
    hazards, under the default risk matrix named in its clinical risk management plan."""
    matrix = RiskMatrix.objects.filter(is_default=True).first()
    if matrix is None:
        matrix, _ = safety_reference_data_load()
    ClinicalRiskManagementPlan.objects.get_or_create(deployment=deployment, defaults={"risk_matrix": matrix})
    if DeploymentHazard.objects.filter(deployment=deployment).exists():
        return 0
    library = HazardLibrary.objects.filter(status=HazardLibrary.Status.PUBLISHED).order_by("-version").first()
    hazards = []
    for library_hazard in library.hazards.all() if library else []:
        hazards.append(
            DeploymentHazard(
                deployment=deployment,
                number=len(hazards) + 1,
                source=DeploymentHazard.Source.LIBRARY,
                library_hazard=library_hazard,
                name=library_hazard.name,
                description=library_hazard.description,
                clinical_impact=library_hazard.clinical_impact,
                causes=library_hazard.causes,
                risk_matrix=matrix,
            )
        )
    for supplier_hazard in deployment.product_version.hazards.filter(is_transferred=True).order_by("code"):
        hazards.append(_copy_supplier_hazard(deployment, supplier_hazard, matrix, len(hazards) + 1))
    DeploymentHazard.objects.bulk_create(hazards)
    return len(hazards)


def _lock_hazard(hazard: DeploymentHazard, expected_version: int) -> DeploymentHazard:
    # Row lock on the deployment first, then the hazard: the fixed order every safety write uses.
    Deployment.objects.select_for_update().get(pk=hazard.deployment_id)
    # Only the hazard row: the risk matrix joined in is shared by every deployment's log.
    locked = (
        DeploymentHazard.objects.select_for_update(of=("self",))
        .select_related("deployment", "risk_matrix")
        .get(pk=hazard.pk)
    )
    if locked.version != expected_version:
        raise ValidationError(
            f"{locked.reference} was changed by someone else after you opened it (your copy is version "
            f"{expected_version}, the log now has version {locked.version}). Nothing was saved: reopen the "
            "hazard to see the latest and make your change again.",
            code="stale_edit",
        )
    return locked


def _check_hazard_rules(hazard: DeploymentHazard) -> None:
    errors: dict[str, str] = {}
    if not hazard.is_applicable and not hazard.applicability_justification.strip():
        errors["applicability_justification"] = "Say why this hazard does not apply to the deployment."
    if hazard.residual_rating == JUSTIFY_RATING and not hazard.residual_justification.strip():
        errors["residual_justification"] = (
            "A residual rating of 3 is undesirable: explain why further risk reduction is impractical."
        )
    if bool(hazard.initial_severity) != bool(hazard.initial_likelihood):
        errors["initial_likelihood"] = "Give both the initial severity and likelihood, or neither."
    if bool(hazard.residual_severity) != bool(hazard.residual_likelihood):
        errors["residual_likelihood"] = "Give both the residual severity and likelihood, or neither."
    if (
        hazard.status == DeploymentHazard.Status.CLOSED
        and hazard.pk
        and hazard.actions.filter(completed_at__isnull=True).exists()
    ):
        errors["status"] = "A hazard can be closed only when all its actions are complete."
    if errors:
        raise ValidationError(
            {field: ValidationError(message, code="hazard_rules") for field, message in errors.items()}
        )


def _record_change(hazard: DeploymentHazard, actor, summary: str, changes: dict[str, Any]) -> None:
    HazardChange.objects.create(
        hazard=hazard, changed_by=actor, summary=summary, changes=json.loads(json.dumps(changes, default=str))
    )
    events.publish(SafetyCaseChanged(deployment_id=hazard.deployment_id))


@transaction.atomic
def hazard_update(*, actor, hazard: DeploymentHazard, expected_version: int, **fields) -> DeploymentHazard:
    """Edit a hazard's assessment. Ratings are looked up from the log's risk matrix."""
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    before = {name: getattr(hazard, name) for name in (*HAZARD_FIELDS, "initial_rating", "residual_rating")}
    for name, value in fields.items():
        if name not in HAZARD_FIELDS:
            raise ValueError(f"{name} is not an editable hazard field")
        setattr(hazard, name, value.strip() if isinstance(value, str) else value)
    hazard.initial_rating = rating_for(hazard.risk_matrix, hazard.initial_severity, hazard.initial_likelihood)
    hazard.residual_rating = rating_for(hazard.risk_matrix, hazard.residual_severity, hazard.residual_likelihood)
    _check_hazard_rules(hazard)
    changes = {name: [before[name], getattr(hazard, name)] for name in before if before[name] != getattr(hazard, name)}
    if not changes:
        return hazard
    hazard.version += 1
    hazard.updated_by = actor
    hazard.full_clean()
    hazard.save()
    _record_change(hazard, actor, "Assessment updated", changes)
    audit_event_record(
        action="hazard.update", actor=actor, organisation=hazard.deployment.organisation, target=hazard, changes=changes
    )
    sign_off_refresh(deployment=hazard.deployment)
    return hazard


@transaction.atomic
def hazard_add_local(
    *, actor, deployment: Deployment, name: str, description: str, clinical_impact: str = "", causes: str = ""
) -> DeploymentHazard:
    if not permissions.can_edit_hazard_log(actor, deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    Deployment.objects.select_for_update().get(pk=deployment.pk)
    hazard = DeploymentHazard(
        deployment=deployment,
        number=_next_number(deployment),
        source=DeploymentHazard.Source.LOCAL,
        name=name.strip(),
        description=description.strip(),
        clinical_impact=clinical_impact,
        causes=causes,
        risk_matrix=deployment.risk_plan.risk_matrix,
        updated_by=actor,
    )
    hazard.full_clean()
    hazard.save()
    _record_change(hazard, actor, "Local hazard added", {"name": [None, hazard.name]})
    audit_event_record(action="hazard.add", actor=actor, organisation=deployment.organisation, target=hazard)
    sign_off_refresh(deployment=deployment)
    return hazard


@transaction.atomic
def hazard_transfer_decide(
    *,
    actor,
    hazard: DeploymentHazard,
    decision: str,
    justification: str,
    expected_version: int,
    mfa_verified_at: float | None,
) -> DeploymentHazard:
    """The deploying CSO accepts, adapts or rejects a hazard transferred from the supplier. Each
    answer binds the CSO (a rejection takes the hazard out of the log), so each needs a fresh
    authenticator check: `mfa_verified_at` is when the CSO last completed one (epoch seconds)."""
    if not permissions.can_sign_off(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO decides on transferred hazards.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="decide on a transferred hazard")
    hazard = _lock_hazard(hazard, expected_version)
    if hazard.source != DeploymentHazard.Source.SUPPLIER:
        raise ValidationError(
            "Only hazards transferred by the supplier need a transfer decision.", code="not_transferred"
        )
    choices = {
        DeploymentHazard.TransferDecision.ACCEPTED,
        DeploymentHazard.TransferDecision.ADAPTED,
        DeploymentHazard.TransferDecision.REJECTED,
    }
    if decision not in choices:
        raise refused("decision", "Choose accept, adapt or reject.", "invalid_decision")
    if not justification.strip():
        raise refused("justification", "Give the reason for your decision.", "justification_required")
    changes = {
        "transfer_decision": [hazard.transfer_decision, decision],
        "transfer_justification": [hazard.transfer_justification, justification.strip()],
    }
    hazard.transfer_decision = decision
    hazard.transfer_justification = justification.strip()
    if decision == DeploymentHazard.TransferDecision.REJECTED:
        changes["is_applicable"] = [hazard.is_applicable, False]
        changes["applicability_justification"] = [hazard.applicability_justification, justification.strip()]
        hazard.is_applicable = False
        hazard.applicability_justification = justification.strip()
    hazard.version += 1
    hazard.updated_by = actor
    hazard.save()
    _record_change(hazard, actor, f"Transferred hazard {hazard.get_transfer_decision_display().lower()}", changes)
    audit_event_record(
        action="hazard.transfer_decision",
        actor=actor,
        organisation=hazard.deployment.organisation,
        target=hazard,
        changes=changes,
    )
    sign_off_refresh(deployment=hazard.deployment)
    return hazard


def _check_verifying_evidence(
    deployment: Deployment, revisions: list[EvidenceRevision], *, accepted: set[int] | None = None
) -> None:
    if not revisions:
        raise refused(
            "evidence_revisions",
            "A control cited as verified must link to accepted evidence.",
            "verified_needs_evidence",
        )
    today = timezone.localdate()
    accepted = (
        accepted
        if accepted is not None
        else set(
            EvidenceLink.objects.filter(
                deployment=deployment,
                status=EvidenceLink.Status.ACCEPTED,
                evidence__in=[r.evidence_id for r in revisions],
            ).values_list("evidence_id", flat=True)
        )
    )
    for revision in revisions:
        if revision.evidence_id not in accepted:
            raise refused(
                "evidence_revisions",
                f"'{revision.evidence.title}' is not accepted for this deployment.",
                "evidence_not_accepted",
            )
        if revision.expiry_date and revision.expiry_date < today:
            raise refused(
                "evidence_revisions",
                f"'{revision.evidence.title}' revision {revision.number} expired on {revision.expiry_date:%d %B %Y}.",
                "evidence_expired",
            )


@transaction.atomic
def control_save(
    *,
    actor,
    hazard: DeploymentHazard,
    expected_version: int,
    kind: str,
    description: str,
    owner: Organisation,
    is_verified: bool,
    evidence_revisions: list[EvidenceRevision],
    control: HazardControl | None = None,
) -> HazardControl:
    """Add or change a control. A control cited as verified must link to accepted, unexpired evidence."""
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    deployment = hazard.deployment
    if owner.pk not in (deployment.organisation_id, deployment.product_version.product.supplier_id):
        raise refused("owner", "The owner must be the deploying organisation or the supplier.", "owner_not_party")
    if is_verified:
        _check_verifying_evidence(deployment, evidence_revisions)
    before = None
    if control is None:
        control = HazardControl(hazard=hazard)
    else:
        control = HazardControl.objects.select_for_update().get(pk=control.pk, hazard=hazard)
        before = {
            "kind": control.kind,
            "description": control.description,
            "owner": control.owner_id,
            "verified": control.is_verified,
            "evidence": sorted(control.evidence_revisions.values_list("pk", flat=True)),
        }
    control.kind, control.description, control.owner, control.is_verified = (
        kind,
        description.strip(),
        owner,
        is_verified,
    )
    control.full_clean()
    control.save()
    control.evidence_revisions.set(evidence_revisions)
    after = {
        "kind": kind,
        "description": control.description,
        "owner": owner.pk,
        "verified": is_verified,
        "evidence": sorted(r.pk for r in evidence_revisions),
    }
    changes = {k: [before[k] if before else None, after[k]] for k in after if not before or before[k] != after[k]}
    hazard.version += 1
    hazard.save(update_fields=["version", "updated_at"])
    _record_change(hazard, actor, "Control added" if before is None else "Control changed", changes)
    audit_event_record(
        action="hazard.control_save", actor=actor, organisation=deployment.organisation, target=hazard, changes=changes
    )
    sign_off_refresh(deployment=deployment)
    return control


@transaction.atomic
def action_add(
    *, actor, hazard: DeploymentHazard, expected_version: int, description: str, owner: Organisation, due_on: date
) -> HazardAction:
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    deployment = hazard.deployment
    if owner.pk not in (deployment.organisation_id, deployment.product_version.product.supplier_id):
        raise refused("owner", "The owner must be the deploying organisation or the supplier.", "owner_not_party")
    action = HazardAction(
        hazard=hazard, deployment=deployment, description=description.strip(), owner=owner, due_on=due_on
    )
    action.full_clean()
    action.save()
    if hazard.status == DeploymentHazard.Status.CLOSED:
        hazard.status = DeploymentHazard.Status.OPEN
    hazard.version += 1
    hazard.save(update_fields=["version", "status", "updated_at"])
    _record_change(hazard, actor, "Action added", {"action": [None, action.description], "due_on": [None, due_on]})
    audit_event_record(
        action="hazard.action_add",
        actor=actor,
        organisation=hazard.deployment.organisation,
        target=hazard,
        changes={"action": action.description},
    )
    sign_off_refresh(deployment=hazard.deployment)
    return action


@transaction.atomic
def action_complete(*, actor, action: HazardAction) -> HazardAction:
    if not permissions.can_edit_hazard_log(actor, action.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can complete actions.")
    Deployment.objects.select_for_update().get(pk=action.deployment_id)
    action = HazardAction.objects.select_for_update().get(pk=action.pk)
    if action.completed_at:
        raise ValidationError("This action is already complete.", code="already_complete")
    action.completed_at = timezone.now()
    action.save(update_fields=["completed_at"])
    if action.hazard_id:
        # A form opened before the completion must see the hazard as changed.
        DeploymentHazard.objects.filter(pk=action.hazard_id).update(version=F("version") + 1)
        _record_change(action.hazard, actor, "Action completed", {"action": [action.description, "complete"]})
    audit_event_record(
        action="hazard.action_complete", actor=actor, organisation=action.deployment.organisation, target=action
    )
    sign_off_refresh(deployment=action.deployment)
    return action


# --- supplier DCB0129 hazards ------------------------------------------------------------------------


@transaction.atomic
def supplier_hazard_save(
    *,
    actor,
    product_version: ProductVersion,
    code: str,
    name: str,
    description: str,
    clinical_impact: str,
    causes: str,
    supplier_controls: str,
    is_transferred: bool,
    transfer_note: str = "",
    hazard: SupplierHazard | None = None,
) -> SupplierHazard:
    """The supplier CSO keeps the product version's hazards; transferred ones enter every deployment."""
    if not permissions.can_edit_supplier_hazards(actor, product_version):
        raise PermissionDenied("Only the supplier's CSO can change the product's hazards.")
    hazard = hazard or SupplierHazard(product_version=product_version, created_by=actor)
    was_transferred = hazard.pk is not None and hazard.is_transferred
    for field, value in (
        ("code", code),
        ("name", name),
        ("description", description),
        ("clinical_impact", clinical_impact),
        ("causes", causes),
        ("supplier_controls", supplier_controls),
        ("is_transferred", is_transferred),
        ("transfer_note", transfer_note),
    ):
        setattr(hazard, field, value.strip() if isinstance(value, str) else value)
    hazard.full_clean()
    hazard.save()
    if hazard.is_transferred and not was_transferred:
        for deployment in product_version.deployments.select_for_update().order_by("pk"):
            if not DeploymentHazard.objects.filter(deployment=deployment, supplier_hazard=hazard).exists():
                matrix = deployment.risk_plan.risk_matrix
                _copy_supplier_hazard(deployment, hazard, matrix, _next_number(deployment)).save()
                events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
                sign_off_refresh(deployment=deployment, reason=f"Supplier transferred {hazard.code}")
    audit_event_record(
        action="supplier_hazard.save",
        actor=actor,
        organisation=product_version.product.supplier,
        target=hazard,
        changes={"code": hazard.code, "transferred": hazard.is_transferred},
    )
    return hazard


# --- sign-off and go-live ---------------------------------------------------------------------------


def sign_off_blockers(deployment: Deployment) -> list[str]:
    """Why the hazard log cannot be signed off yet; empty when it can."""
    blockers = []
    for hazard in DeploymentHazard.objects.filter(deployment=deployment, is_applicable=True).order_by("number"):
        if hazard.residual_rating is None:
            blockers.append(f"{hazard.reference} {hazard.name} has no residual risk assessment.")
        elif hazard.residual_rating >= BLOCKING_RATING:
            blockers.append(
                f"{hazard.reference} {hazard.name} has a residual rating of {hazard.residual_rating}: "
                "it must be reduced before sign-off."
            )
        elif hazard.residual_rating == JUSTIFY_RATING and not hazard.residual_justification.strip():
            blockers.append(f"{hazard.reference} has a residual rating of 3 without a justification.")
        if hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING:
            blockers.append(
                f"{hazard.reference} {hazard.name} was transferred by the supplier and needs your decision."
            )
    controls = (
        HazardControl.objects.filter(
            hazard__deployment=deployment, is_verified=True, is_withdrawn=False, hazard__is_applicable=True
        )
        .select_related("hazard")
        .prefetch_related(Prefetch("evidence_revisions", queryset=EvidenceRevision.objects.select_related("evidence")))
    )
    accepted = set(
        EvidenceLink.objects.filter(deployment=deployment, status=EvidenceLink.Status.ACCEPTED).values_list(
            "evidence_id", flat=True
        )
    )
    for control in controls:
        try:
            _check_verifying_evidence(deployment, list(control.evidence_revisions.all()), accepted=accepted)
        except ValidationError as error:
            blockers.append(f"{control.hazard.reference}: {' '.join(error.messages)}")
    return blockers


def sign_off_create(
    *, actor, deployment: Deployment, statement: str, conditions: list[dict], mfa_verified_at: float | None
) -> SignOff:
    """The deploying CSO signs off the hazard log as it stands, bound to its snapshot's hash.
    `mfa_verified_at` is when the CSO last completed MFA in this session (epoch seconds)."""
    # The refusal is audited outside the sign-off's transaction: raising inside it would roll the
    # denial's audit row back. Who may sign depends only on the deployment's organisation.
    if not permissions.can_sign_off(actor, deployment):
        audit_event_record(action="sign_off.create", actor=actor, target=deployment, outcome=AuditEvent.Outcome.DENIED)
        raise PermissionDenied("Only the deploying organisation's CSO can sign off its hazard log.")
    return _sign_off_record(
        actor=actor, deployment=deployment, statement=statement, conditions=conditions, mfa_verified_at=mfa_verified_at
    )


@transaction.atomic
def _sign_off_record(
    *, actor, deployment: Deployment, statement: str, conditions: list[dict], mfa_verified_at: float | None
) -> SignOff:
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="sign off the hazard log")
    profile = CSOProfile.objects.filter(user=actor).first()
    if profile is None:
        raise ValidationError("Record your professional registration before signing off.", code="no_registration")
    if not statement.strip():
        raise refused("statement", "Write your summary safety statement.", "statement_required")
    # Row lock: concurrent sign-offs of one deployment queue here; the first wins, the rest see it.
    # Only the deployment row: locking the organisation too would block every insert referencing the
    # trust (its audit rows among them) and deadlock with a writer holding the audit chain lock.
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment.pk)
    blockers = sign_off_blockers(deployment)
    if blockers:
        raise ValidationError([ValidationError(blocker, code="sign_off_blocked") for blocker in blockers])
    snapshot = snapshot_build(deployment)
    digest = snapshot_sha256(snapshot)
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is not None and current.snapshot_sha256 == digest and not current.needs_re_review:
        signed = timezone.localtime(current.signed_at)
        raise ValidationError(
            f"The hazard log is already signed off, by {current.cso_name} at {signed:%H:%M on %d %B %Y}, "
            "and nothing has changed since.",
            code="already_signed_off",
        )
    if current is not None and sign_off_refresh(deployment=deployment) is None:
        # Unchanged but flagged by an incident: the CSO's new sign-off is the re-review.
        current.status = SignOff.Status.SUPERSEDED
        current.superseded_at = timezone.now()
        current.superseded_changes = ["Re-reviewed by the CSO after a safety incident"]
        current.save(update_fields=["status", "superseded_at", "superseded_changes"])
    for condition in conditions:
        if not condition.get("description", "").strip() or not condition.get("due_on"):
            raise refused("conditions", "Each condition needs a description and a due date.", "condition_incomplete")
    sign_off = SignOff(
        deployment=deployment,
        cso=actor,
        cso_name=actor.full_name or actor.email,
        professional_body=profile.professional_body,
        registration_number=profile.registration_number,
        registration_checked_on=profile.registration_checked_on,
        statement=statement.strip(),
        conditions=json.loads(json.dumps(conditions, default=str)),
        snapshot=snapshot,
        snapshot_sha256=digest,
    )
    try:
        with transaction.atomic():
            sign_off.save()
    except IntegrityError:
        raise ValidationError(
            "Another sign-off of this hazard log was recorded at the same moment.", code="concurrent_sign_off"
        ) from None
    for condition in conditions:
        HazardAction.objects.create(
            deployment=deployment,
            description=condition["description"].strip(),
            owner=deployment.organisation,
            due_on=condition["due_on"],
            sign_off=sign_off,
        )
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="sign_off.create",
        actor=actor,
        organisation=deployment.organisation,
        target=sign_off,
        changes={"snapshot_sha256": digest, "conditions": len(conditions)},
    )
    return sign_off


@transaction.atomic
def go_live_authorise(
    *, actor, deployment: Deployment, statement: str, mfa_verified_at: float | None
) -> GoLiveAuthorisation:
    """Top management authorises go-live, accepting the residual risk of the current sign-off. It
    binds the approver as a sign-off binds the CSO, so it needs a fresh authenticator check:
    `mfa_verified_at` is when the approver last completed one (epoch seconds)."""
    if not permissions.can_authorise_go_live(actor, deployment):
        raise PermissionDenied("Only the organisation's executive approver can authorise go-live.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="authorise go-live")
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    sign_off_refresh(deployment=deployment)
    current = SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    if current is None:
        raise ValidationError("Go-live needs a current sign-off of the hazard log by the CSO.", code="no_sign_off")
    if current.needs_re_review:
        raise ValidationError("A safety incident flagged the sign-off for re-review by the CSO.", code="re_review")
    # The snapshot is unchanged, but evidence it relied on may since have been sent back or expired.
    blockers = sign_off_blockers(deployment)
    if blockers:
        raise ValidationError(
            [
                ValidationError(f"The signed-off log no longer holds: {blocker}", code="sign_off_blocked")
                for blocker in blockers
            ]
        )
    if GoLiveAuthorisation.objects.filter(sign_off=current).exists():
        raise ValidationError("Go-live is already authorised for this sign-off.", code="already_authorised")
    if not statement.strip():
        raise refused("statement", "State that you accept the residual risk.", "statement_required")
    authorisation = GoLiveAuthorisation.objects.create(
        sign_off=current,
        deployment=deployment,
        approver=actor,
        statement=statement.strip(),
        snapshot_sha256=current.snapshot_sha256,
    )
    from_stage = deployment.stage
    deployment.stage = Deployment.Stage.GO_LIVE_AUTHORISED
    deployment.stage_changed_at = timezone.now()
    deployment.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    deployment.stage_changes.create(
        from_stage=from_stage,
        to_stage=deployment.stage,
        changed_by=actor,
        reason="Go-live authorised; residual risk accepted",
    )
    events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
    audit_event_record(
        action="go_live.authorise",
        actor=actor,
        organisation=deployment.organisation,
        target=authorisation,
        changes={"snapshot_sha256": current.snapshot_sha256},
    )
    mail.go_live_authorised(authorisation=authorisation)
    return authorisation


# --- incidents ----------------------------------------------------------------------------------------


@transaction.atomic
def incident_report(
    *,
    actor,
    deployment: Deployment,
    reference: str,
    reported_on: date,
    summary: str,
    clinical_risk_assessment: str = "",
    system_release: str = "",
    hazards: list[DeploymentHazard] | None = None,
) -> SafetyIncident:
    """Record a safety incident. One against a signed-off hazard flags the sign-off for re-review
    and tells the CSO."""
    if not permissions.can_report_incident(actor, deployment):
        raise PermissionDenied("You cannot report incidents for this deployment.")
    hazards = hazards or []
    Deployment.objects.select_for_update().get(pk=deployment.pk)
    if any(h.deployment_id != deployment.pk for h in hazards):
        raise refused("hazards", "Choose hazards from this deployment's log.", "other_deployment")
    incident = SafetyIncident(
        deployment=deployment,
        reference=reference.strip(),
        reporter=actor,
        reported_on=reported_on,
        summary=summary.strip(),
        clinical_risk_assessment=clinical_risk_assessment,
        system_release=system_release,
    )
    incident.full_clean()
    incident.save()
    incident.hazards.set(hazards)
    current = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    signed_numbers = {h["number"] for h in current.snapshot["hazards"]} if current else set()
    flagged = current is not None and any(h.number in signed_numbers for h in hazards)
    if flagged:
        current.needs_re_review = True
        current.save(update_fields=["needs_re_review"])
        mail.incident_reported(incident=incident, hazards=hazards)
    audit_event_record(
        action="incident.report",
        actor=actor,
        organisation=deployment.organisation,
        target=incident,
        changes={"hazards": [h.reference for h in hazards], "sign_off_flagged": flagged},
    )
    return incident


@transaction.atomic
def incident_journal_add(
    *,
    actor,
    incident: SafetyIncident,
    text: str,
    made_safe_on: date | None = None,
    closed_on: date | None = None,
    cause: str = "",
) -> IncidentJournalEntry:
    if not permissions.can_report_incident(actor, incident.deployment):
        raise PermissionDenied("You cannot update incidents for this deployment.")
    incident = SafetyIncident.objects.select_for_update().get(pk=incident.pk)
    if not text.strip():
        raise refused("text", "Describe the action taken.", "empty_entry")
    entry = IncidentJournalEntry.objects.create(incident=incident, author=actor, text=text.strip())
    if made_safe_on:
        incident.made_safe_on = made_safe_on
        incident.status = SafetyIncident.Status.MADE_SAFE
    if closed_on:
        if not (cause or incident.cause).strip():
            raise refused("cause", "Record the cause before closing the incident.", "cause_required")
        incident.closed_on = closed_on
        incident.status = SafetyIncident.Status.CLOSED
    if cause:
        incident.cause = cause.strip()
    incident.save()
    audit_event_record(
        action="incident.journal",
        actor=actor,
        organisation=incident.deployment.organisation,
        target=incident,
        changes={"status": incident.status},
    )
    return entry
