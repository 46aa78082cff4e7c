from django.db import models


class WeeklySnapshot(models.Model):
    """Deployments at each stage, and how many had reached go-live, at the end of one week."""

    week_start = models.DateField(unique=True, help_text="The Monday the week starts on.")
    counts_by_stage = models.JSONField(default=dict, help_text='{"<stage>": <number of deployments>, ...}')
    go_live_count = models.PositiveIntegerField(
        default=0, help_text="Deployments that had reached go-live (authorised or live) by the end of the week."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-week_start"]
        constraints = [
            models.CheckConstraint(condition=models.Q(week_start__iso_week_day=1), name="snapshot_week_starts_monday"),
        ]

    def __str__(self) -> str:
        return f"Week of {self.week_start:%d %B %Y}"

    @property
    def deployment_count(self) -> int:
        return sum(self.counts_by_stage.values())
