"""The rows of the dashboards' tables, built in Python: the deployment table, the area-progress
table, and the data tables beside the national dashboard's charts (funnel, heatmap, trend). A page
of rows renders in a fraction of the template engine's per-variable cost (see
benchmarks/dashboard.py); each tag's markup is what its template loop used to write.

Each column of the deployment table is one function in `DEPLOYMENT_CELLS`, in column order, that
returns the inner HTML of its cell from a row (`dashboards.selectors.rows.DashboardRow`); its header
stays in `_deployment_rows.html`. A new column is a header there and a function here. Every text is
escaped with `escape` (the standard library's, which Django's own `escape` wraps: the same
characters, without the lazy-string wrapper's cost on some two thousand calls a page); counts are
ints.
"""

from dataclasses import dataclass
from datetime import UTC, tzinfo
from html import escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS, MONTHS_3
from django.utils.safestring import SafeString, mark_safe

from dashboards.selectors import CERTIFICATE_DAYS
from nir_portal.accounts.templatetags.portal import status_tag_class

register = template.Library()

SIGN_OFF_TAGS = {"current": "Signed off", "superseded": "Sign-off superseded"}
GO_LIVE_TEXT = {"authorised": "authorised", "superseded": "authorised; sign-off since superseded"}
DSPT_TEXT = {"met": "Standards met", "lapsed": "Lapsed"}


@dataclass(frozen=True)
class RowContext:
    """What every row's links share: the drill-down URLs and the current filters' query string."""

    hazards_url: str
    evidence_url: str
    carried: str
    certificate_days: int = CERTIFICATE_DAYS
    certificates_url: str = ""  # a deployment's register, "{}" standing for its id
    local: tzinfo = UTC  # the current time zone, looked up once a page


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _short_date(day) -> str:
    """Django's date format "j M Y" (1 Jun 2026), without parsing the format for every row."""
    return f"{day.day} {MONTHS_3[day.month].title()} {day.year:04d}"


def _long_date(day) -> str:
    """Django's date format "j F Y" (1 June 2026)."""
    return f"{day.day} {MONTHS[day.month]} {day.year:04d}"


def _deployment(d, c: RowContext) -> str:
    region = f", {escape(d.region_label)}" if d.region else ""
    return (
        f'<a href="{escape(d.detail_url)}">{escape(d.name)}</a>'
        f'<span class="dash-secondary">{escape(d.organisation_name)} ({escape(d.ods_code)}){region}</span>'
        f'<span class="dash-secondary">{escape(d.product_name)} {escape(d.version)}, '
        f"{escape(d.supplier_name)}</span>"
    )


def _stage(d, c: RowContext) -> str:
    stage = f'<strong class="nhsuk-tag {status_tag_class(d.stage)}">{escape(d.stage_label)}</strong>'
    if d.stage == "live" and d.safety_case_out_of_date_since:
        stage += (
            f' <strong class="nhsuk-tag nhsuk-tag--red" data-testid="case-out-of-date-{d.pk}">'
            "Safety case out of date</strong>"
        )
    return stage


def _in_stage(d, c: RowContext) -> str:
    days = int(d.days_in_stage)
    since = _short_date(d.stage_changed_at.astimezone(c.local))
    return (
        f'<a href="{escape(d.detail_url)}">{days} day{_plural(days)}'
        f'<span class="nhsuk-u-visually-hidden"> at this stage: {escape(d.name)}</span></a>'
        f'<span class="dash-secondary dash-nowrap">since {escape(since)}</span>'
    )


def _progress(d, c: RowContext) -> str:
    if not d.mandatory_total:
        return "No framework"
    return (
        f'<a href="{escape(d.checklist_url)}">{int(d.mandatory_accepted)} of {int(d.mandatory_total)}'
        f'<span class="nhsuk-u-visually-hidden"> mandatory requirements accepted: {escape(d.name)}</span></a>'
    )


def _hazards(d, c: RowContext) -> str:
    if not d.hazards_by_rating:
        return "None open"
    items = []
    for rating, count in d.hazards_by_rating:
        label = "Not assessed" if rating == "unrated" else f"Rated {int(rating)}"
        url = escape(f"{c.hazards_url}?{c.carried}deployment={int(d.pk)}&hazard_rating={rating}")
        items.append(
            f'<li><a href="{url}">{label}: {int(count)}<span class="nhsuk-u-visually-hidden"> open '
            f"hazard{_plural(count)}, {escape(d.name)}</span></a></li>"
        )
    return f'<ul class="dash-measures">{"".join(items)}</ul>'


def _sign_off(d, c: RowContext) -> str:
    return (
        f'<strong class="nhsuk-tag {status_tag_class(d.sign_off_state)}">'
        f"{SIGN_OFF_TAGS.get(d.sign_off_state, 'Not signed off')}</strong>"
        f'<span class="dash-secondary">Go-live {GO_LIVE_TEXT.get(d.go_live_state, "not authorised")}</span>'
    )


def _evidence_link(d, c: RowContext, measure: str, text: str, hidden: str) -> str:
    url = escape(f"{c.evidence_url}?{c.carried}deployment={int(d.pk)}&measure={measure}")
    return f'<a href="{url}">{text}<span class="nhsuk-u-visually-hidden">{hidden}, {escape(d.name)}</span></a>'


def _expiring(d, c: RowContext) -> str:
    return _evidence_link(d, c, "expiring", str(int(d.expiring_count)), " evidence expiring within 30 days")


def _overdue(d, c: RowContext) -> str:
    return _evidence_link(d, c, "overdue", str(int(d.overdue_count)), " reviews overdue")


def _dspt(d, c: RowContext) -> str:
    url = escape(f"{c.evidence_url}?{c.carried}deployment={int(d.pk)}&measure=dspt")
    text = DSPT_TEXT.get(d.dspt_state, "Not evidenced")
    return f'<a href="{url}">{text}<span class="nhsuk-u-visually-hidden">: DSPT evidence of {escape(d.name)}</span></a>'


def _certificates(d, c: RowContext) -> str:
    count, days = int(d.certificates_expiring), int(c.certificate_days)
    renew = ' <strong class="nhsuk-tag nhsuk-tag--red">Renew</strong>' if count else ""
    return (
        f'<span data-testid="certificates-expiring"><a href="{escape(c.certificates_url.format(int(d.pk)))}">'
        f'{count}<span class="nhsuk-u-visually-hidden"> certificate{_plural(count)} expired or expiring within '
        f"{days} day{_plural(days)}, {escape(d.name)}</span></a>{renew}</span>"
    )


# (responsive heading, cell) in column order: the headers in _deployment_rows.html follow this.
DEPLOYMENT_CELLS = [
    ("Deployment", _deployment),
    ("Stage", _stage),
    ("Time in stage", _in_stage),
    ("Mandatory accepted", _progress),
    ("Open hazards by residual rating", _hazards),
    ("Sign-off and go-live", _sign_off),
    ("Evidence expiring", _expiring),
    ("Reviews overdue", _overdue),
    ("DSPT", _dspt),
    ("Certificates expiring", _certificates),
]
# A placeholder id, replaced per row: one reverse() per page instead of one per row.
_PLACEHOLDER_ID = 987654321
CELL = '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">{} </span>{}</td>'


@register.simple_tag
def deployment_rows(
    deployments, hazards_url: str, evidence_url: str, carried: str, certificate_days=CERTIFICATE_DAYS
) -> SafeString:
    """The rows of the dashboards' deployment table, one `<tr>` per `DashboardRow`."""
    certificates_url = reverse("certificates:deployment-certificates", args=[_PLACEHOLDER_ID])
    context = RowContext(
        hazards_url=hazards_url,
        evidence_url=evidence_url,
        carried=str(carried),
        certificate_days=certificate_days if isinstance(certificate_days, int) else CERTIFICATE_DAYS,
        certificates_url=certificates_url.replace("{", "{{").replace("}", "}}").replace(str(_PLACEHOLDER_ID), "{}"),
        local=timezone.get_current_timezone(),
    )
    rows = []
    for d in deployments:
        cells = "".join(CELL.format(heading, cell(d, context)) for heading, cell in DEPLOYMENT_CELLS)
        rows.append(f'<tr role="row" class="nhsuk-table__row" data-testid="deployment-row-{int(d.pk)}">{cells}</tr>')
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above


@register.simple_tag
def area_progress_rows(deployments) -> SafeString:
    """The rows of the evidence completion table: each deployment's accepted of mandatory, per area."""
    rows = []
    names: dict[str, str] = {}  # each area's name, escaped once a page
    for d in deployments:
        name = escape(d.name)
        cells = [CELL.format("Deployment", name)]
        for _code, area_name, progress, url in d.area_cells:
            area = names.get(area_name) or names.setdefault(area_name, escape(area_name))
            content = (
                f'<a href="{escape(url)}">{int(progress.accepted)} of {int(progress.total)}'
                f'<span class="nhsuk-u-visually-hidden"> {area} requirements accepted, {name}</span></a>'
                if progress
                else "&ndash;"
            )
            cells.append(CELL.format(area, content))
        rows.append(f'<tr role="row" class="nhsuk-table__row">{"".join(cells)}</tr>')
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above


# --- the data tables beside the national dashboard's charts --------------------------------------


@register.simple_tag
def funnel_rows(stages, deployments_url: str, carried: str) -> SafeString:
    """The funnel's data: deployments at each stage, each number the list behind it."""
    rows = []
    for stage, label, count in stages:
        url = escape(f"{deployments_url}?{carried}stage={stage}")
        rows.append(
            f'<tr><th scope="row">{escape(str(label))}</th><td><a href="{url}">{int(count)}'
            f'<span class="nhsuk-u-visually-hidden"> deployments at {escape(str(label).lower())}</span></a></td></tr>'
        )
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above


@register.simple_tag
def heatmap_rows(heat_levels, deployments_url: str, carried: str) -> SafeString:
    """The heatmap's data: for each area, the deployments in each band (shaded as in the chart,
    each number the list behind it), and the area's requirements accepted overall."""
    rows = []
    for area, cells in heat_levels:
        code, name = escape(area.code), escape(str(area.name))
        row = [f'<tr data-testid="heatmap-row-{code}"><th scope="row">{name}</th>']
        for band, label, count, level in cells:
            url = escape(f"{deployments_url}?{carried}area={area.code}&band={band}")
            testid = f"heatmap-cell-{code}-{escape(band)}"
            row.append(
                f'<td class="dash-heat-cell--{int(level)}"><a href="{url}" data-testid="{testid}">'
                f'{int(count)}<span class="nhsuk-u-visually-hidden"> deployments with {escape(str(label).lower())} in '
                f"{name}</span></a></td>"
            )
        row.append(f"<td>{int(area.accepted)} of {int(area.total)}</td></tr>")
        rows.append("\n".join(row))
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above


@register.simple_tag
def trend_rows(snapshots) -> SafeString:
    """The trend's data, week by week."""
    return mark_safe(  # noqa: S308  dates and counts only
        "".join(
            f'<tr><th scope="row">{escape(_long_date(s.week_start))}</th><td>{int(s.deployment_count)}</td>'
            f"<td>{int(s.go_live_count)}</td></tr>"
            for s in snapshots
        )
    )
