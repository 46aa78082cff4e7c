"""The hazard log table's rows, built in Python: a log of hundreds of hazards renders in a few
milliseconds instead of the template engine's per-variable cost (see benchmarks/hazard_log.py)."""

from collections.abc import Iterable
from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from nir_portal.accounts.templatetags.portal import rating_tag, status_tag_class
from safety.models import DeploymentHazard
from safety.selectors import HazardLogRow

register = template.Library()

ROW = (
    '<tr role="row" class="nhsuk-table__row" data-testid="hazard-{reference}">'
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Reference </span>'
    '<a href="{url}">{reference}<span class="nhsuk-u-visually-hidden"> {name}</span></a></td>'
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Name </span>{name}</td>'
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Source </span>'
    "{source}{decision}</td>"
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Applicable </span>'
    "{applicable}</td>"
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Initial rating </span>'
    "{initial}</td>"
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Residual rating </span>'
    "{residual}</td>"
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Status </span>'
    '<strong class="nhsuk-tag {status_class}">{status}</strong></td>'
    '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">Controls </span>'
    "{controls}</td></tr>"
)
DECISION_NEEDED = SafeString(' <strong class="nhsuk-tag nhsuk-tag--orange">Decision needed</strong>')


RATING_TAGS = {rating: rating_tag(rating) for rating in (None, 1, 2, 3, 4, 5)}


@register.simple_tag
def hazard_log_rows(hazards: Iterable[HazardLogRow], url_prefix: str) -> SafeString:
    """Rows of the hazard log table. Every text is escaped (html.escape, as Django's escape
    does); the rest are integers and fixed markup. Labels, tags and colours are worked out once
    per value, not once per row."""
    sources = {value: escape(label) for value, label in DeploymentHazard.Source.choices}
    statuses = {value: (status_tag_class(value), escape(label)) for value, label in DeploymentHazard.Status.choices}
    prefix = escape(url_prefix)
    pending = DeploymentHazard.TransferDecision.PENDING
    rows = []
    for hazard in hazards:
        name = escape(hazard.name)
        status_class, status = statuses.get(hazard.status) or (status_tag_class(hazard.status), escape(hazard.status))
        rows.append(
            ROW.format(
                reference=hazard.reference,  # "H" and digits
                url=f"{prefix}{int(hazard.pk)}/",
                name=name,
                source=sources.get(hazard.source) or escape(hazard.source),
                decision=DECISION_NEEDED if hazard.transfer_decision == pending else "",
                applicable="Yes" if hazard.is_applicable else "No",
                initial=RATING_TAGS.get(hazard.initial_rating) or rating_tag(hazard.initial_rating),
                residual=RATING_TAGS.get(hazard.residual_rating) or rating_tag(hazard.residual_rating),
                status_class=status_class,
                status=status,
                controls=int(hazard.control_count),
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above
