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

from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import (
    F,
    Q,
    QuerySet,
)
from django.urls import reverse
from django.utils import timezone

from dashboards.models import DeploymentSummary
from dashboards.selectors.measures import (
    _BAND_SQL,
    _RATING_KEYS,
    DASHBOARD_STAGES,
    DSPT_REQUIREMENT,
    NO_OPEN_RATED,
    TREND_WEEKS,
    UNRATED,
    ArrayPosition,
    DashboardFilters,
    DsptState,
    EvidenceMeasure,
    GoLiveState,
    Measures,
    RawSubquery,
    SignOffState,
    _expiring_links,
    _fetch,
    _measures_sql,
    _overdue_links,
    _progress_sql,
    _scope_sql,
    _stage_position,
    area_progress_by_deployment,
    measures_by_deployment,
)
from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation
from nir_portal.audit.models import AuditEvent
from onboarding.models import Area, Deployment, EvidenceLink, EvidenceRevision, Product, Requirement, WeeklySnapshot
from onboarding.selectors import (
    deployments_visible_to,
    evidence_links_visible_to,
)
from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff
from safety.selectors import hazards_visible_to

# --- scopes -------------------------------------------------------------------------------------


def _visible(user) -> QuerySet[Deployment]:
    return Deployment.objects.filter(pk__in=deployments_visible_to(user).order_by().values("pk"))


def national_scope(user) -> QuerySet[Deployment] | None:
    """Every deployment, for the national team; None for anyone else (their answer is a 404)."""
    if not account_permissions.is_national(user):
        return None
    # The national team sees every deployment (as `deployments_visible_to` says): the plain table,
    # without that selector's per-deployment site count, which every scope query would repeat.
    return Deployment.objects.all()


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
    deployments: list[Deployment], *, areas: list[tuple[str, str]] = (), now: datetime | None = None
) -> None:
    """Add every measure and each area's progress to a page of deployments: two queries."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    ids = [d.pk for d in deployments]
    measures = measures_by_deployment(ids, now=now)
    progress = area_progress_by_deployment(ids)
    for deployment in deployments:
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
    # A semi-join on the products the scope uses: no DISTINCT over a join of every deployment.
    return list(
        Product.objects.filter(pk__in=scope.order_by().values("product_version__product"))
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
    attach_row_measures(rows, areas=areas, now=now)
    page.object_list = rows
    filtered = filter_deployments(scope, filters, now=now)
    return DashboardPage(page=page, areas=areas, summary=dashboard_summary(filtered, areas=areas, now=now))


def paginate(queryset: QuerySet, page_number, per_page: int = DRILLDOWN_PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(page_number)


def dashboard_data_version() -> str:
    """A fingerprint of everything the dashboards show, in one query of index lookups. Every write
    goes through a service that records an audit event, so the audit trail's newest entry moves
    with every change; the newest ids of the dashboards' own tables also catch rows written in
    bulk (seed data), and the newest summary refresh catches every change to a deployment's
    measures. Cached dashboard content is keyed by it, so a change shows at once."""

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
    newest = [f"(SELECT max(id) FROM {model._meta.db_table})" for model in tables]  # noqa: S608  model tables
    # Every summary refresh (in the writer's transaction, or after a bulk write) moves this too.
    newest.append(f"(SELECT max(refreshed_at) FROM {DeploymentSummary._meta.db_table})")  # noqa: S608  a model table
    return "|".join(str(value) for value in _fetch(f"SELECT {', '.join(newest)}", [])[0])
