"""Writes for products, versions and deployments."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts.models import Organisation
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding import permissions
from onboarding.events import DeploymentCreated
from onboarding.models import Deployment, DeploymentSite, DeploymentStageChange, Product, ProductVersion
from onboarding.models.deployments import STAGE_ORDER
from onboarding.selectors import deployment_checklist, go_live_blockers
from onboarding.services.cases import case_version_mark_live, case_version_open_first, case_version_retire_all
from onboarding.services.evidence import evidence_links_for_new_deployment
from onboarding.services.framework import framework_current


@transaction.atomic
def product_create(*, actor, supplier: Organisation, name: str, description: str = "") -> Product:
    if not supplier.is_supplier:
        raise refused("supplier", "Products belong to suppliers.", "not_supplier")
    permissions.MANAGE_PRODUCTS.require(actor, supplier)
    product = Product(supplier=supplier, name=name.strip(), description=description)
    product.full_clean()
    product.save()
    audit_event_record(
        action="product.create", actor=actor, organisation=supplier, target=product, changes={"name": product.name}
    )
    return product


@transaction.atomic
def product_version_create(
    *,
    actor,
    product: Product,
    version: str,
    previous_version: ProductVersion | None = None,
    dcb0129_reference: str = "",
    released_on=None,
) -> ProductVersion:
    permissions.MANAGE_PRODUCTS.require(actor, product.supplier)
    if previous_version is not None and previous_version.product_id != product.pk:
        raise refused("previous_version", "The earlier version must be of the same product.", "other_product")
    product_version = ProductVersion(
        product=product,
        version=version.strip(),
        previous_version=previous_version,
        dcb0129_reference=dcb0129_reference,
        released_on=released_on,
    )
    product_version.full_clean()
    product_version.save()
    audit_event_record(
        action="product_version.create",
        actor=actor,
        organisation=product.supplier,
        target=product_version,
        changes={"version": product_version.version},
    )
    return product_version


@transaction.atomic
def deployment_create(
    *,
    actor,
    organisation: Organisation,
    product_version: ProductVersion,
    name: str,
    sites: list[str] | None = None,
    clinical_setting: str = "",
) -> Deployment:
    """Open a deployment for a deploying organisation. Its lead or the national admin may do so."""
    if not organisation.is_deploying:
        raise refused("organisation", "Only trusts and imaging networks deploy NIR.", "not_deploying")
    permissions.OPEN_DEPLOYMENT.require(actor, organisation)
    if product_version.status == ProductVersion.Status.WITHDRAWN:
        raise refused("product_version", "That product version has been withdrawn.", "withdrawn")
    deployment = Deployment(
        organisation=organisation,
        product_version=product_version,
        name=name.strip(),
        clinical_setting=clinical_setting,
        created_by=actor,
        framework=framework_current(),
    )
    deployment.full_clean()
    deployment.save()
    for site_name in sites or []:
        site = DeploymentSite(deployment=deployment, name=site_name.strip())
        site.full_clean()
        site.save()
    DeploymentStageChange.objects.create(
        deployment=deployment, from_stage="", to_stage=deployment.stage, changed_by=actor, reason="Opened"
    )
    case_version_open_first(deployment=deployment, actor=actor)
    shared = evidence_links_for_new_deployment(deployment=deployment)
    # Safety starts the hazard log here, in this transaction: no deployment exists without one.
    reported = events.publish(DeploymentCreated(deployment=deployment))
    audit_event_record(
        action="deployment.create",
        actor=actor,
        organisation=organisation,
        target=deployment,
        changes={
            "product_version": str(product_version),
            "sites": sites or [],
            "shared_evidence": shared,
            **reported,
        },
    )
    return deployment


def _check_stage_complete(actor, deployment: Deployment) -> None:
    """A stage is complete only when every mandatory requirement of that stage is accepted."""
    checklist = deployment_checklist(user=actor, deployment=deployment)
    missing = checklist.unaccepted_mandatory_for_stage(deployment.stage)
    if missing:
        raise refused(
            "to_stage",
            f"{deployment.get_stage_display()} is not complete: "
            f"{len(missing)} mandatory requirement(s) not accepted yet ({', '.join(r.code for r in missing)}).",
            "stage_incomplete",
        )


def _stage_before(deployment: Deployment) -> str:
    """The stage the deployment left to enter its current one."""
    last_entry = (
        DeploymentStageChange.objects.filter(deployment=deployment, to_stage=deployment.stage)
        .order_by("-changed_at", "-id")
        .values_list("from_stage", flat=True)
        .first()
    )
    return last_entry or ""


def deployment_stage_move(*, actor, deployment: Deployment, to_stage: str, reason: str) -> str:
    """Put a deployment at `to_stage` and add the move to its stage history; the stage it left is
    returned for the caller's audit record. The caller holds the deployment's row lock, has checked
    the move, and records its own audit event in the same transaction: this is the one step every
    stage move shares (here, go-live, suspension of a live deployment, decommissioning)."""
    from_stage = deployment.stage
    deployment.stage = to_stage
    deployment.stage_changed_at = timezone.now()
    deployment.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    DeploymentStageChange.objects.create(
        deployment=deployment, from_stage=from_stage, to_stage=to_stage, changed_by=actor, reason=reason
    )
    return from_stage


@transaction.atomic
def deployment_stage_change(*, actor, deployment: Deployment, to_stage: str, reason: str = "") -> Deployment:
    """Move a deployment to another stage. Forward moves go one stage at a time; suspension and
    decommissioning need a reason. Stage-specific preconditions are checked by the apps that own
    them before they call this."""
    # Row lock: two leads moving the same deployment at once must not both record a change.
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    permissions.MANAGE_DEPLOYMENT.require(actor, deployment)
    if to_stage not in Deployment.Stage.values:
        raise refused("to_stage", "Choose a stage.", "invalid_stage")
    if to_stage == deployment.stage:
        raise refused("to_stage", "The deployment is already at that stage.", "same_stage")
    if to_stage == Deployment.Stage.DECOMMISSIONED and deployment.case_versions.filter(live_at__isnull=False).exists():
        raise refused(
            "to_stage",
            "A deployment that has been in use is decommissioned by the executive's authorisation of its "
            "decommissioning plan, after the CSO's sign-off.",
            "needs_authorisation",
        )
    if to_stage in (Deployment.Stage.SUSPENDED, Deployment.Stage.DECOMMISSIONED):
        if not reason.strip():
            raise refused("reason", "Give the reason for suspending or decommissioning.", "reason_required")
    elif deployment.stage in STAGE_ORDER and to_stage in STAGE_ORDER:
        step = STAGE_ORDER.index(to_stage) - STAGE_ORDER.index(deployment.stage)
        if step > 1:
            raise refused("to_stage", "A deployment moves forward one stage at a time.", "skip_stage")
        if to_stage in (Deployment.Stage.GO_LIVE_AUTHORISED, Deployment.Stage.LIVE):
            raise refused(
                "to_stage",
                "Go-live follows the CSO's sign-off and the executive's authorisation.",
                "needs_authorisation",
            )
        if step == 1:
            _check_stage_complete(actor, deployment)
    elif to_stage in STAGE_ORDER:
        # Leaving a suspension (or decommissioning) must not skip stages or bypass go-live
        # authorisation: the deployment returns to where it was, or to an earlier stage.
        resume_stage = _stage_before(deployment)
        if resume_stage not in STAGE_ORDER or STAGE_ORDER.index(to_stage) > STAGE_ORDER.index(resume_stage):
            raise refused(
                "to_stage",
                "The deployment can return only to the stage it was at before, or an earlier one.",
                "past_previous_stage",
            )
    from_stage = deployment_stage_move(actor=actor, deployment=deployment, to_stage=to_stage, reason=reason)
    if to_stage == Deployment.Stage.LIVE:
        case_version_mark_live(deployment=deployment)
    elif to_stage == Deployment.Stage.DECOMMISSIONED:
        case_version_retire_all(deployment=deployment)
    audit_event_record(
        action="deployment.stage_change",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={"stage": [from_stage, to_stage], "reason": reason},
    )
    return deployment


@transaction.atomic
def deployment_enter_go_live_authorised(*, actor, deployment: Deployment, authority: dict) -> Deployment:
    """Move a deployment at the clinical safety sign-off stage into "go-live authorised": the other
    move `deployment_stage_change` refuses. Only the app that owns the go-live authorisation calls
    this, after checking the approver and the sign-off under the row lock it took first, and names
    the authorisation in `authority` (for the audit record). The onboarding checklist is checked
    here, whoever calls: a deployment reaches go-live only through its stages, with every mandatory
    requirement accepted."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    blockers = go_live_blockers(user=actor, deployment=deployment)
    if blockers:
        raise ValidationError([ValidationError(blocker, code="onboarding_incomplete") for blocker in blockers])
    if deployment.stage != Deployment.Stage.SAFETY_SIGN_OFF:
        return deployment  # authorised again before going live, or live: the stage stays
    from_stage = deployment_stage_move(
        actor=actor,
        deployment=deployment,
        to_stage=Deployment.Stage.GO_LIVE_AUTHORISED,
        reason="Go-live authorised; residual risk accepted",
    )
    audit_event_record(
        action="deployment.stage_change",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={"stage": [from_stage, deployment.stage], **authority},
    )
    return deployment


@transaction.atomic
def deployment_mark_live(*, actor, deployment: Deployment, went_live_on: date, authority: dict) -> Deployment:
    """Record that a deployment whose go-live is authorised went live on `went_live_on`: the one
    move into Live that `deployment_stage_change` refuses. Only the app that owns the go-live
    authorisation calls this, after checking it under the row lock it took first, and names that
    authorisation in `authority` (for the audit record); here the stage, the case version, the
    stage history and the audit record change together."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    permissions.MANAGE_DEPLOYMENT.require(actor, deployment)
    if deployment.stage != Deployment.Stage.GO_LIVE_AUTHORISED:
        raise refused(
            "went_live_on",
            f"Only a deployment whose go-live is authorised can be recorded as live; this one is at "
            f"{deployment.get_stage_display().lower()}.",
            "not_authorised_stage",
        )
    reason = f"Went live on {went_live_on:%-d %B %Y}"
    from_stage = deployment_stage_move(
        actor=actor, deployment=deployment, to_stage=Deployment.Stage.LIVE, reason=reason
    )
    case_version_mark_live(deployment=deployment)
    audit_event_record(
        action="deployment.went_live",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={"stage": [from_stage, deployment.stage], "went_live_on": went_live_on.isoformat(), **authority},
    )
    return deployment
