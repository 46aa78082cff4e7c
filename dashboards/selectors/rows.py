"""One page of the dashboards' deployment table, with every measure of each row, in one query:
the page's ids (the filtered, sorted and sliced query of them, as a subquery whose rows ARRAY()
collects in the order it returns them), each deployment, its organisation and product, its summary
row's measures (the clock's worked out from the dates kept), and how many of the certificates it
relies on (its own and its product version's) have expired or expire soon, as
`certificates.selectors` defines it. The rows are plain records (`DashboardRow`), not models: a
page needs a dozen of their values, and reading those beats building five models per row.

The organisation and the product are read by a subquery each, per row of the page, rather than by
joining their tables: joining five tables cost the planner more than the whole query runs."""

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from django.utils import timezone

from certificates.models import CertificateEntry
from certificates.selectors import expiring_condition
from dashboards.models import DeploymentSummary
from dashboards.selectors.measures import (
    _CLOCK_COLUMNS,
    _RATING_KEYS,
    CERTIFICATE_DAYS,
    UNRATED,
    AreaProgress,
    DsptState,
    GoLiveState,
    SignOffState,
    _clock_params,
    _fetch,
)
from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, Product, ProductVersion


@dataclass
class DashboardRow:
    """A deployment as one row of the dashboards' table shows it."""

    pk: int
    name: str
    stage: str
    stage_label: str
    stage_changed_at: datetime
    safety_case_out_of_date_since: datetime | None
    product_version_id: int
    organisation_name: str
    ods_code: str
    region: str
    region_label: str
    product_name: str
    version: str
    supplier_name: str
    sign_off_state: str = SignOffState.NONE.value
    go_live_state: str = GoLiveState.NONE.value
    dspt_state: str = DsptState.NONE.value
    expiring_count: int = 0
    overdue_count: int = 0
    highest_rating: int | None = None
    hazards_by_rating: list[tuple] = field(default_factory=list)  # [(rating or UNRATED, open hazards)], none empty
    area_progress: dict[str, AreaProgress] = field(default_factory=dict)
    area_cells: list[tuple] = field(default_factory=list)  # [(code, name, AreaProgress or None, url)]
    mandatory_accepted: int = 0
    mandatory_total: int = 0
    days_in_stage: int = 0
    detail_url: str = ""
    checklist_url: str = ""
    certificates_expiring: int = 0

    @property
    def open_hazards(self) -> int:
        return sum(n for _, n in self.hazards_by_rating)


# Table names come from the models, the rating columns from a fixed list; every value is a parameter.
_ROWS_SQL = """
WITH expiring AS MATERIALIZED ({expiring})
SELECT d.id, d.name, d.stage, d.stage_changed_at, d.safety_case_out_of_date_since, d.product_version_id,
    (SELECT ARRAY[o.name, o.ods_code, o.region]::text[] FROM {organisation} o WHERE o.id = d.organisation_id),
    (SELECT ARRAY[p.name, v.version, su.name]::text[]
     FROM {version} v JOIN {product} p ON p.id = v.product_id JOIN {organisation} su ON su.id = p.supplier_id
     WHERE v.id = d.product_version_id),
    s.deployment_id IS NOT NULL, s.sign_off_state, s.go_live_state, s.highest_rating, s.area_progress,
    {ratings},
    {clock},
    (SELECT count(*) FROM expiring e
     WHERE e.deployment_id = d.id OR (e.deployment_id IS NULL AND e.product_version_id = d.product_version_id))
FROM unnest({ids}) WITH ORDINALITY AS page(id, position)
JOIN {deployment} d ON d.id = page.id
LEFT JOIN {summary} s ON s.deployment_id = d.id
ORDER BY page.position
"""


def _rows_sql(expiring: str, ids: str) -> str:
    return _ROWS_SQL.format(
        expiring=expiring,
        ids=ids,
        ratings=", ".join(f"s.open_{key}" for key in _RATING_KEYS),
        clock=_CLOCK_COLUMNS,
        organisation=Organisation._meta.db_table,
        version=ProductVersion._meta.db_table,
        product=Product._meta.db_table,
        deployment=Deployment._meta.db_table,
        summary=DeploymentSummary._meta.db_table,
    )


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # Django reads json as text


def _ids(page: QuerySet | list[int]) -> tuple[str, list] | None:
    """The page's ids in order, as SQL: the ordered, sliced query of their ids itself (its rows
    collected into an array in the order it returns them), or a list; None for an empty page."""
    if not isinstance(page, QuerySet):
        return ("%s::bigint[]", [[int(pk) for pk in page]]) if page else None
    try:
        sql, params = page.query.sql_with_params()
    except EmptyResultSet:
        return None
    return f"ARRAY({sql})", list(params)


def dashboard_rows(
    page: QuerySet | list[int],
    *,
    areas: list[tuple[str, str]],
    detail_url,
    checklist_url,
    now: datetime | None = None,
    certificate_days: int = CERTIFICATE_DAYS,
) -> list[DashboardRow]:
    """The rows of a page of deployments, in its order: `page` is the ordered, sliced queryset of
    their ids (read within this query) or a list of ids. One query. `detail_url` and
    `checklist_url` give a deployment's pages from its id."""
    if (ids := _ids(page)) is None:
        return []
    ids_sql, ids_params = ids
    now = now or timezone.now()
    local = timezone.get_current_timezone()  # once a page, not once a row
    today = timezone.localdate(now, local)
    stages = dict(Deployment.Stage.choices)
    regions = dict(Organisation.Region.choices)
    # A certificate relied on: the deployment's own, or its product version's (held by no deployment).
    entries = CertificateEntry.objects.filter(expiring_condition(within_days=certificate_days, now=now))
    expiring_sql, expiring_params = (
        entries.order_by().values("deployment_id", "product_version_id").query.sql_with_params()
    )
    # In the order of their placeholders: the certificates', the clock's (in the columns), the ids'.
    params = [*expiring_params, *_clock_params(now), *ids_params]
    rows = []
    for row in _fetch(_rows_sql(expiring_sql, ids_sql), params):
        pk, name, stage, changed, out_of_date, version_id, organisation, product, summarised, *rest = row
        sign_off, go_live, highest, progress, *counts = rest
        *hazards, dspt, expiring, overdue, certificates = counts
        organisation_name, ods_code, region = organisation  # text[]: read as lists, with no JSON to parse
        product_name, version, supplier_name = product
        checklist = checklist_url(pk)
        progress = {code: AreaProgress(code, done, total) for code, (done, total) in _json(progress or {}).items()}
        rows.append(
            DashboardRow(
                pk=pk,
                name=name,
                stage=stage,
                stage_label=str(stages.get(stage, stage)),
                stage_changed_at=changed,
                safety_case_out_of_date_since=out_of_date,
                product_version_id=version_id,
                organisation_name=organisation_name,
                ods_code=ods_code,
                region=region,
                region_label=str(regions.get(region, region)),
                product_name=product_name,
                version=version,
                supplier_name=supplier_name,
                **(
                    {
                        "sign_off_state": sign_off,
                        "go_live_state": go_live,
                        "dspt_state": dspt,
                        "expiring_count": expiring,
                        "overdue_count": overdue,
                        "highest_rating": highest,
                    }
                    if summarised
                    else {}
                ),
                hazards_by_rating=[
                    (int(key[1:]) if key != UNRATED else UNRATED, n)
                    for key, n in zip(_RATING_KEYS, hazards, strict=True)
                    if n
                ],
                area_progress=progress,
                area_cells=[(code, area, progress.get(code), f"{checklist}#area-{code}") for code, area in areas],
                mandatory_accepted=sum(a.accepted for a in progress.values()),
                mandatory_total=sum(a.total for a in progress.values()),
                days_in_stage=(today - changed.astimezone(local).date()).days,
                detail_url=detail_url(pk),
                checklist_url=checklist,
                certificates_expiring=certificates,
            )
        )
    return rows
