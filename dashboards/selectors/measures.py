"""The dashboards' measures, computed set-based by aggregate SQL over a scope of deployment ids:
per deployment (sign-off, go-live, DSPT, hazards by rating, evidence by status) and per area
(completion). Each table is aggregated once for the whole scope, never per row."""

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

from nir_portal.accounts.models import Organisation
from onboarding.models import (
    Area,
    Deployment,
    Evidence,
    EvidenceLink,
    EvidenceRevision,
    Requirement,
)
from onboarding.models.deployments import STAGE_ORDER
from onboarding.selectors import (
    EXPIRING_WITHIN_DAYS,
)
from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff

OVERDUE_REVIEW_WORKING_DAYS = 10
DSPT_REQUIREMENT = "GOV-02"
RATINGS = (5, 4, 3, 2, 1)
UNRATED = "unrated"
NO_OPEN_RATED = "none"
TREND_WEEKS = 26
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


def _ids_scope(ids: list[int]) -> tuple[str, tuple]:
    return "SELECT unnest(%s::bigint[])", ([int(pk) for pk in ids],)


def _tables() -> dict[str, str]:

    models = {
        "deployment": Deployment,
        "requirement": Requirement,
        "area": Area,
        "link": EvidenceLink,
        "evidence": Evidence,
        "revision": EvidenceRevision,
        "organisation": Organisation,
        "hazard": DeploymentHazard,
        "signoff": SignOff,
        "golive": GoLiveAuthorisation,
    }
    return {name: model._meta.db_table for name, model in models.items()}


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


# --- per-deployment measures: one aggregate query over any set of deployments -------------------

# Each CTE aggregates one table once for the whole scope (no per-row subqueries), then `m` joins
# them to one row per deployment. Table names come from the models; every value is a parameter.
_MEASURES_SQL = """
WITH scope(id) AS ({scope}),
so AS (
    SELECT deployment_id, bool_or(status = 'current') AS current
    FROM {signoff} WHERE deployment_id IN (SELECT id FROM scope) GROUP BY deployment_id
),
gl AS (
    SELECT g.deployment_id, bool_or(s.status = 'current') AS current
    FROM {golive} g JOIN {signoff} s ON s.id = g.sign_off_id
    WHERE g.deployment_id IN (SELECT id FROM scope) GROUP BY g.deployment_id
),
ev AS (
    SELECT l.deployment_id,
        count(*) FILTER (WHERE l.status = 'accepted' AND r.expiry_date BETWEEN %s AND %s) AS expiring,
        count(*) FILTER (WHERE l.status = 'submitted' AND l.submitted_at < %s) AS overdue,
        bool_or(e.requirement_codes @> ARRAY[%s]::varchar[] AND l.status = 'accepted'
                AND (r.expiry_date IS NULL OR r.expiry_date >= %s)) AS dspt_met,
        bool_or(e.requirement_codes @> ARRAY[%s]::varchar[]
                AND (l.status = 'expired' OR (l.status = 'accepted' AND r.expiry_date < %s))) AS dspt_lapsed
    FROM {link} l
    JOIN {evidence} e ON e.id = l.evidence_id
    LEFT JOIN {revision} r ON r.id = l.revision_id
    WHERE l.deployment_id IN (SELECT id FROM scope) GROUP BY l.deployment_id
),
hz AS (
    SELECT deployment_id, max(residual_rating) AS highest, {rating_counts}
    FROM {hazard}
    WHERE is_applicable AND status <> 'closed' AND deployment_id IN (SELECT id FROM scope)
    GROUP BY deployment_id
),
m AS (
    SELECT d.id AS deployment_id, d.stage,
        (d.stage = 'live' AND d.safety_case_out_of_date_since IS NOT NULL) AS case_out_of_date,
        CASE WHEN so.current THEN 'current' WHEN so.deployment_id IS NOT NULL THEN 'superseded' ELSE 'none' END
            AS sign_off_state,
        CASE WHEN gl.current THEN 'authorised' WHEN gl.deployment_id IS NOT NULL THEN 'superseded' ELSE 'none' END
            AS go_live_state,
        CASE WHEN ev.dspt_met THEN 'met' WHEN ev.dspt_lapsed THEN 'lapsed' ELSE 'none' END AS dspt_state,
        coalesce(ev.expiring, 0) AS expiring_count,
        coalesce(ev.overdue, 0) AS overdue_count,
        hz.highest AS highest_rating,
        {rating_columns}
    FROM {deployment} d
    LEFT JOIN so ON so.deployment_id = d.id
    LEFT JOIN gl ON gl.deployment_id = d.id
    LEFT JOIN ev ON ev.deployment_id = d.id
    LEFT JOIN hz ON hz.deployment_id = d.id
    WHERE d.id IN (SELECT id FROM scope)
)
"""
_RATING_KEYS = [*(f"r{rating}" for rating in RATINGS), UNRATED]


def _measures_sql(scope: tuple[str, tuple], *, now: datetime) -> tuple[str, list]:
    scope_sql, scope_params = scope
    today = timezone.localdate(now)
    rating_counts = ", ".join(
        [f"count(*) FILTER (WHERE residual_rating = {rating}) AS r{rating}" for rating in RATINGS]
        + [f"count(*) FILTER (WHERE residual_rating IS NULL) AS {UNRATED}"]
    )
    rating_columns = ", ".join(f"coalesce(hz.{key}, 0) AS {key}" for key in _RATING_KEYS)
    sql = _MEASURES_SQL.format(scope=scope_sql, rating_counts=rating_counts, rating_columns=rating_columns, **_tables())
    params = [
        *scope_params,
        today,
        today + timedelta(days=EXPIRING_WITHIN_DAYS),
        overdue_review_cutoff(now),
        DSPT_REQUIREMENT,
        today,
        DSPT_REQUIREMENT,
        today,
    ]
    return sql, params


def _fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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


def measures_by_deployment(deployment_ids: list[int], *, now: datetime | None = None) -> dict[int, Measures]:
    """{deployment id: Measures} for a page of deployments, in one query."""
    if not deployment_ids:
        return {}
    sql, params = _measures_sql(_ids_scope(deployment_ids), now=now or timezone.now())
    columns = "deployment_id, sign_off_state, go_live_state, dspt_state, expiring_count, overdue_count, "
    columns += "highest_rating, " + ", ".join(_RATING_KEYS)
    result = {}
    for row in _fetch(sql + f"SELECT {columns} FROM m", params):  # noqa: S608  fixed columns
        deployment_id, sign_off, go_live, dspt, expiring, overdue, highest, *counts = row
        hazards = {int(key[1:]) if key != UNRATED else UNRATED: n for key, n in zip(_RATING_KEYS, counts, strict=True)}
        result[deployment_id] = Measures(sign_off, go_live, dspt, expiring, overdue, highest, hazards)
    return result


# --- per-area completion: aggregate SQL over EvidenceLink x unnest(requirement_codes) ------------

# Mandatory requirements of each deployment's framework, and whether each is accepted: accepted
# evidence links whose evidence names the requirement's code; a requirement provided by both
# parties needs accepted evidence from the supplier and from the deploying organisation (as
# `selectors.deployment_checklist` counts it).
_PROGRESS_SQL = """
WITH scope(id) AS ({scope}),
req AS (
    SELECT d.id AS deployment_id, a.code AS area_code, r.code, r.provided_by
    FROM {deployment} d
    JOIN {requirement} r ON r.framework_id = d.framework_id AND r.mandatory
    JOIN {area} a ON a.id = r.area_id
    WHERE d.id IN (SELECT id FROM scope) {area_condition}
),
acc AS (
    SELECT l.deployment_id, c.code,
           bool_or(o.kind = 'supplier') AS by_supplier,
           bool_or(o.kind <> 'supplier') AS by_deploying
    FROM {link} l
    JOIN {evidence} e ON e.id = l.evidence_id
    JOIN {organisation} o ON o.id = e.owner_id
    CROSS JOIN LATERAL unnest(e.requirement_codes) AS c(code)
    WHERE l.status = 'accepted' AND l.deployment_id IN (SELECT id FROM scope)
    GROUP BY l.deployment_id, c.code
),
progress AS (
    SELECT req.deployment_id, req.area_code, count(*) AS total,
           count(*) FILTER (
               WHERE acc.code IS NOT NULL
               AND (req.provided_by <> 'both' OR (acc.by_supplier AND acc.by_deploying))
           ) AS accepted
    FROM req LEFT JOIN acc ON acc.deployment_id = req.deployment_id AND acc.code = req.code
    GROUP BY req.deployment_id, req.area_code
)
"""

_BAND_SQL = "CASE WHEN accepted = 0 THEN 'not_started' WHEN accepted < total THEN 'in_progress' ELSE 'complete' END"


def _progress_sql(scope: tuple[str, tuple], *, area: str = "") -> tuple[str, list]:
    scope_sql, scope_params = scope
    sql = _PROGRESS_SQL.format(scope=scope_sql, area_condition="AND a.code = %s" if area else "", **_tables())
    return sql, [*scope_params, *([area] if area else [])]


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
