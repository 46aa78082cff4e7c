"""What the whole filtered view adds up to: the summary table, the funnel and the heatmap, from the
deployments' summary rows in one aggregate query.

The rows in scope are read once (a materialised CTE) and aggregated three ways: the per-deployment
states and counts; the dates that move with the clock (expiring, overdue), counted over the arrays
the summary rows keep rather than by a subquery per deployment; and the heatmap. For the heatmap,
each summary row also keeps its areas' progress as three arrays in area-code order (written with
the row, in the writer's transaction), so deployments at the same progress are grouped first (a
cheap hash of small arrays; at 2,000 deployments about 800 distinct) and each distinct progress is
expanded into its areas once, never every deployment's JSON once per area."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from dashboards.models import DeploymentSummary
from dashboards.selectors.measures import (
    _RATING_KEYS,
    DASHBOARD_STAGES,
    RATINGS,
    UNRATED,
    DsptState,
    GoLiveState,
    SignOffState,
    _fetch,
    _scope_sql,
    overdue_review_cutoff,
)
from onboarding.models import Deployment
from onboarding.selectors import EXPIRING_WITHIN_DAYS


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
    live_out_of_date: int = 0  # live deployments whose signed-off case was superseded

    @property
    def open_hazards(self) -> int:
        return sum(n for _, n in self.hazards_by_rating)


# Table names come from the models, the aggregate columns from fixed lists; every value is a parameter.
_TOTALS_SQL = """
WITH scope(id) AS ({scope}),
s AS MATERIALIZED (
    SELECT d.stage, (d.stage = 'live' AND d.safety_case_out_of_date_since IS NOT NULL) AS case_out_of_date,
        s.sign_off_state, s.go_live_state, {ratings}, s.accepted_expiries, s.waiting_since,
        s.area_codes, s.area_accepted, s.area_totals,
        CASE WHEN s.dspt_open_ended OR s.dspt_latest_expiry >= %s THEN 'met'
             WHEN s.dspt_expired OR s.dspt_earliest_expiry < %s THEN 'lapsed' ELSE 'none' END AS dspt_state
    FROM {deployment} d JOIN {summary} s ON s.deployment_id = d.id
    WHERE d.id IN (SELECT id FROM scope)
),
same_progress AS (
    SELECT area_codes, area_accepted, area_totals, count(*) AS n FROM s GROUP BY 1, 2, 3
),
heat AS (
    SELECT a.code, CASE WHEN a.accepted = 0 THEN 'not_started'
                        WHEN a.accepted < a.total THEN 'in_progress' ELSE 'complete' END AS band,
        sum(p.n) AS n, sum(p.n * a.accepted) AS accepted, sum(p.n * a.total) AS total
    FROM same_progress p, unnest(p.area_codes, p.area_accepted, p.area_totals) AS a(code, accepted, total)
    GROUP BY 1, 2
)
SELECT {columns},
    (SELECT count(*) FROM s, unnest(s.accepted_expiries) x WHERE x BETWEEN %s AND %s),
    (SELECT count(*) FROM s, unnest(s.waiting_since) x WHERE x < %s),
    (SELECT coalesce(json_agg(json_build_array(code, band, n, accepted, total)), '[]') FROM heat)
FROM s
"""


def _columns() -> dict[str, str]:
    columns = {
        "total": "count(*)",
        "live_out_of_date": "count(*) FILTER (WHERE case_out_of_date)",
    }
    for prefix, states in (("sign_off", SignOffState), ("go_live", GoLiveState), ("dspt", DsptState)):
        for state in states.values:
            columns[f"{prefix}:{state}"] = f"count(*) FILTER (WHERE {prefix}_state = '{state}')"
    for key in _RATING_KEYS:
        columns[f"hazards:{key}"] = f"sum({key})"
    for stage in DASHBOARD_STAGES:
        columns[f"stage:{stage}"] = f"count(*) FILTER (WHERE stage = '{stage}')"
    return columns


def dashboard_summary(
    deployments: QuerySet[Deployment], *, areas: list[tuple[str, str]], now: datetime | None = None
) -> Summary:
    """Totals over the whole filtered view, for the summary, the charts and their tables: one
    aggregate query, whatever the number of deployments."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    scope_sql, scope_params = _scope_sql(deployments)
    columns = _columns()
    ratings = ", ".join([f"s.open_r{r} AS r{r}" for r in RATINGS] + [f"s.open_unrated AS {UNRATED}"])
    sql = _TOTALS_SQL.format(
        scope=scope_sql,
        ratings=ratings,
        columns=", ".join(f"coalesce({expression}, 0)" for expression in columns.values()),
        deployment=Deployment._meta.db_table,
        summary=DeploymentSummary._meta.db_table,
    )
    # In the order of their placeholders: the scope's, the DSPT state's two, then the clock's.
    expiring_by = today + timedelta(days=EXPIRING_WITHIN_DAYS)
    params = [*scope_params, today, today, today, expiring_by, overdue_review_cutoff(now)]
    *values, expiring, overdue, heat = _fetch(sql, params)[0]
    row = dict(zip(columns, values, strict=True))
    by_code = {code: HeatmapArea(code=code, name=name) for code, name in areas}
    for code, band, count, accepted, total in json.loads(heat) if isinstance(heat, str) else heat:
        area = by_code.setdefault(code, HeatmapArea(code=code, name=code))
        area.cells[band] = count
        area.accepted += accepted
        area.total += total
    return Summary(
        total=row["total"],
        sign_off={s: row[f"sign_off:{s}"] for s in SignOffState.values},
        go_live={s: row[f"go_live:{s}"] for s in GoLiveState.values},
        dspt={s: row[f"dspt:{s}"] for s in DsptState.values},
        expiring=expiring,
        overdue=overdue,
        hazards_by_rating=[(int(k[1:]) if k != UNRATED else UNRATED, row[f"hazards:{k}"]) for k in _RATING_KEYS],
        stages=[(s, Deployment.Stage(s).label, row[f"stage:{s}"]) for s in DASHBOARD_STAGES],
        heatmap=list(by_code.values()),
        live_out_of_date=row["live_out_of_date"],
    )
