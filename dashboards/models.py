"""The dashboards' own rows: each deployment's measures, precomputed at write time."""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from onboarding.models import Deployment

# --- a deployment's share of the dashboards' totals, packed into one number ---------------------
#
# The totals of any set of deployments (the summary table, the funnel's neighbours, the heatmap)
# are sums of per-deployment counts. Each summary row keeps its counts as the base-PACK_BASE digits
# of one unbounded integer (`totals_vector`, a PostgreSQL numeric), so that the totals of a view are
# one exact `sum()` over its rows, decoded here, rather than dozens of aggregates per row: one digit
# per slot below, then HEAT_PARTS per onboarding area, in the order of the row's `area_layout`.
# A digit never carries into the next while a slot's total stays below PACK_BASE (a billion
# deployments, or open hazards of one rating).
PACK_BASE = 10**9
SIGN_OFF_STATES = ("none", "current", "superseded")
GO_LIVE_STATES = ("authorised", "superseded", "none")
RATING_KEYS = ("r5", "r4", "r3", "r2", "r1", "unrated")  # open hazards by residual rating
TOTALS_SLOTS = (
    *(f"sign_off:{state}" for state in SIGN_OFF_STATES),
    *(f"go_live:{state}" for state in GO_LIVE_STATES),
    *(f"hazards:{key}" for key in RATING_KEYS),
)
# Per area: is none of its mandatory requirements accepted, are all, how many are, how many there are.
HEAT_PARTS = ("not_started", "complete", "accepted", "total")


def totals_unpack(vector: int, layout: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The sums a (summed) `totals_vector` holds: {slot: n} and {area code: {heat part: n}}."""
    digits = []
    while vector:
        vector, digit = divmod(vector, PACK_BASE)
        digits.append(digit)
    codes = layout.split()
    digits += [0] * (len(TOTALS_SLOTS) + len(HEAT_PARTS) * len(codes) - len(digits))
    fixed = dict(zip(TOTALS_SLOTS, digits, strict=False))
    heat = {}
    for index, code in enumerate(codes):
        start = len(TOTALS_SLOTS) + len(HEAT_PARTS) * index
        heat[code] = dict(zip(HEAT_PARTS, digits[start : start + len(HEAT_PARTS)], strict=True))
    return fixed, heat


class PackedCountsField(models.Field):
    """Non-negative counts packed into one integer of any size (PostgreSQL numeric, scale 0)."""

    description = "Counts packed into one unbounded integer"

    def db_type(self, connection) -> str:
        return "numeric"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        return None if value is None else int(value)

    def get_prep_value(self, value):
        return None if value is None else int(value)


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
    # Expiry dates of accepted evidence, and when evidence still waiting for review was submitted,
    # each sorted: how many fall before a moment is a binary search (`width_bucket`), not a scan.
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
    # The codes of the areas with mandatory requirements, sorted and space-separated: the order of
    # the area slots in `totals_vector` (deployments of one framework share it).
    area_layout = models.TextField(default="", blank=True)
    # This deployment's share of the totals (TOTALS_SLOTS, then HEAT_PARTS per area of the layout).
    totals_vector = PackedCountsField(default=0)
    refreshed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["deployment"]

    def __str__(self) -> str:
        return f"Dashboard summary of deployment {self.deployment_id}"
