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

import json
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
    _narrowing,
    _scope_sql,
)
from onboarding.models import Area, Deployment, Framework


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
    areas: list[tuple[str, str]] = field(default_factory=list)  # [(code, name)], as areas_for

    @property
    def open_hazards(self) -> int:
        return sum(n for _, n in self.hazards_by_rating)


# The onboarding areas of some deployments' frameworks: a semi-join per framework (an index probe
# each), not a DISTINCT over every deployment. In the newest framework's order.
_AREAS_FROM = """
FROM {area} a JOIN {framework} f ON f.id = a.framework_id
WHERE EXISTS (SELECT 1 FROM {deployment} d WHERE d.framework_id = a.framework_id {narrowing})
"""
_AREAS_ORDER = 'f.version DESC, a."order", a.code'

# Table names come from the models, the stage columns from a fixed list; every value is a parameter.
_TOTALS_SQL = """
WITH {scope}
stages AS (
    SELECT count(*) AS total,
        count(*) FILTER (WHERE d.stage = 'live' AND d.safety_case_out_of_date_since IS NOT NULL),
        {stage_columns}
    FROM {deployment} d {deployment_scope}
),
areas AS (
    SELECT coalesce(json_agg(json_build_array(a.code, a.name) ORDER BY {areas_order}), '[]') {areas_from}
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
SELECT * FROM stages CROSS JOIN areas LEFT JOIN layouts ON true
"""


def _tables(**models) -> dict[str, str]:
    return {name: model._meta.db_table for name, model in models.items()}


def _areas_from(deployments: QuerySet[Deployment]) -> tuple[str, tuple]:
    narrowing, params = _narrowing(deployments, "d.id")
    return _AREAS_FROM.format(
        narrowing=narrowing, **_tables(area=Area, framework=Framework, deployment=Deployment)
    ), params


def _distinct_codes(areas) -> list[tuple[str, str]]:
    """The first name of each code (the newest framework's), in order."""
    seen: dict[str, str] = {}
    for code, name in areas:
        seen.setdefault(code, name)
    return list(seen.items())


def areas_for(deployments: QuerySet[Deployment]) -> list[tuple[str, str]]:
    """[(code, name)] of the onboarding areas the deployments' frameworks have, in the newest
    framework's order (area codes are stable across framework versions). One query."""
    areas_from, params = _areas_from(deployments)
    return _distinct_codes(_fetch(f"SELECT a.code, a.name {areas_from} ORDER BY {_AREAS_ORDER}", params))


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # Django reads json as text


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
    deployments: QuerySet[Deployment], *, areas_of: QuerySet[Deployment] | None = None, now: datetime | None = None
) -> Summary:
    """Totals over the whole filtered view, for the summary, the charts and their tables, and the
    onboarding areas of `areas_of` (by default the same deployments; `areas_for`), whose names
    the heatmap shows: one aggregate query, whatever the number of deployments."""
    now = now or timezone.now()
    scope, scope_params = _scope(deployments)
    areas_from, areas_params = _areas_from(deployments if areas_of is None else areas_of)
    sql = _TOTALS_SQL.format(
        **scope,
        stage_columns=", ".join(f"count(*) FILTER (WHERE d.stage = '{stage}')" for stage in DASHBOARD_STAGES),
        areas_order=_AREAS_ORDER,
        areas_from=areas_from,
        clock=_CLOCK_COLUMNS,
        deployment=Deployment._meta.db_table,
        summary=DeploymentSummary._meta.db_table,
    )
    # In the order of their placeholders: the scope's, the areas', then the clock's.
    rows = _fetch(sql, [*scope_params, *areas_params, *_clock_params(now)])
    total, live_out_of_date, *stage_counts = rows[0][: 2 + len(DASHBOARD_STAGES)]
    areas = _distinct_codes(_json(rows[0][2 + len(DASHBOARD_STAGES)]))
    slots = dict.fromkeys(TOTALS_SLOTS, 0)
    dspt = dict.fromkeys(DsptState.values, 0)
    expiring = overdue = 0
    by_code = {code: HeatmapArea(code=code, name=name) for code, name in areas}  # every area, even if empty
    for row in rows:
        layout, n, vector, met, lapsed, expiring_here, overdue_here = row[3 + len(DASHBOARD_STAGES) :]
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
        areas=areas,
    )
