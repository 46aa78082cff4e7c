"""Keeps each deployment's dashboard summary row (`DeploymentSummary`) in step with the rows it
counts, inside the transaction that changed them.

What a summary row holds is recomputed from its sources by one set-based statement (an upsert over
any set of deployments), never adjusted by increments, so a refresh is always the truth as of this
transaction, whatever changed. It is called:
- from the domain events that onboarding and safety publish inside their writing transactions
  (`dashboards.subscribers`): a deployment opened, its evidence's status, revision or framework
  changed, its hazards, sign-off or go-live authorisation changed;
- after rows written in bulk that bypass the services (`seed_scale`), and by the migration that
  created the table, for every deployment;
- by `summaries_out_of_step`, which compares the stored rows with a fresh computation (the tests
  and the `dashboard_summaries --check` command use it).

The national dashboard's cached content is keyed by a fingerprint that includes the newest
`refreshed_at` and the transactions still writing to this table
(`dashboards.selectors.dashboard_data_version`), so a refresh retires every cached copy computed
before it once its transaction commits, even when a later refresh committed first.
"""

from collections.abc import Iterable

from django.db import connection

from dashboards.models import (
    GO_LIVE_STATES,
    HEAT_PARTS,
    PACK_BASE,
    RATING_KEYS,
    SIGN_OFF_STATES,
    TOTALS_SLOTS,
    DeploymentSummary,
)
from nir_portal.accounts.models import Organisation
from onboarding.models import Area, Deployment, Evidence, EvidenceLink, EvidenceRevision, Requirement
from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff

DSPT_REQUIREMENT = "GOV-02"
RATINGS = (5, 4, 3, 2, 1)

# One row per deployment in scope. Each source table is aggregated once for the whole scope; the
# mandatory-requirement progress follows the onboarding checklist's rule (a requirement provided
# by both parties needs accepted evidence from each).
_SUMMARY_SQL = """
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
        array_agg(r.expiry_date ORDER BY r.expiry_date)
            FILTER (WHERE l.status = 'accepted' AND r.expiry_date IS NOT NULL) AS accepted_expiries,
        array_agg(l.submitted_at ORDER BY l.submitted_at)
            FILTER (WHERE l.status = 'submitted' AND l.submitted_at IS NOT NULL) AS waiting_since,
        bool_or(e.requirement_codes @> ARRAY[%(dspt)s]::varchar[] AND l.status = 'accepted'
                AND r.expiry_date IS NULL) AS dspt_open_ended,
        max(r.expiry_date) FILTER (
            WHERE e.requirement_codes @> ARRAY[%(dspt)s]::varchar[] AND l.status = 'accepted') AS dspt_latest,
        min(r.expiry_date) FILTER (
            WHERE e.requirement_codes @> ARRAY[%(dspt)s]::varchar[] AND l.status = 'accepted') AS dspt_earliest,
        bool_or(e.requirement_codes @> ARRAY[%(dspt)s]::varchar[] AND l.status = 'expired') AS dspt_expired
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
req AS (
    SELECT d.id AS deployment_id, a.code AS area_code, r.code, r.provided_by
    FROM {deployment} d
    JOIN {requirement} r ON r.framework_id = d.framework_id AND r.mandatory
    JOIN {area} a ON a.id = r.area_id
    WHERE d.id IN (SELECT id FROM scope)
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
           ) AS accepted,
           row_number() OVER (PARTITION BY req.deployment_id ORDER BY req.area_code) - 1 AS position
    FROM req LEFT JOIN acc ON acc.deployment_id = req.deployment_id AND acc.code = req.code
    GROUP BY req.deployment_id, req.area_code
),
pj AS (
    SELECT deployment_id, jsonb_object_agg(area_code, jsonb_build_array(accepted, total)) AS areas,
           sum(accepted) AS accepted, sum(total) AS total,
           string_agg(area_code, ' ' ORDER BY area_code) AS layout,
           sum({heat}) AS heat
    FROM progress GROUP BY deployment_id
),
measured AS (
    SELECT d.id AS deployment_id,
        CASE WHEN so.current THEN 'current' WHEN so.deployment_id IS NOT NULL THEN 'superseded' ELSE 'none' END
            AS sign_off_state,
        CASE WHEN gl.current THEN 'authorised' WHEN gl.deployment_id IS NOT NULL THEN 'superseded' ELSE 'none' END
            AS go_live_state,
        hz.highest AS highest_rating,
        {rating_columns},
        coalesce(ev.accepted_expiries, '{{}}') AS accepted_expiries,
        coalesce(ev.waiting_since, '{{}}') AS waiting_since,
        coalesce(ev.dspt_open_ended, false) AS dspt_open_ended,
        ev.dspt_latest AS dspt_latest_expiry,
        ev.dspt_earliest AS dspt_earliest_expiry,
        coalesce(ev.dspt_expired, false) AS dspt_expired,
        coalesce(pj.areas, '{{}}'::jsonb) AS area_progress,
        coalesce(pj.accepted, 0) AS mandatory_accepted,
        coalesce(pj.total, 0) AS mandatory_total,
        coalesce(pj.layout, '') AS area_layout,
        coalesce(pj.heat, 0) AS area_heat
    FROM {deployment} d
    LEFT JOIN so ON so.deployment_id = d.id
    LEFT JOIN gl ON gl.deployment_id = d.id
    LEFT JOIN ev ON ev.deployment_id = d.id
    LEFT JOIN hz ON hz.deployment_id = d.id
    LEFT JOIN pj ON pj.deployment_id = d.id
    WHERE d.id IN (SELECT id FROM scope)
),
computed AS (
    SELECT m.*, m.area_heat + {vector} AS totals_vector FROM measured m
)
"""

COLUMNS = [
    "sign_off_state",
    "go_live_state",
    "highest_rating",
    *(f"open_r{rating}" for rating in RATINGS),
    "open_unrated",
    "accepted_expiries",
    "waiting_since",
    "dspt_open_ended",
    "dspt_latest_expiry",
    "dspt_earliest_expiry",
    "dspt_expired",
    "area_progress",
    "mandatory_accepted",
    "mandatory_total",
    "area_layout",
    "totals_vector",
]


def _digit(slot: int) -> str:
    return str(PACK_BASE**slot)  # an integer literal: PostgreSQL reads it as an exact numeric


def _digit_sql(slot_sql: str) -> str:
    """PACK_BASE to the power of a slot computed in SQL, exactly (a numeric of scale 0)."""
    zeros = len(str(PACK_BASE)) - 1
    return f"('1' || repeat('0', ({zeros} * ({slot_sql}))::int))::numeric"


def _vector_sql() -> str:
    """A measured row's slots of `totals_vector` (its areas' are added from `pj.heat`)."""
    slot = {name: index for index, name in enumerate(TOTALS_SLOTS)}
    terms = []
    for prefix, states in (("sign_off", SIGN_OFF_STATES), ("go_live", GO_LIVE_STATES)):
        cases = " ".join(f"WHEN '{state}' THEN {_digit(slot[f'{prefix}:{state}'])}" for state in states)
        terms.append(f"CASE m.{prefix}_state {cases} ELSE 0 END")
    terms += [f"m.open_{key} * {_digit(slot[f'hazards:{key}'])}" for key in RATING_KEYS]
    return " + ".join(terms)


def _heat_sql() -> str:
    """One area's slots of `totals_vector`, from its row of `progress` (HEAT_PARTS in order)."""
    values = {
        "not_started": "CASE WHEN accepted = 0 THEN 1 ELSE 0 END",
        "complete": "CASE WHEN accepted = total THEN 1 ELSE 0 END",
        "accepted": "accepted",
        "total": "total",
    }
    first = f"{len(TOTALS_SLOTS)} + {len(HEAT_PARTS)} * position"
    return " + ".join(f"{values[part]} * {_digit_sql(f'{first} + {index}')}" for index, part in enumerate(HEAT_PARTS))


def _computed_sql(scope: str) -> str:
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
    rating_counts = ", ".join(
        [f"count(*) FILTER (WHERE residual_rating = {rating}) AS r{rating}" for rating in RATINGS]
        + ["count(*) FILTER (WHERE residual_rating IS NULL) AS unrated"]
    )
    rating_columns = ", ".join(
        [f"coalesce(hz.r{rating}, 0) AS open_r{rating}" for rating in RATINGS]
        + ["coalesce(hz.unrated, 0) AS open_unrated"]
    )
    tables = {name: model._meta.db_table for name, model in models.items()}
    return _SUMMARY_SQL.format(
        scope=scope,
        rating_counts=rating_counts,
        rating_columns=rating_columns,
        heat=_heat_sql(),
        vector=_vector_sql(),
        **tables,
    )


def _scope(deployment_ids: Iterable[int] | None) -> tuple[str, dict]:
    if deployment_ids is None:
        return f"SELECT id FROM {Deployment._meta.db_table}", {"dspt": DSPT_REQUIREMENT}  # noqa: S608  model table
    ids = sorted({int(pk) for pk in deployment_ids})
    return "SELECT unnest(%(ids)s::bigint[])", {"dspt": DSPT_REQUIREMENT, "ids": ids}


def summaries_refresh(*, deployment_ids: Iterable[int] | None = None) -> int:
    """Recompute the summary rows of these deployments (all of them when None) from their sources,
    in the caller's transaction: one statement. Returns how many rows were written."""
    if deployment_ids is not None and not (deployment_ids := list(deployment_ids)):
        return 0
    scope, params = _scope(deployment_ids)
    table = DeploymentSummary._meta.db_table
    columns = ", ".join(COLUMNS)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in [*COLUMNS, "refreshed_at"])
    # A model's table and fixed columns; every value is a parameter.
    upsert = f"INSERT INTO {table} (deployment_id, {columns}, refreshed_at) "
    upsert += f"SELECT deployment_id, {columns}, clock_timestamp() FROM computed "  # noqa: S608
    upsert += f"ON CONFLICT (deployment_id) DO UPDATE SET {updates}"
    sql = _computed_sql(scope) + upsert
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def summaries_out_of_step(*, deployment_ids: Iterable[int] | None = None) -> list[int]:
    """Deployments whose stored summary differs from a fresh computation, or that have none."""
    scope, params = _scope(deployment_ids)
    table = DeploymentSummary._meta.db_table
    compared = " OR ".join(f"s.{column} IS DISTINCT FROM c.{column}" for column in COLUMNS)
    different = f"SELECT c.deployment_id FROM computed c LEFT JOIN {table} s ON s.deployment_id = c.deployment_id "  # noqa: S608  a model's table, fixed columns
    different += f"WHERE s.deployment_id IS NULL OR {compared} ORDER BY c.deployment_id"
    sql = _computed_sql(scope) + different
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
