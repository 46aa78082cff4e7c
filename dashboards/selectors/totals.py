"""What the whole filtered view adds up to: the summary table, the funnel and the heatmap, in one
query, whatever the number of deployments.

Each deployment's summary row keeps its share of the totals packed into one number
(`DeploymentSummary.totals_vector`: its sign-off and go-live state, its open hazards by rating, and
for each onboarding area whether none or all of its mandatory requirements are accepted and how
many are), written with the row in the writer's transaction. So the totals of any set of
deployments are one exact `sum()` over their rows, grouped only by the rows' area layout (one per
framework), decoded in Python: no per-area expansion of every row at read time. What moves with
the clock is counted over the dates the rows keep: the DSPT state from its dates, and the evidence
expiring and the reviews overdue by a binary search of each row's sorted dates (`width_bucket`).
The stages come from the deployments themselves (a stage change refreshes no summary).

The national dashboard's unfiltered view reads every row, without a scope to join; any filter
narrows both reads to the ids of the filtered deployments."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from dashboards.models import TOTALS_SLOTS, DeploymentSummary, totals_unpack
from dashboards.selectors.measures import (
    _CLOCK_COLUMNS,
    _RATING_KEYS,
    DASHBOARD_STAGES,
    UNRATED,
    Band,
    DsptState,
    GoLiveState,
    SignOffState,
    _clock_params,
    _fetch,
    _is_every_deployment,
    _scope_sql,
)
from onboarding.models import Deployment


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


# Table names come from the models, the stage columns from a fixed list; every value is a parameter.
_TOTALS_SQL = """
WITH {scope}
stages AS (
    SELECT count(*) AS total,
        count(*) FILTER (WHERE d.stage = 'live' AND d.safety_case_out_of_date_since IS NOT NULL),
        {stage_columns}
    FROM {deployment} d {deployment_scope}
),
s AS (
    SELECT s.area_layout, s.totals_vector, {clock}
    FROM {summary} s {summary_scope}
),
layouts AS (
    SELECT area_layout, count(*) AS n, sum(totals_vector),
        count(*) FILTER (WHERE dspt_state = 'met'), count(*) FILTER (WHERE dspt_state = 'lapsed'),
        sum(expiring_count), sum(overdue_count)
    FROM s GROUP BY area_layout
)
SELECT * FROM stages LEFT JOIN layouts ON true
"""


def _scope(deployments: QuerySet[Deployment]) -> tuple[dict[str, str], tuple]:
    """The SQL that narrows both reads to the deployments, or nothing for every deployment."""
    if _is_every_deployment(deployments):
        return {"scope": "", "deployment_scope": "", "summary_scope": ""}, ()
    scope_sql, scope_params = _scope_sql(deployments)
    return {
        "scope": f"scope(id) AS ({scope_sql}),",
        "deployment_scope": "WHERE d.id IN (SELECT id FROM scope)",
        "summary_scope": "WHERE s.deployment_id IN (SELECT id FROM scope)",
    }, tuple(scope_params)


def dashboard_summary(
    deployments: QuerySet[Deployment], *, areas: list[tuple[str, str]], now: datetime | None = None
) -> Summary:
    """Totals over the whole filtered view, for the summary, the charts and their tables: one
    aggregate query, whatever the number of deployments."""
    now = now or timezone.now()
    scope, scope_params = _scope(deployments)
    sql = _TOTALS_SQL.format(
        **scope,
        stage_columns=", ".join(f"count(*) FILTER (WHERE d.stage = '{stage}')" for stage in DASHBOARD_STAGES),
        clock=_CLOCK_COLUMNS,
        deployment=Deployment._meta.db_table,
        summary=DeploymentSummary._meta.db_table,
    )
    rows = _fetch(sql, [*scope_params, *_clock_params(now)])
    total, live_out_of_date, *stage_counts = rows[0][: 2 + len(DASHBOARD_STAGES)]
    slots = dict.fromkeys(TOTALS_SLOTS, 0)
    dspt = dict.fromkeys(DsptState.values, 0)
    expiring = overdue = 0
    by_code = {code: HeatmapArea(code=code, name=name) for code, name in areas}
    for row in rows:
        layout, n, vector, met, lapsed, expiring_here, overdue_here = row[2 + len(DASHBOARD_STAGES) :]
        if layout is None:
            continue  # no summary row in this view
        fixed, heat = totals_unpack(int(vector), layout)
        for slot, value in fixed.items():
            slots[slot] += value
        dspt[DsptState.MET] += met
        dspt[DsptState.LAPSED] += lapsed
        dspt[DsptState.NONE] += n - met - lapsed
        expiring += expiring_here
        overdue += overdue_here
        for code, parts in heat.items():
            area = by_code.setdefault(code, HeatmapArea(code=code, name=code))
            for band, count in (
                (Band.NOT_STARTED, parts["not_started"]),
                (Band.IN_PROGRESS, n - parts["not_started"] - parts["complete"]),
                (Band.COMPLETE, parts["complete"]),
            ):
                area.cells[band] = area.cells.get(band, 0) + count
            area.accepted += parts["accepted"]
            area.total += parts["total"]
    return Summary(
        total=total,
        sign_off={state: slots[f"sign_off:{state}"] for state in SignOffState.values},
        go_live={state: slots[f"go_live:{state}"] for state in GoLiveState.values},
        dspt={state: dspt[state] for state in DsptState.values},
        expiring=expiring,
        overdue=overdue,
        hazards_by_rating=[
            (int(key[1:]) if key != UNRATED else UNRATED, slots[f"hazards:{key}"]) for key in _RATING_KEYS
        ],
        stages=[
            (stage, Deployment.Stage(stage).label, count)
            for stage, count in zip(DASHBOARD_STAGES, stage_counts, strict=True)
        ],
        heatmap=list(by_code.values()),
        live_out_of_date=live_out_of_date,
    )
