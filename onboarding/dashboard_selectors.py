"""Reads for the dashboards: the national view of every deployment, a trust's and a supplier's view
of their own, the lists behind each number, and the weekly go-live trend.

Every dashboard starts from a scope: the deployments the person may see through
`selectors.deployments_visible_to`, narrowed to what that dashboard covers (all of them for the
national team; the active organisation's own for a trust; its products' for a supplier). The
measures are computed set-based, by aggregate SQL over a scope of deployment ids (each table
aggregated once, joined per deployment): once for the page's rows, once for the totals of the whole
filtered view, never per row. So the number of queries never grows with the number of rows, and
the cost of each grows with the rows it aggregates, not with a subquery run for every row.

Definitions shown on the dashboards:
- Open hazard: an applicable hazard that is not closed (status open or transferred).
- Evidence expiring: accepted for the deployment, its revision expiring within the next 30 days.
- Review overdue: evidence waiting for review (submitted) for more than 10 working days, counting
  Monday to Friday (bank holidays are not taken out).
- DSPT status: from the deployment's evidence for GOV-02 (the DSPT publication): accepted and not
  past its expiry date is "Standards met"; expired (or accepted but past its date) is "Lapsed";
  anything else is "Not evidenced".
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Area, Deployment, EvidenceLink, Product, Requirement, WeeklySnapshot
from onboarding.selectors import (
    EXPIRING_WITHIN_DAYS,
    deployments_visible_to,
    evidence_links_visible_to,
    review_queue_for,
)
from onboarding.services.deployments import STAGE_ORDER

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


def _ids_scope(ids: list[int]) -> tuple[str, tuple]:
    return "SELECT unnest(%s::bigint[])", ([int(pk) for pk in ids],)


def _tables() -> dict[str, str]:
    from onboarding.models import Evidence, EvidenceRevision
    from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff

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


# --- scopes -------------------------------------------------------------------------------------


def _visible(user) -> QuerySet[Deployment]:
    return Deployment.objects.filter(pk__in=deployments_visible_to(user).order_by().values("pk"))


def national_scope(user) -> QuerySet[Deployment] | None:
    """Every deployment, for the national team; None for anyone else (their answer is a 404)."""
    if not account_permissions.is_national(user):
        return None
    return _visible(user)


def _member_of(user, organisation: Organisation | None) -> bool:
    return organisation is not None and bool(account_permissions.roles_in(user, organisation))


def trust_scope(user, organisation: Organisation | None) -> QuerySet[Deployment] | None:
    """A deploying organisation's own deployments, for its members; None otherwise."""
    if not _member_of(user, organisation) or not organisation.is_deploying:
        return None
    return _visible(user).filter(organisation=organisation)


def supplier_scope(user, organisation: Organisation | None) -> QuerySet[Deployment] | None:
    """The deployments of a supplier's products, for its members; None otherwise."""
    if not _member_of(user, organisation) or not organisation.is_supplier:
        return None
    return _visible(user).filter(product_version__product__supplier=organisation)


# --- filtering and sorting ----------------------------------------------------------------------


@dataclass(frozen=True)
class SortColumn:
    key: str
    label: str
    natural: str = "ascending"  # what the column's first order means to a reader (aria-sort)
    orm: tuple = ()  # order expressions, for columns of the deployment itself
    sql: str = ""  # ORDER BY over the measures (`m`), for computed columns


SORT_COLUMNS = {
    column.key: column
    for column in [
        SortColumn("deployment", "Deployment", orm=(F("name").asc(), F("organisation__name").asc())),
        SortColumn("organisation", "Organisation", orm=(F("organisation__name").asc(), F("name").asc())),
        SortColumn("stage", "Stage", orm=(F("stage_position").asc(),)),
        # Longest in stage first: that is who is stuck.
        SortColumn("in_stage", "Time in stage", "descending", orm=(F("stage_changed_at").asc(),)),
        SortColumn("progress", "Mandatory accepted", sql="progress"),
        SortColumn("rating", "Open hazards", "descending", sql="highest_rating DESC NULLS LAST"),
        # Most in need of attention first: none, superseded, current.
        SortColumn(
            "sign_off", "Sign-off", sql="array_position(ARRAY['none', 'superseded', 'current'], sign_off_state)"
        ),
        SortColumn("expiring", "Expiring", "descending", sql="expiring_count DESC"),
        SortColumn("overdue", "Reviews overdue", "descending", sql="overdue_count DESC"),
        SortColumn("dspt", "DSPT", sql="array_position(ARRAY['lapsed', 'none', 'met'], dspt_state)"),
    ]
}
DEFAULT_SORT = "in_stage"


def _reversed(expression):
    flipped = expression.copy()
    flipped.descending = not expression.descending
    return flipped


def _ordered_ids(deployments: QuerySet[Deployment], column: SortColumn, *, now: datetime) -> list[int]:
    """Every deployment's id in the column's order, from one aggregate query."""
    scope = _scope_sql(deployments)
    if column.key == "progress":
        sql, params = _progress_sql(scope)
        sql += (
            "SELECT s.id FROM scope s LEFT JOIN (SELECT deployment_id, "
            "sum(accepted)::float / nullif(sum(total), 0) AS share FROM progress GROUP BY deployment_id) p "
            "ON p.deployment_id = s.id ORDER BY p.share ASC NULLS FIRST, s.id"
        )
    else:
        sql, params = _measures_sql(scope, now=now)
        sql += f"SELECT deployment_id FROM m ORDER BY {column.sql}, deployment_id"  # noqa: S608  fixed SQL
    return [row[0] for row in _fetch(sql, params)]


def _measure_condition(deployments: QuerySet[Deployment], condition: str, values: list, *, now: datetime):
    """Narrow deployments to those whose measures meet an SQL condition over `m`."""
    sql, params = _measures_sql(_scope_sql(deployments), now=now)
    return deployments.filter(
        pk__in=RawSubquery(sql + f"SELECT deployment_id FROM m WHERE {condition}", [*params, *values])  # noqa: S608  fixed conditions
    )


def deployments_in_band(deployments: QuerySet[Deployment], *, area: str, band: str) -> QuerySet[Deployment]:
    """Narrow deployments to those whose `area` is in `band` (none, some or all accepted)."""
    sql, params = _progress_sql(_scope_sql(deployments), area=area)
    sql += f"SELECT deployment_id FROM progress WHERE {_BAND_SQL} = %s"  # noqa: S608  fixed SQL
    return deployments.filter(pk__in=RawSubquery(sql, [*params, band]))


def filter_deployments(
    deployments: QuerySet[Deployment], filters: DashboardFilters, *, now: datetime | None = None
) -> QuerySet[Deployment]:
    """Apply the filters, search and drill-down narrowing. Filters on the deployment's own
    fields come first, so the measures behind the others are computed only for what remains."""
    now = now or timezone.now()
    if filters.region:
        deployments = deployments.filter(organisation__region=filters.region)
    if filters.supplier:
        deployments = deployments.filter(product_version__product__supplier_id=filters.supplier)
    if filters.product:
        deployments = deployments.filter(product_version__product_id=filters.product)
    if filters.stage:
        deployments = deployments.filter(stage=filters.stage)
    if filters.deployment:
        deployments = deployments.filter(pk=filters.deployment)
    if filters.certificates is not None:
        from certificates.selectors import deployments_with_certificates_expiring

        deployments = deployments.filter(
            deployments_with_certificates_expiring(within_days=filters.certificates, now=now)
        )
    if filters.q:
        q = filters.q.strip()
        deployments = deployments.filter(
            Q(name__icontains=q) | Q(organisation__name__icontains=q) | Q(organisation__ods_code__iexact=q)
        )
    conditions, values = [], []
    if filters.rating == NO_OPEN_RATED:
        conditions.append("highest_rating IS NULL")
    elif filters.rating:
        conditions.append("highest_rating = %s")
        values.append(int(filters.rating))
    for name in ("sign_off", "go_live", "dspt"):
        if getattr(filters, name):
            conditions.append(f"{name}_state = %s")
            values.append(getattr(filters, name))
    if conditions:
        deployments = _measure_condition(deployments, " AND ".join(conditions), values, now=now)
    if filters.area and filters.band:
        deployments = deployments_in_band(deployments, area=filters.area, band=filters.band)
    return deployments


def dashboard_deployments(
    *, scope: QuerySet[Deployment], filters: DashboardFilters, now: datetime | None = None
) -> QuerySet[Deployment]:
    """The scope's deployments, filtered and sorted as asked (sorting by a measure costs one
    aggregate query for the order)."""
    now = now or timezone.now()
    deployments = filter_deployments(scope, filters, now=now).select_related(
        "organisation", "product_version__product__supplier"
    )
    key, descending = filters.sort.lstrip("-"), filters.sort.startswith("-")
    column = SORT_COLUMNS.get(key) or SORT_COLUMNS[DEFAULT_SORT]
    if column.sql:
        ids = _ordered_ids(deployments, column, now=now)
        order = ArrayPosition(list(reversed(ids)) if descending and key == column.key else ids, F("pk"))
        return deployments.order_by(order.asc(), "pk")
    expressions = list(column.orm)
    if descending and key == column.key:
        expressions = [_reversed(e) for e in expressions]
    return deployments.annotate(stage_position=_stage_position()).order_by(*expressions, "pk")


def attach_row_measures(
    deployments: list[Deployment],
    *,
    areas: list[tuple[str, str]] = (),
    now: datetime | None = None,
    certificate_days: int = CERTIFICATE_DAYS,
) -> None:
    """Add every measure and each area's progress to a page of deployments: three queries."""
    from certificates.selectors import certificates_expiring_by_deployment

    now = now or timezone.now()
    today = timezone.localdate(now)
    ids = [d.pk for d in deployments]
    measures = measures_by_deployment(ids, now=now)
    progress = area_progress_by_deployment(ids)
    certificates = certificates_expiring_by_deployment(deployments, within_days=certificate_days, now=now)
    for deployment in deployments:
        deployment.certificates_expiring = certificates.get(deployment.pk, 0)
        found = measures.get(deployment.pk, Measures())
        deployment.sign_off_state = found.sign_off_state
        deployment.go_live_state = found.go_live_state
        deployment.dspt_state = found.dspt_state
        deployment.expiring_count = found.expiring_count
        deployment.overdue_count = found.overdue_count
        deployment.highest_rating = found.highest_rating
        deployment.hazards_by_rating = [(r, n) for r, n in found.hazards.items() if n]
        deployment.open_hazards = sum(found.hazards.values())
        deployment.area_progress = progress.get(deployment.pk, {})
        deployment.detail_url = deployment.get_absolute_url()
        deployment.checklist_url = reverse("onboarding:deployment-checklist", kwargs={"pk": deployment.pk})
        deployment.area_cells = [
            (code, name, deployment.area_progress.get(code), f"{deployment.checklist_url}#area-{code}")
            for code, name in areas
        ]
        deployment.mandatory_accepted = sum(a.accepted for a in deployment.area_progress.values())
        deployment.mandatory_total = sum(a.total for a in deployment.area_progress.values())
        deployment.days_in_stage = (today - timezone.localdate(deployment.stage_changed_at)).days


# --- what the whole filtered view adds up to ----------------------------------------------------


@dataclass
class HeatmapArea:
    code: str
    name: str
    cells: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    total: int = 0

    @property
    def deployments(self) -> int:
        return sum(self.cells.values())

    def count(self, band: str) -> int:
        return self.cells.get(band, 0)


@dataclass
class Summary:
    total: int
    sign_off: dict[str, int]
    go_live: dict[str, int]
    dspt: dict[str, int]
    expiring: int
    overdue: int
    hazards_by_rating: list[tuple]  # [(rating or UNRATED, count)]
    stages: list[tuple[str, str, int]]  # [(stage, label, count)]
    heatmap: list[HeatmapArea]

    @property
    def open_hazards(self) -> int:
        return sum(n for _, n in self.hazards_by_rating)


def areas_for(deployments: QuerySet[Deployment]) -> list[tuple[str, str]]:
    """[(code, name)] of the onboarding areas the deployments' frameworks have, in the newest
    framework's order (area codes are stable across framework versions)."""
    areas = (
        Area.objects.filter(framework__in=deployments.order_by().values("framework").distinct())
        .order_by("-framework__version", "order", "code")
        .values_list("code", "name")
    )
    seen: dict[str, str] = {}
    for code, name in areas:
        seen.setdefault(code, name)
    return list(seen.items())


def heatmap(deployments: QuerySet[Deployment], areas: list[tuple[str, str]]) -> list[HeatmapArea]:
    """For each area, how many of the deployments have accepted none, some or all of its
    mandatory requirements: one aggregate query."""
    sql, params = _progress_sql(_scope_sql(deployments))
    sql += f"SELECT area_code, {_BAND_SQL} AS band, count(*), sum(accepted), sum(total) FROM progress GROUP BY 1, 2"  # noqa: S608  fixed SQL
    by_code = {code: HeatmapArea(code=code, name=name) for code, name in areas}
    for code, band, count, accepted, total in _fetch(sql, params):
        area = by_code.setdefault(code, HeatmapArea(code=code, name=code))
        area.cells[band] = count
        area.accepted += accepted
        area.total += total
    return list(by_code.values())


def dashboard_summary(
    deployments: QuerySet[Deployment], *, areas: list[tuple[str, str]], now: datetime | None = None
) -> Summary:
    """Totals over the whole filtered view, for the summary, the charts and their tables: two
    aggregate queries (the measures, and the heatmap's per-area progress)."""
    sql, params = _measures_sql(_scope_sql(deployments), now=now or timezone.now())
    columns = {"total": "count(*)", "expiring": "sum(expiring_count)", "overdue": "sum(overdue_count)"}
    for prefix, states in (("sign_off", SignOffState), ("go_live", GoLiveState), ("dspt", DsptState)):
        for state in states.values:
            columns[f"{prefix}:{state}"] = f"count(*) FILTER (WHERE {prefix}_state = '{state}')"
    for key in _RATING_KEYS:
        columns[f"hazards:{key}"] = f"sum({key})"
    for stage in DASHBOARD_STAGES:
        columns[f"stage:{stage}"] = f"count(*) FILTER (WHERE stage = '{stage}')"
    select = ", ".join(f"coalesce({expression}, 0)" for expression in columns.values())
    row = dict(zip(columns, _fetch(sql + f"SELECT {select} FROM m", params)[0], strict=True))  # noqa: S608  fixed
    return Summary(
        total=row["total"],
        sign_off={s: row[f"sign_off:{s}"] for s in SignOffState.values},
        go_live={s: row[f"go_live:{s}"] for s in GoLiveState.values},
        dspt={s: row[f"dspt:{s}"] for s in DsptState.values},
        expiring=row["expiring"],
        overdue=row["overdue"],
        hazards_by_rating=[(int(k[1:]) if k != UNRATED else UNRATED, row[f"hazards:{k}"]) for k in _RATING_KEYS],
        stages=[(s, Deployment.Stage(s).label, row[f"stage:{s}"]) for s in DASHBOARD_STAGES],
        heatmap=heatmap(deployments, areas),
    )


def filter_choices(scope: QuerySet[Deployment]) -> list[Product]:
    """The products (with their suppliers) that the scope's deployments use: the filter form's
    supplier and product choices, narrowed to what the person can see. One query."""
    return list(
        Product.objects.filter(versions__deployments__in=scope.order_by().values("pk"))
        .distinct()
        .select_related("supplier")
        .order_by("supplier__name", "name")
    )


def weekly_trend(weeks: int = TREND_WEEKS) -> list[WeeklySnapshot]:
    """The latest weekly snapshots, oldest first."""
    return list(reversed(WeeklySnapshot.objects.order_by("-week_start")[:weeks]))


# --- the lists behind the numbers ---------------------------------------------------------------


def drilldown_evidence(
    *,
    user,
    deployments: QuerySet[Deployment],
    measure: str = "",
    area: str = "",
    owner: Organisation | None = None,
    now: datetime | None = None,
) -> QuerySet[EvidenceLink]:
    """Evidence links behind an evidence number: of the filtered deployments, visible to the
    person, narrowed to a measure and an area. A fixed number of queries."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    links = evidence_links_visible_to(user).filter(deployment__in=deployments.order_by().values("pk"))
    if owner is not None:
        links = links.filter(evidence__owner=owner)
    if measure == EvidenceMeasure.EXPIRING:
        links = links.filter(pk__in=_expiring_links(today).values("pk"))
    elif measure == EvidenceMeasure.OVERDUE:
        links = links.filter(pk__in=_overdue_links(now).values("pk"))
    elif measure == EvidenceMeasure.DSPT:
        links = links.filter(evidence__requirement_codes__contains=[DSPT_REQUIREMENT])
    elif measure in (EvidenceMeasure.ACCEPTED, EvidenceMeasure.CHANGES_REQUESTED, EvidenceMeasure.SUBMITTED):
        links = links.filter(status=measure)
    if area:
        codes = Requirement.objects.filter(area__code=area).values_list("code", flat=True).distinct()
        links = links.filter(evidence__requirement_codes__overlap=list(codes))
    return links.select_related(
        "evidence__owner", "deployment__organisation", "deployment__product_version__product", "revision"
    ).order_by("deployment__organisation__name", "deployment__name", "evidence__title", "pk")


def drilldown_hazards(*, user, deployments: QuerySet[Deployment], rating: str = ""):
    """Open hazards behind a hazard number, of the filtered deployments, as the person may see them."""
    from safety.selectors import hazards_visible_to

    hazards = (
        hazards_visible_to(user)
        .filter(deployment__in=deployments.order_by().values("pk"), is_applicable=True)
        .exclude(status="closed")
    )
    if rating == UNRATED:
        hazards = hazards.filter(residual_rating__isnull=True)
    elif rating:
        hazards = hazards.filter(residual_rating=int(rating))
    return hazards.order_by(
        F("residual_rating").desc(nulls_last=True), "deployment__organisation__name", "deployment__name", "number"
    )


# --- the supplier's dashboard -------------------------------------------------------------------


class DecisionMeasure(TextChoices):
    ACCEPTED = "accepted", "Accepted (as is or adapted)"
    REJECTED = "rejected", "Rejected"
    PENDING = "pending", "Not decided"


def _decision_q(decision: str) -> Q:
    if decision == DecisionMeasure.ACCEPTED:
        return Q(transfer_decision__in=["accepted", "adapted"])
    if decision == DecisionMeasure.REJECTED:
        return Q(transfer_decision="rejected")
    return Q(transfer_decision__in=["pending", ""])


SUPPLIER_SORTS = ("deployment", "organisation", "stage", "in_stage")


def supplier_filters(filters: DashboardFilters) -> DashboardFilters:
    """The filters a supplier may use: nothing that would reveal a trust's hazards or sign-off."""
    return DashboardFilters(
        q=filters.q, stage=filters.stage, product=filters.product, deployment=filters.deployment, sort=filters.sort
    )


def supplier_deployments(*, scope: QuerySet[Deployment], supplier: Organisation, filters: DashboardFilters):
    """The supplier's view of each deployment of its products: its own evidence there by status,
    and the decisions on its transferred hazards. Nothing of the trust's own log or evidence."""
    from safety.models import DeploymentHazard

    own = {"deployment": OuterRef("pk")}
    links = EvidenceLink.objects.filter(evidence__owner=supplier, **own)
    transferred = DeploymentHazard.objects.filter(
        source=DeploymentHazard.Source.SUPPLIER, supplier_hazard__product_version__product__supplier=supplier, **own
    )
    deployments = filter_deployments(
        scope.select_related("organisation", "product_version__product").annotate(
            stage_position=_stage_position(),
            evidence_accepted=_count(links.filter(status=EvidenceLink.Status.ACCEPTED)),
            evidence_changes_requested=_count(links.filter(status=EvidenceLink.Status.CHANGES_REQUESTED)),
            evidence_submitted=_count(links.filter(status=EvidenceLink.Status.SUBMITTED)),
            **{f"hazards_{d}": _count(transferred.filter(_decision_q(d))) for d in DecisionMeasure.values},
        ),
        supplier_filters(filters),
    )
    key, descending = filters.sort.lstrip("-"), filters.sort.startswith("-")
    column = SORT_COLUMNS[key if key in SUPPLIER_SORTS else DEFAULT_SORT]
    expressions = [_reversed(e) for e in column.orm] if descending and key == column.key else list(column.orm)
    return deployments.order_by(*expressions, "pk")


def supplier_totals(deployments: QuerySet[Deployment], *, supplier: Organisation) -> dict[str, int]:
    """The supplier's evidence by status and its transferred hazards by decision, over the
    filtered deployments: two grouped queries."""
    from safety.models import DeploymentHazard

    ids = deployments.order_by().values("pk")
    totals = {"evidence_accepted": 0, "evidence_changes_requested": 0, "evidence_submitted": 0}
    rows = (
        EvidenceLink.objects.filter(evidence__owner=supplier, deployment__in=ids)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        if f"evidence_{row['status']}" in totals:
            totals[f"evidence_{row['status']}"] = row["n"]
    decisions = {
        "accepted": "accepted",
        "adapted": "accepted",
        "rejected": "rejected",
        "pending": "pending",
        "": "pending",
    }
    totals.update({f"hazards_{d}": 0 for d in DecisionMeasure.values})
    rows = (
        DeploymentHazard.objects.filter(
            deployment__in=ids,
            source=DeploymentHazard.Source.SUPPLIER,
            supplier_hazard__product_version__product__supplier=supplier,
        )
        .order_by()
        .values("transfer_decision")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        totals[f"hazards_{decisions[row['transfer_decision']]}"] += row["n"]
    totals["deployments"] = deployments.count()
    return totals


def supplier_hazard_decisions(*, deployments: QuerySet[Deployment], supplier: Organisation, decision: str = ""):
    """Each deployment's decision on the supplier's transferred hazards: the decision columns
    only, so nothing else of a trust's hazard log reaches the supplier."""
    from safety.models import DeploymentHazard

    rows = DeploymentHazard.objects.filter(
        deployment__in=deployments.order_by().values("pk"),
        source=DeploymentHazard.Source.SUPPLIER,
        supplier_hazard__product_version__product__supplier=supplier,
    )
    if decision:
        rows = rows.filter(_decision_q(decision))
    return rows.order_by("deployment__organisation__name", "deployment__name", "supplier_hazard__code", "pk").values(
        "pk",
        "deployment_id",
        "deployment__name",
        "deployment__organisation__name",
        "deployment__organisation__ods_code",
        "supplier_hazard__code",
        "supplier_hazard__name",
        "supplier_hazard__product_version__version",
        "transfer_decision",
        "transfer_justification",
    )


# --- what waits for the person, on the trust's dashboard ----------------------------------------


@dataclass
class Waiting:
    reviews: list = field(default_factory=list)
    reviews_count: int = 0
    cso_hazards: list = field(default_factory=list)
    cso_hazards_count: int = 0
    cso_sign_offs: list = field(default_factory=list)
    go_live: list = field(default_factory=list)
    go_live_count: int = 0
    is_reviewer: bool = False
    is_cso: bool = False
    is_approver: bool = False

    @property
    def shows_anything(self) -> bool:
        return self.is_reviewer or self.is_cso or self.is_approver


WAITING_SHOWN = 10


def trust_waiting(*, user, organisation: Organisation, scope: QuerySet[Deployment]) -> Waiting:
    """What waits for this person's roles in the organisation: evidence to review (deployment
    lead, CSO), hazards and sign-offs needing the CSO, and go-live awaiting the executive approver.
    A fixed number of queries."""
    from safety.models import GoLiveAuthorisation, SignOff
    from safety.selectors import cso_review_queue

    roles = account_permissions.roles_in(user, organisation)
    waiting = Waiting(
        is_reviewer=bool(roles & {Role.CSO, Role.DEPLOYMENT_LEAD}),
        is_cso=Role.CSO in roles,
        is_approver=Role.EXECUTIVE_APPROVER in roles,
    )
    ids = scope.order_by().values("pk")
    if waiting.is_reviewer:
        queue = review_queue_for(user).filter(deployment__in=ids)
        waiting.reviews = list(queue[:WAITING_SHOWN])
        waiting.reviews_count = queue.count()
    if waiting.is_cso:
        queue = cso_review_queue(user)
        hazards = queue.hazards.filter(deployment__in=ids)
        waiting.cso_hazards = list(hazards[:WAITING_SHOWN])
        waiting.cso_hazards_count = hazards.count()
        waiting.cso_sign_offs = list(queue.sign_offs.filter(deployment__in=ids)[:WAITING_SHOWN])
    if waiting.is_approver:
        authorised = GoLiveAuthorisation.objects.filter(sign_off=OuterRef("pk"))
        signed = (
            SignOff.objects.filter(deployment__in=ids, status=SignOff.Status.CURRENT, needs_re_review=False)
            .exclude(Exists(authorised))
            .select_related("deployment__organisation")
            .order_by("signed_at", "pk")
        )
        waiting.go_live = list(signed[:WAITING_SHOWN])
        waiting.go_live_count = signed.count()
    return waiting


# --- a dashboard page ---------------------------------------------------------------------------

DASHBOARD_PAGE_SIZE = 25
DRILLDOWN_PAGE_SIZE = 50


@dataclass
class DashboardPage:
    page: Page
    areas: list[tuple[str, str]]
    summary: Summary | None


def dashboard_page(
    *, scope: QuerySet[Deployment], filters: DashboardFilters, page_number, now: datetime | None = None
) -> DashboardPage:
    """One page of the filtered deployments with every measure, and the totals of the whole
    filtered view. A fixed number of queries, whatever the number of deployments."""
    deployments = dashboard_deployments(scope=scope, filters=filters, now=now)
    page = Paginator(deployments, DASHBOARD_PAGE_SIZE).get_page(page_number)
    rows = list(page.object_list)
    areas = areas_for(scope)
    attach_row_measures(rows, areas=areas, now=now, certificate_days=certificate_days(filters))
    page.object_list = rows
    filtered = filter_deployments(scope, filters, now=now)
    return DashboardPage(page=page, areas=areas, summary=dashboard_summary(filtered, areas=areas, now=now))


def certificate_days(filters: DashboardFilters) -> int:
    return CERTIFICATE_DAYS if filters.certificates is None else filters.certificates


def paginate(queryset: QuerySet, page_number, per_page: int = DRILLDOWN_PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(page_number)


def dashboard_data_version() -> str:
    """A fingerprint of everything the dashboards show, in one query of index lookups. Every write
    goes through a service that records an audit event, so the audit trail's newest entry moves
    with every change; the newest ids of the dashboards' own tables also catch rows written in
    bulk (seed data). Cached dashboard content is keyed by it, so a change shows at once."""
    from nir_portal.audit.models import AuditEvent
    from onboarding.models import EvidenceRevision
    from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff

    tables = [
        AuditEvent,
        Deployment,
        EvidenceLink,
        EvidenceRevision,
        DeploymentHazard,
        SignOff,
        GoLiveAuthorisation,
        WeeklySnapshot,
    ]
    select = ", ".join(f"(SELECT max(id) FROM {model._meta.db_table})" for model in tables)  # noqa: S608  model tables
    return "|".join(str(value) for value in _fetch(f"SELECT {select}", [])[0])
