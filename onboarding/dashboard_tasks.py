"""The dashboards' scheduled job: each Monday, the snapshot of the week that has just ended."""

from nir_portal.periodic import periodic_task


@periodic_task(name="onboarding.dashboard_tasks.dashboard_weekly_snapshot")
def dashboard_weekly_snapshot() -> str:
    """Record last week's snapshot of deployments by stage; running it again re-records the same week."""
    from onboarding.dashboard_services import weekly_snapshot_record

    snapshot = weekly_snapshot_record()
    return snapshot.week_start.isoformat()
