"""The dashboards' measures, computed set-based by aggregate SQL over a scope of deployment ids:
per deployment (sign-off, go-live, DSPT, hazards by rating, evidence by status) and per area
(completion). Each table is aggregated once for the whole scope, never per row."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Func,
    IntegerField,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)
from django.utils import timezone

from dashboards.models import DeploymentSummary
from onboarding.models import (
    Deployment,
    EvidenceLink,
)
from onboarding.models.deployments import STAGE_ORDER
from onboarding.selectors import (
    EXPIRING_WITHIN_DAYS,
)

OVERDUE_REVIEW_WORKING_DAYS = 10
DSPT_REQUIREMENT = "GOV-02"
RATINGS = (5, 4, 3, 2, 1)
UNRATED = "unrated"
NO_OPEN_RATED = "none"
TREND_WEEKS = 26
CERTIFICATE_DAYS = 30  # the certificates column's window when the filter does not set one
DASHBOARD_STAGES = [*STAGE_ORDER, Deployment.Stage.SUSPENDED, Deployment.Stage.DECOMMISSIONED]


class SignOffState(TextChoices):
    NONE = "none", "Not signed off"
    CURRENT = "current", "Current"
    SUPERSEDED = "superseded", "Superseded"


class GoLiveState(TextChoices):
    AUTHORISED = "authorised", "Authorised"
    SUPERSEDED = "superseded", "Authorised; sign-off since superseded"
    NONE = "none", "Not authorised"


class DsptState(TextChoices):
    MET = "met", "Standards met"
    LAPSED = "lapsed", "Lapsed"
    NONE = "none", "Not evidenced"


class Band(TextChoices):
    """How far a deployment has got with the mandatory requirements of one onboarding area."""

    NOT_STARTED = "not_started", "None accepted"
    IN_PROGRESS = "in_progress", "Some accepted"
    COMPLETE = "complete", "All accepted"


class EvidenceMeasure(TextChoices):
    EXPIRING = "expiring", "Expiring within 30 days"
    OVERDUE = "overdue", "Reviews overdue"
    DSPT = "dspt", "DSPT (GOV-02) evidence"
    ACCEPTED = "accepted", "Accepted"
    CHANGES_REQUESTED = "changes_requested", "Sent back (changes requested)"
    SUBMITTED = "submitted", "Waiting for review"


# --- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardFilters:
    """The dashboard's filters, search and sort, and the narrowing a drill-down adds to them."""

    region: str = ""
    supplier: int | None = None
    product: int | None = None
    stage: str = ""
    rating: str = ""  # highest open residual rating: "5".."1", or NO_OPEN_RATED
    sign_off: str = ""
    q: str = ""
    sort: str = ""
    # Drill-down narrowing (set by the links behind the numbers).
    deployment: int | None = None
    area: str = ""
    band: str = ""
    dspt: str = ""
    go_live: str = ""
    # Only deployments relying on a certificate expired or expiring within this many days.
    certificates: int | None = None


def overdue_review_cutoff(now: datetime | None = None) -> datetime:
    """Evidence submitted before this moment has waited more than OVERDUE_REVIEW_WORKING_DAYS
    working days (Monday to Friday) for review."""
    moment = timezone.localtime(now or timezone.now())
    remaining = OVERDUE_REVIEW_WORKING_DAYS
    while remaining:
        moment -= timedelta(days=1)
        if moment.weekday() < 5:
            remaining -= 1
    return moment


class SubqueryCount(Subquery):
    """The number of rows of a queryset (filtered on an OuterRef) as a correlated subquery."""

    template = "(SELECT count(*) FROM (%(subquery)s) counted)"
    output_field = IntegerField()


def _count(queryset: QuerySet) -> SubqueryCount:
    return SubqueryCount(queryset.order_by().values("pk"))


def _expiring_links(today: date, **lookups) -> QuerySet[EvidenceLink]:
    return EvidenceLink.objects.filter(
        status=EvidenceLink.Status.ACCEPTED,
        revision__expiry_date__gte=today,
        revision__expiry_date__lte=today + timedelta(days=EXPIRING_WITHIN_DAYS),
        **lookups,
    )


def _overdue_links(now: datetime, **lookups) -> QuerySet[EvidenceLink]:
    return EvidenceLink.objects.filter(
        status=EvidenceLink.Status.SUBMITTED, submitted_at__lt=overdue_review_cutoff(now), **lookups
    )


def _stage_position() -> Case:
    return Case(
        *[When(stage=stage, then=Value(index)) for index, stage in enumerate(DASHBOARD_STAGES)],
        default=Value(len(DASHBOARD_STAGES)),
        output_field=IntegerField(),
    )


def _scope_sql(deployments: QuerySet[Deployment]) -> tuple[str, tuple]:
    """The ids of a queryset of deployments as SQL, for the `scope` of the aggregate queries."""
    return deployments.order_by().values("pk").query.sql_with_params()


def _is_every_deployment(deployments: QuerySet[Deployment]) -> bool:
    """True when the queryset is the whole table (the national view, unfiltered): a read can then
    leave out the scope rather than join every id to itself."""
    return deployments.model is Deployment and not deployments.query.where and not deployments.query.is_sliced


def _narrowing(deployments: QuerySet[Deployment], column: str) -> tuple[str, tuple]:
    """`AND <column> IN (the deployments' ids)`, or nothing for every deployment."""
    if _is_every_deployment(deployments):
        return "", ()
    scope_sql, scope_params = _scope_sql(deployments)
    return f"AND {column} IN ({scope_sql})", tuple(scope_params)


def _ids_scope(ids: list[int]) -> tuple[str, tuple]:
    return "SELECT unnest(%s::bigint[])", ([int(pk) for pk in ids],)


def _tables() -> dict[str, str]:
    return {"deployment": Deployment._meta.db_table, "summary": DeploymentSummary._meta.db_table}


class RawSubquery(Func):
    """A fixed SQL subquery with parameters, usable as the right-hand side of `pk__in`."""

    def __init__(self, sql: str, params: tuple):
        super().__init__(output_field=IntegerField())
        self.sql, self.params = sql, tuple(params)

    def as_sql(self, compiler, connection):
        return f"({self.sql})", self.params


class ArrayPosition(Func):
    """The position of the row's id in a list of ids: sorts rows in an order computed elsewhere."""

    output_field = IntegerField()

    def __init__(self, ids: list[int], expression):
        super().__init__(expression)
        self.ids = [int(pk) for pk in ids]

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"array_position(%s::bigint[], {sql})", (self.ids, *params)


# --- per-deployment measures: one query over the summary rows of any set of deployments ---------

# What moves with the clock, from the dates a summary row (`s`) keeps, in the order of
# `_clock_params`. The arrays are sorted, and `width_bucket(x, sorted array)` is how many of its
# elements are <= x (a binary search): so expiring between today and the window's end is
# "<= end" less "<= yesterday", and submitted before the cutoff is "<= the microsecond before it".
_CLOCK_COLUMNS = """
        CASE WHEN s.dspt_open_ended OR s.dspt_latest_expiry >= %s THEN 'met'
             WHEN s.dspt_expired OR s.dspt_earliest_expiry < %s THEN 'lapsed' ELSE 'none' END AS dspt_state,
        width_bucket(%s::date, s.accepted_expiries) - width_bucket(%s::date, s.accepted_expiries) AS expiring_count,
        width_bucket(%s::timestamptz, s.waiting_since) AS overdue_count"""


def _clock_params(now: datetime) -> list:
    today = timezone.localdate(now)
    return [
        today,
        today,
        today + timedelta(days=EXPIRING_WITHIN_DAYS),
        today - timedelta(days=1),
        overdue_review_cutoff(now) - timedelta(microseconds=1),
    ]


# Each deployment's summary row (`DeploymentSummary`, kept in step at write time by
# `dashboards.summary`) holds what its measures count; only what moves with the clock (expiring,
# overdue, DSPT lapsing) is worked out here, from the dates the row keeps. `m` has one row per
# deployment. Table names come from the models; every value is a parameter.
_MEASURES_SQL = """
WITH scope(id) AS ({scope}),
m AS (
    SELECT d.id AS deployment_id, d.stage, s.sign_off_state, s.go_live_state,
        (d.stage = 'live' AND d.safety_case_out_of_date_since IS NOT NULL) AS case_out_of_date,
        {clock},
        s.highest_rating, s.area_progress,
        {rating_columns}
    FROM {deployment} d
    JOIN {summary} s ON s.deployment_id = d.id
    WHERE d.id IN (SELECT id FROM scope)
)
"""
_RATING_KEYS = [*(f"r{rating}" for rating in RATINGS), UNRATED]


def _measures_sql(scope: tuple[str, tuple], *, now: datetime) -> tuple[str, list]:
    scope_sql, scope_params = scope
    rating_columns = ", ".join(
        [f"s.open_r{rating} AS r{rating}" for rating in RATINGS] + [f"s.open_unrated AS {UNRATED}"]
    )
    sql = _MEASURES_SQL.format(scope=scope_sql, clock=_CLOCK_COLUMNS, rating_columns=rating_columns, **_tables())
    return sql, [*scope_params, *_clock_params(now)]


def _fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class AreaProgress:
    code: str
    accepted: int = 0
    total: int = 0

    @property
    def band(self) -> str:
        if self.accepted == 0:
            return Band.NOT_STARTED
        return Band.IN_PROGRESS if self.accepted < self.total else Band.COMPLETE


@dataclass
class Measures:
    """One deployment's dashboard measures."""

    sign_off_state: str = SignOffState.NONE.value
    go_live_state: str = GoLiveState.NONE.value
    dspt_state: str = DsptState.NONE.value
    expiring_count: int = 0
    overdue_count: int = 0
    highest_rating: int | None = None
    hazards: dict = field(default_factory=dict)  # {rating or UNRATED: open hazards}
    areas: dict = field(default_factory=dict)  # {area code: AreaProgress}


def measures_by_deployment(deployment_ids: list[int], *, now: datetime | None = None) -> dict[int, Measures]:
    """{deployment id: Measures} (with each area's progress) for a page of deployments, in one query."""
    if not deployment_ids:
        return {}
    sql, params = _measures_sql(_ids_scope(deployment_ids), now=now or timezone.now())
    columns = "deployment_id, sign_off_state, go_live_state, dspt_state, expiring_count, overdue_count, "
    columns += "highest_rating, area_progress, " + ", ".join(_RATING_KEYS)
    result = {}
    for row in _fetch(sql + f"SELECT {columns} FROM m", params):  # noqa: S608  fixed columns
        deployment_id, sign_off, go_live, dspt, expiring, overdue, highest, progress, *counts = row
        hazards = {int(key[1:]) if key != UNRATED else UNRATED: n for key, n in zip(_RATING_KEYS, counts, strict=True)}
        progress = json.loads(progress) if isinstance(progress, str) else progress  # jsonb comes back as text
        areas = {code: AreaProgress(code, accepted, total) for code, (accepted, total) in progress.items()}
        result[deployment_id] = Measures(sign_off, go_live, dspt, expiring, overdue, highest, hazards, areas)
    return result


# --- per-area completion: from the summary rows' {area code: [accepted, total]} -----------------

# Mandatory requirements of each deployment's framework, and how many are accepted, per area (the
# onboarding checklist's rule, applied when the summary row is refreshed).
_PROGRESS_SQL = """
WITH scope(id) AS ({scope}),
progress AS (
    SELECT s.deployment_id, a.key AS area_code, (a.value->>0)::int AS accepted, (a.value->>1)::int AS total
    FROM {summary} s CROSS JOIN LATERAL jsonb_each(s.area_progress) AS a(key, value)
    WHERE s.deployment_id IN (SELECT id FROM scope) {area_condition}
)
"""

_BAND_SQL = "CASE WHEN accepted = 0 THEN 'not_started' WHEN accepted < total THEN 'in_progress' ELSE 'complete' END"


def _progress_sql(scope: tuple[str, tuple], *, area: str = "") -> tuple[str, list]:
    scope_sql, scope_params = scope
    sql = _PROGRESS_SQL.format(scope=scope_sql, area_condition="AND a.key = %s" if area else "", **_tables())
    return sql, [*scope_params, *([area] if area else [])]


def area_progress_by_deployment(deployment_ids: list[int]) -> dict[int, dict[str, AreaProgress]]:
    """{deployment id: {area code: mandatory accepted and total}} in one query."""
    if not deployment_ids:
        return {}
    sql, params = _progress_sql(_ids_scope(deployment_ids))
    result: dict[int, dict[str, AreaProgress]] = defaultdict(dict)
    for deployment_id, code, accepted, total in _fetch(
        sql + "SELECT deployment_id, area_code, accepted, total FROM progress",  # noqa: S608  fixed SQL
        params,
    ):
        result[deployment_id][code] = AreaProgress(code=code, accepted=accepted, total=total)
    return result
