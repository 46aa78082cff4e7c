"""Versioned onboarding framework: loading, drafting, editing and publishing."""

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from nir_portal import events
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding import permissions
from onboarding.events import DeploymentEvidenceChanged
from onboarding.models import Area, Deployment, Framework, Requirement

REQUIREMENT_FIELDS = (
    "title",
    "guidance",
    "provided_by",
    "reviewed_by",
    "mandatory",
    "expiry_rule",
    "expiry_months",
    "stage",
    "order",
)


def _check_admin(actor) -> None:
    # actor None is the command line (load_framework), run by whoever operates the service.
    if actor is not None:
        permissions.CURATE_FRAMEWORK.require(actor, None)


def framework_current() -> Framework | None:
    """The newest published framework, which new deployments are assessed against."""
    return Framework.objects.filter(status=Framework.Status.PUBLISHED).order_by("-version").first()


def framework_content(framework: Framework) -> dict[str, Any]:
    """The framework as plain data, in the shape of onboarding/data/framework.json."""
    areas = []
    for area in framework.areas.order_by("order", "code").prefetch_related("requirements"):
        requirements = [
            {"code": r.code, **{f: getattr(r, f) for f in REQUIREMENT_FIELDS}}
            for r in sorted(area.requirements.all(), key=lambda r: (r.order, r.code))
        ]
        areas.append(
            {"code": area.code, "name": area.name, "description": area.description, "requirements": requirements}
        )
    return {"name": framework.name, "areas": areas}


def _content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    areas = []
    for area_order, area in enumerate(data["areas"]):
        requirements = []
        for order, requirement in enumerate(area["requirements"]):
            requirements.append(
                {
                    "code": requirement["code"],
                    "title": requirement["title"],
                    "guidance": requirement["guidance"],
                    "provided_by": requirement["provided_by"],
                    "reviewed_by": requirement["reviewed_by"],
                    "mandatory": bool(requirement.get("mandatory", True)),
                    "expiry_rule": requirement.get("expiry_rule", Requirement.ExpiryRule.NONE),
                    "expiry_months": requirement.get("expiry_months"),
                    "stage": requirement["stage"],
                    "order": order,
                }
            )
        areas.append(
            {
                "code": area["code"],
                "name": area["name"],
                "description": area.get("description", ""),
                "order": area_order,
                "requirements": requirements,
            }
        )
    return {"name": data["name"], "areas": areas}


def _create_from_content(content: dict[str, Any], notes: str) -> Framework:
    next_version = (Framework.objects.aggregate(v=Max("version"))["v"] or 0) + 1
    framework = Framework.objects.create(version=next_version, name=content["name"], notes=notes)
    seen_codes: set[str] = set()
    for area_order, area_data in enumerate(content["areas"]):
        area = Area(
            framework=framework,
            code=area_data["code"],
            name=area_data["name"],
            description=area_data.get("description", ""),
            order=area_order,
        )
        area.full_clean()
        area.save()
        for order, requirement_data in enumerate(area_data["requirements"]):
            if requirement_data["code"] in seen_codes:
                raise ValidationError(f"Requirement code {requirement_data['code']} appears twice.", code="duplicate")
            seen_codes.add(requirement_data["code"])
            fields = {f: requirement_data.get(f) for f in REQUIREMENT_FIELDS}
            fields["order"] = order
            requirement = Requirement(framework=framework, area=area, code=requirement_data["code"], **fields)
            try:
                requirement.full_clean()
            except ValidationError as error:
                raise ValidationError(
                    f"Requirement {requirement_data['code']}: {'; '.join(error.messages)}", code="invalid_requirement"
                ) from error
            requirement.save()
    return framework


@transaction.atomic
def framework_load(*, actor, data: dict[str, Any], publish: bool = False) -> tuple[Framework, bool]:
    """Load a framework from data. Returns (framework, created); loading the same content as the
    newest version again creates nothing."""
    _check_admin(actor)
    try:
        content = _normalised(data)
    except (KeyError, TypeError) as error:
        raise ValidationError(f"The framework file is missing {error}.", code="invalid_file") from error
    latest = Framework.objects.order_by("-version").first()
    if latest is not None and _content_hash(_normalised(framework_content(latest))) == _content_hash(content):
        if publish and latest.status == Framework.Status.DRAFT:
            latest = framework_publish(actor=actor, framework=latest)
        return latest, False
    framework = _create_from_content(content, notes=data.get("notes", ""))
    audit_event_record(
        action="framework.load",
        actor=actor,
        target=framework,
        changes={"version": framework.version, "requirements": framework.requirements.count()},
    )
    if publish:
        # framework_publish reloads the row under lock; return that copy, not the stale draft.
        framework = framework_publish(actor=actor, framework=framework)
    return framework, True


@transaction.atomic
def framework_publish(*, actor, framework: Framework) -> Framework:
    _check_admin(actor)
    framework = Framework.objects.select_for_update().get(pk=framework.pk)
    if framework.status != Framework.Status.DRAFT:
        raise ValidationError("Only a draft framework can be published.", code="not_draft")
    if not framework.requirements.exists():
        raise ValidationError("A framework needs at least one requirement.", code="empty")
    framework.status = Framework.Status.PUBLISHED
    framework.published_at = timezone.now()
    framework.save(update_fields=["status", "published_at", "updated_at"])
    audit_event_record(
        action="framework.publish", actor=actor, target=framework, changes={"version": framework.version}
    )
    return framework


@transaction.atomic
def framework_draft_create(*, actor, source: Framework, notes: str = "") -> Framework:
    """Start a new draft version as a copy of an existing one."""
    _check_admin(actor)
    if Framework.objects.filter(status=Framework.Status.DRAFT).exists():
        raise ValidationError("A draft framework already exists; publish or edit it first.", code="draft_exists")
    framework = _create_from_content(_normalised(framework_content(source)), notes=notes)
    audit_event_record(
        action="framework.draft_create",
        actor=actor,
        target=framework,
        changes={"from_version": source.version, "version": framework.version},
    )
    return framework


@transaction.atomic
def requirement_update(*, actor, requirement: Requirement, **fields) -> Requirement:
    _check_admin(actor)
    requirement = Requirement.objects.select_for_update(of=("self",)).select_related("framework").get(pk=requirement.pk)
    if not requirement.framework.is_editable:
        raise ValidationError(
            "Published frameworks cannot be changed; start a new draft version.", code="framework_published"
        )
    changes = {}
    for name, value in fields.items():
        if name not in REQUIREMENT_FIELDS:
            raise ValueError(f"{name} is not an editable requirement field")
        if getattr(requirement, name) != value:
            changes[name] = [getattr(requirement, name), value]
            setattr(requirement, name, value)
    requirement.full_clean()
    requirement.save()
    audit_event_record(action="requirement.update", actor=actor, target=requirement, changes=changes)
    return requirement


@transaction.atomic
def deployment_framework_change(*, actor, deployment: Deployment, framework: Framework) -> Deployment:
    """Move a deployment to another published framework version. Evidence is linked by
    requirement code, so accepted evidence counts again wherever its code persists."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    permissions.MANAGE_DEPLOYMENT.require(actor, deployment)
    if framework.status != Framework.Status.PUBLISHED:
        raise refused("framework", "Choose a published framework version.", "not_published")
    old = deployment.framework
    if old is not None and old.pk == framework.pk:
        raise refused("framework", "The deployment already uses that version.", "same_framework")
    deployment.framework = framework
    deployment.save(update_fields=["framework", "updated_at"])
    events.publish(DeploymentEvidenceChanged(deployment_ids=(deployment.pk,)))
    audit_event_record(
        action="deployment.framework_change",
        actor=actor,
        organisation=deployment.organisation,
        target=deployment,
        changes={"framework": [old.version if old else None, framework.version]},
    )
    return deployment
