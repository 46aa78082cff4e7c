"""The national, trust and supplier dashboards' deployment list: filters, search, drill-down
narrowing and the sortable columns. Filters on the deployment's own fields come first, so the
measures behind the others are computed only for what remains; sorting by a measure costs one
aggregate query for the order."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from certificates.selectors import deployments_with_certificates_expiring
from dashboards.selectors.measures import (
    _BAND_SQL,
    NO_OPEN_RATED,
    ArrayPosition,
    DashboardFilters,
    RawSubquery,
    _fetch,
    _measures_sql,
    _progress_sql,
    _scope_sql,
    _stage_position,
)
from onboarding.models import Deployment


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
    if column.key == "stage":
        deployments = deployments.annotate(stage_position=_stage_position())
    return deployments.order_by(*expressions, "pk")
