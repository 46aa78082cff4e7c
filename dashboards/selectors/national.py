"""Reads for the dashboards: the national view of every deployment, a trust's and a supplier's view
of their own, the lists behind each number, and the weekly go-live trend.

Every dashboard starts from a scope: the deployments the person may see through
`selectors.deployments_visible_to`, narrowed to what that dashboard covers (all of them for the
national team; the active organisation's own for a trust; its products' for a supplier). The
measures are computed set-based, by aggregate SQL over a scope of deployment ids (each table
aggregated once, joined per deployment): once for the page's rows, once for the totals of the whole
filtered view, never per row. So the number of queries never grows with the number of rows, and
the cost of each grows with the rows it aggregates, not with a subquery run for every row. What
can be counted at write time is: each deployment's summary row (`dashboards.summary`, refreshed in
the writer's transaction) holds its measures and its share of every total.

The national dashboard's rendered content is cached, keyed by `dashboard_data_version` (the newest
ids and summary refresh of what it counts, and the transactions still writing to those tables) and
the query. A key is not reused once a write to what it counts has committed (every such write
records an audit event and refreshes its deployments' summaries; bulk writes add rows): a new row
moves a newest id, a changed measure moves the newest refresh, and a transaction that took its ids
before a later one's but commits after it was listed as still writing when the key was read.

Definitions shown on the dashboards:
- Open hazard: an applicable hazard that is not closed (status open or transferred).
- Evidence expiring: accepted for the deployment, its revision expiring within the next 30 days.
- Review overdue: evidence waiting for review (submitted) for more than 10 working days, counting
  Monday to Friday (bank holidays are not taken out).
- DSPT status: from the deployment's evidence for GOV-02 (the DSPT publication): accepted and not
  past its expiry date is "Standards met"; expired (or accepted but past its date) is "Lapsed";
  anything else is "Not evidenced".
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from certificates.selectors import certificates_expiring_by_deployment
from dashboards.models import DeploymentSummary
from dashboards.selectors.listing import dashboard_deployments, filter_deployments
from dashboards.selectors.measures import (
    CERTIFICATE_DAYS,
    TREND_WEEKS,
    DashboardFilters,
    Measures,
    _fetch,
    _narrowing,
    measures_by_deployment,
)
from dashboards.selectors.rows import dashboard_rows
from dashboards.selectors.totals import Summary, dashboard_summary
from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation
from nir_portal.audit.models import AuditEvent
from onboarding.models import (
    Deployment,
    EvidenceLink,
    EvidenceRevision,
    Product,
    ProductVersion,
    WeeklySnapshot,
)
from onboarding.selectors import deployments_visible_to
from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff

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


def attach_row_measures(
    deployments: list[Deployment],
    *,
    areas: list[tuple[str, str]] = (),
    now: datetime | None = None,
    certificate_days: int = CERTIFICATE_DAYS,
) -> None:
    """Add every measure and each area's progress to a page of deployments: two queries."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    ids = [d.pk for d in deployments]
    measures = measures_by_deployment(ids, now=now)
    certificates = certificates_expiring_by_deployment(deployments, within_days=certificate_days, now=now)
    detail_url = _url_of_each("onboarding:deployment-detail")  # as Deployment.get_absolute_url
    checklist_url = _url_of_each("onboarding:deployment-checklist")
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
        deployment.area_progress = found.areas
        deployment.detail_url = detail_url(deployment.pk)
        deployment.checklist_url = checklist_url(deployment.pk)
        deployment.area_cells = [
            (code, name, deployment.area_progress.get(code), f"{deployment.checklist_url}#area-{code}")
            for code, name in areas
        ]
        deployment.mandatory_accepted = sum(a.accepted for a in deployment.area_progress.values())
        deployment.mandatory_total = sum(a.total for a in deployment.area_progress.values())
        deployment.days_in_stage = (today - timezone.localdate(deployment.stage_changed_at)).days


_PLACEHOLDER_PK = 987654321


def _url_of_each(name: str) -> Callable[[int], str]:
    """The URL of `name` for any pk, from one reverse() per page rather than one per row."""
    pattern = reverse(name, kwargs={"pk": _PLACEHOLDER_PK})
    before, _, after = pattern.partition(str(_PLACEHOLDER_PK))
    return lambda pk: f"{before}{int(pk)}{after}"


# --- what a page shows besides its rows ---------------------------------------------------------


# A semi-join per product (an index probe each), not a DISTINCT over every deployment.
# Table names come from the models; every value is a parameter.
_CHOICES_SQL = """
SELECT p.id, p.name, p.supplier_id, su.name FROM {product} p JOIN {organisation} su ON su.id = p.supplier_id
WHERE EXISTS (
    SELECT 1 FROM {version} v JOIN {deployment} d ON d.product_version_id = v.id
    WHERE v.product_id = p.id {narrowing}
)
ORDER BY su.name, p.name, p.id
"""


@dataclass(frozen=True)
class ProductChoice:
    """A product the filter form offers, with its supplier."""

    pk: int
    name: str
    supplier_id: int
    supplier_name: str


def filter_choices(scope: QuerySet[Deployment]) -> list[ProductChoice]:
    """The products (with their suppliers) that the scope's deployments use: the filter form's
    supplier and product choices, narrowed to what the person can see. One query."""
    narrowing, params = _narrowing(scope, "d.id")
    tables = {"product": Product, "organisation": Organisation, "version": ProductVersion, "deployment": Deployment}
    sql = _CHOICES_SQL.format(narrowing=narrowing, **{name: model._meta.db_table for name, model in tables.items()})
    return [ProductChoice(*row) for row in _fetch(sql, params)]


@dataclass(frozen=True)
class TrendWeek:
    """One weekly snapshot as the trend shows it."""

    week_start: date
    deployment_count: int  # as WeeklySnapshot.deployment_count: every stage's deployments
    go_live_count: int


_TREND_SQL = """
SELECT w.week_start, (SELECT coalesce(sum(c.value::int), 0) FROM jsonb_each_text(w.counts_by_stage) c), w.go_live_count
FROM {snapshot} w ORDER BY w.week_start DESC LIMIT %s
"""


def weekly_trend(weeks: int = TREND_WEEKS) -> list[TrendWeek]:
    """The latest weekly snapshots, oldest first. One query."""
    sql = _TREND_SQL.format(snapshot=WeeklySnapshot._meta.db_table)
    return [TrendWeek(*row) for row in reversed(_fetch(sql, [weeks]))]


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
    """One page of the filtered deployments with every measure (`DashboardRow`s), and the totals of
    the whole filtered view. A fixed number of queries, whatever the number of deployments."""
    now = now or timezone.now()
    # The areas are those of the whole scope: a filter never drops a column or a heatmap row.
    summary = dashboard_summary(filter_deployments(scope, filters, now=now), areas_of=scope, now=now)
    areas = summary.areas
    ordered = dashboard_deployments(scope=scope, filters=filters, now=now).values_list("pk", flat=True)
    paginator = Paginator(ordered, DASHBOARD_PAGE_SIZE)
    paginator.count = summary.total  # the totals counted the same filtered deployments: no COUNT query
    page = paginator.get_page(page_number)
    page.object_list = dashboard_rows(
        page.object_list,  # the page's slice of the ordered ids, read within the rows' query
        areas=areas,
        detail_url=_url_of_each("onboarding:deployment-detail"),  # as Deployment.get_absolute_url
        checklist_url=_url_of_each("onboarding:deployment-checklist"),
        now=now,
        certificate_days=certificate_days(filters),
    )
    return DashboardPage(page=page, areas=areas, summary=summary)


def certificate_days(filters: DashboardFilters) -> int:
    return CERTIFICATE_DAYS if filters.certificates is None else filters.certificates


def paginate(queryset: QuerySet, page_number, per_page: int = DRILLDOWN_PAGE_SIZE) -> Page:
    return Paginator(queryset, per_page).get_page(page_number)


# Transactions that hold a write lock on any of the tables below, in this database (their virtual
# transaction ids): still in progress, so what they wrote may not be in the newest ids yet.
_WRITERS_SQL = """
SELECT coalesce(string_agg(DISTINCT l.virtualtransaction, ',' ORDER BY l.virtualtransaction), '')
FROM pg_locks l
WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation = ANY(%s::regclass[])
"""


def dashboard_data_version() -> str:
    """A fingerprint of everything the dashboards show, in one query of index lookups, which
    changes whenever a write to what they count has committed since it was last read:

    - the newest ids of the counted tables and of the audit trail (every write through a service
      records an audit event; rows written in bulk, as seed data is, add rows to the tables
      themselves), and the newest summary refresh (every change to a deployment's measures);
    - the transactions still writing to any of those tables when it was read. An id is taken when
      a row is inserted, not when its transaction commits: one that took a lower id and commits
      after another that took a higher one moves no newest id. It holds a write lock on the table
      from its first write to its end, so it is listed here while in progress, and the list
      changes when it ends.

    Cached dashboard content is keyed by it (and stamped with the minute), so a committed change
    shows on the next request. A transaction listed only makes the key change once more when it
    ends (an extra recomputation, never a stale copy)."""

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
    newest.append(f"({_WRITERS_SQL})")
    names = [model._meta.db_table for model in [*tables, DeploymentSummary]]
    return "|".join(str(value) for value in _fetch(f"SELECT {', '.join(newest)}", [names])[0])
