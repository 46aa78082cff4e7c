"""The dashboards' own rows: each deployment's measures, precomputed at write time."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from onboarding.models import Deployment


class DeploymentSummary(models.Model):
    """One deployment's dashboard measures, kept in step by `dashboards.summary` inside every
    transaction that changes what they count. The measures that move with the clock alone (expiring,
    overdue, DSPT lapsing) are kept as the dates they depend on and counted at read time."""

    deployment = models.OneToOneField(
        Deployment, primary_key=True, on_delete=models.CASCADE, related_name="dashboard_summary"
    )
    sign_off_state = models.CharField(max_length=12, default="none")
    go_live_state = models.CharField(max_length=12, default="none")
    highest_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    open_r5 = models.PositiveIntegerField(default=0)
    open_r4 = models.PositiveIntegerField(default=0)
    open_r3 = models.PositiveIntegerField(default=0)
    open_r2 = models.PositiveIntegerField(default=0)
    open_r1 = models.PositiveIntegerField(default=0)
    open_unrated = models.PositiveIntegerField(default=0)
    # Expiry dates of accepted evidence, and when evidence still waiting for review was submitted.
    accepted_expiries = ArrayField(models.DateField(), default=list, blank=True)
    waiting_since = ArrayField(models.DateTimeField(), default=list, blank=True)
    dspt_open_ended = models.BooleanField(default=False)
    dspt_latest_expiry = models.DateField(null=True, blank=True)
    dspt_earliest_expiry = models.DateField(null=True, blank=True)
    dspt_expired = models.BooleanField(default=False)
    # {area code: [mandatory requirements accepted, mandatory requirements]}
    area_progress = models.JSONField(default=dict, blank=True)
    mandatory_accepted = models.PositiveIntegerField(default=0)
    mandatory_total = models.PositiveIntegerField(default=0)
    # The same progress as three arrays in area-code order, for the heatmap's totals: aggregating
    # array elements by position is far cheaper than expanding every row's JSON.
    area_codes = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    area_accepted = ArrayField(models.IntegerField(), default=list, blank=True)
    area_totals = ArrayField(models.IntegerField(), default=list, blank=True)
    refreshed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["deployment"]

    def __str__(self) -> str:
        return f"Dashboard summary of deployment {self.deployment_id}"
