"""Writes for the dashboards: the weekly snapshot of deployments by stage that the go-live trend
is drawn from."""

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from nir_portal.audit.services import audit_event_record
from onboarding.models import Deployment, DeploymentStageChange, WeeklySnapshot

GO_LIVE_STAGES = (Deployment.Stage.GO_LIVE_AUTHORISED, Deployment.Stage.LIVE)


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _end_of_week(week_start: date) -> datetime:
    return timezone.make_aware(datetime.combine(week_start + timedelta(days=7), time.min))


def stage_counts_at(moment: datetime) -> tuple[dict[str, int], int]:
    """Deployments at each stage at `moment`, from their stage history, and how many had reached
    go-live (authorised or live) by then. Two queries."""
    last_stage = (
        DeploymentStageChange.objects.filter(deployment=OuterRef("pk"), changed_at__lt=moment)
        .order_by("-changed_at", "-id")
        .values("to_stage")[:1]
    )
    rows = (
        Deployment.objects.annotate(stage_then=Subquery(last_stage))
        .filter(stage_then__isnull=False)
        .order_by()
        .values_list("stage_then", flat=True)
    )
    counts: dict[str, int] = {}
    for stage in rows:
        counts[stage] = counts.get(stage, 0) + 1
    reached = (
        DeploymentStageChange.objects.filter(changed_at__lt=moment, to_stage__in=GO_LIVE_STAGES)
        .values("deployment")
        .distinct()
        .count()
    )
    return counts, reached


@transaction.atomic
def weekly_snapshot_record(*, week_start: date | None = None) -> WeeklySnapshot:
    """Record (or re-record) the snapshot of a week: the state at the end of the week, or now when
    the week is not over. By default the week that ended last. Safe to run again."""
    now = timezone.now()
    week_start = week_start or week_start_of(timezone.localdate(now)) - timedelta(days=7)
    moment = min(_end_of_week(week_start), now)
    counts, reached = stage_counts_at(moment)
    snapshot, created = WeeklySnapshot.objects.update_or_create(
        week_start=week_start, defaults={"counts_by_stage": counts, "go_live_count": reached}
    )
    audit_event_record(
        action="dashboard.weekly_snapshot",
        target=snapshot,
        changes={"week_start": week_start, "go_live_count": reached, "created": created},
    )
    return snapshot
