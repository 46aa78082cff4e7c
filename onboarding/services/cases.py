"""A deployment's safety case versions: which one is being worked on, and recording one live."""

from django.utils import timezone

from onboarding.models import CaseVersion, Deployment, DeploymentNotice


def case_version_current(deployment: Deployment) -> CaseVersion | None:
    """The version being prepared if there is one, otherwise the live one, otherwise the latest."""
    cases = {c.status: c for c in CaseVersion.objects.filter(deployment=deployment).exclude(status="retired")}
    return (
        cases.get(CaseVersion.Status.IN_PREPARATION)
        or cases.get(CaseVersion.Status.LIVE)
        or CaseVersion.objects.filter(deployment=deployment).order_by("-number").first()
    )


def case_version_open_first(*, deployment: Deployment, actor) -> CaseVersion:
    return CaseVersion.objects.create(
        deployment=deployment, number=1, product_version=deployment.product_version, started_by=actor
    )


def case_version_mark_live(*, deployment: Deployment) -> CaseVersion | None:
    """Record the case version in preparation as live and retire the one it replaces. Called by
    the service that moved the deployment live, inside its transaction and under its row lock."""
    preparing = (
        CaseVersion.objects.select_for_update()
        .filter(deployment=deployment, status=CaseVersion.Status.IN_PREPARATION)
        .first()
    )
    if preparing is None:
        return None
    now = timezone.now()
    CaseVersion.objects.filter(deployment=deployment, status=CaseVersion.Status.LIVE).update(
        status=CaseVersion.Status.RETIRED, retired_at=now, updated_at=now
    )
    preparing.status, preparing.live_at = CaseVersion.Status.LIVE, now
    preparing.save(update_fields=["status", "live_at", "updated_at"])
    DeploymentNotice.objects.filter(
        deployment=deployment, kind=DeploymentNotice.Kind.VERSION_PUBLISHED, resolved_at__isnull=True
    ).update(resolved_at=now)
    return preparing


def case_version_retire_all(*, deployment: Deployment) -> None:
    now = timezone.now()
    CaseVersion.objects.filter(deployment=deployment).exclude(status=CaseVersion.Status.RETIRED).update(
        status=CaseVersion.Status.RETIRED, retired_at=now, updated_at=now
    )
