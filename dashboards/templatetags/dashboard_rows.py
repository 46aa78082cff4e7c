"""The dashboards' deployment table and area-progress table rows, built in Python: a page of rows
renders in a fraction of the template engine's per-variable cost (see benchmarks/dashboard.py).

Each column of the deployment table is one function in `DEPLOYMENT_CELLS`, in column order, that
returns the inner HTML of its cell; its header stays in `_deployment_rows.html`. A new column is
a header there and a function here. Every text is escaped with Django's `escape`; counts are ints.
"""

from dataclasses import dataclass

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

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


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _deployment(d, c: RowContext) -> str:
    organisation, version = d.organisation, d.product_version
    region = f", {escape(organisation.get_region_display())}" if organisation.region else ""
    return (
        f'<a href="{escape(d.detail_url)}">{escape(d.name)}</a>'
        f'<span class="dash-secondary">{escape(organisation.name)} ({escape(organisation.ods_code)}){region}</span>'
        f'<span class="dash-secondary">{escape(version.product.name)} {escape(version.version)}, '
        f"{escape(version.product.supplier.name)}</span>"
    )


def _stage(d, c: RowContext) -> str:
    return f'<strong class="nhsuk-tag {status_tag_class(d.stage)}">{escape(d.get_stage_display())}</strong>'


def _in_stage(d, c: RowContext) -> str:
    days = int(d.days_in_stage)
    since = date_format(timezone.localtime(d.stage_changed_at), "j M Y")
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
]
CELL = '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">{} </span>{}</td>'


@register.simple_tag
def deployment_rows(deployments, hazards_url: str, evidence_url: str, carried: str) -> SafeString:
    """The rows of the dashboards' deployment table, one `<tr>` per deployment."""
    context = RowContext(hazards_url=hazards_url, evidence_url=evidence_url, carried=str(carried))
    rows = []
    for d in deployments:
        cells = "".join(CELL.format(heading, cell(d, context)) for heading, cell in DEPLOYMENT_CELLS)
        rows.append(f'<tr role="row" class="nhsuk-table__row" data-testid="deployment-row-{int(d.pk)}">{cells}</tr>')
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above


@register.simple_tag
def area_progress_rows(deployments) -> SafeString:
    """The rows of the evidence completion table: each deployment's accepted of mandatory, per area."""
    rows = []
    for d in deployments:
        name = escape(d.name)
        cells = [CELL.format("Deployment", name)]
        for _code, area_name, progress, url in d.area_cells:
            area = escape(area_name)
            content = (
                f'<a href="{escape(url)}">{int(progress.accepted)} of {int(progress.total)}'
                f'<span class="nhsuk-u-visually-hidden"> {area} requirements accepted, {name}</span></a>'
                if progress
                else "&ndash;"
            )
            cells.append(CELL.format(area, content))
        rows.append(f'<tr role="row" class="nhsuk-table__row">{"".join(cells)}</tr>')
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above
