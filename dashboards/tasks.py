"""The dashboards' scheduled job: each Monday, the snapshot of the week that has just ended."""

from dashboards.services import weekly_snapshot_record
from nir_portal.periodic import periodic_task


# The name predates the dashboards app; the beat schedule and any message already queued use it.
@periodic_task(name="onboarding.dashboard_tasks.dashboard_weekly_snapshot")
def dashboard_weekly_snapshot() -> str:
    """Record last week's snapshot of deployments by stage; running it again re-records the same week."""
    snapshot = weekly_snapshot_record()
    return snapshot.week_start.isoformat()
