"""The hazard log table's rows, built in Python: a log of hundreds of hazards renders in a few
milliseconds instead of the template engine's per-variable cost (see benchmarks/hazard_log.py)."""

from collections.abc import Iterable
from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from nir_portal.accounts.templatetags.portal import rating_tag, status_tag_class
from safety.models import DeploymentHazard
from safety.selectors.hazard_log_page import HazardLogRow

register = template.Library()

CELL = '<td role="cell" class="nhsuk-table__cell"><span class="nhsuk-table-responsive__heading">'
DECISION_NEEDED = SafeString(' <strong class="nhsuk-tag nhsuk-tag--orange">Decision needed</strong>')
CITES_REGISTER = SafeString(" (certificate register cited)")


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
        reference = hazard.reference  # "H" and digits
        status_class, status = statuses.get(hazard.status) or (status_tag_class(hazard.status), escape(hazard.status))
        source = sources.get(hazard.source) or escape(hazard.source)
        initial = RATING_TAGS.get(hazard.initial_rating) or rating_tag(hazard.initial_rating)
        residual = RATING_TAGS.get(hazard.residual_rating) or rating_tag(hazard.residual_rating)
        rows.append(
            f'<tr role="row" class="nhsuk-table__row" data-testid="hazard-{reference}">'
            f'{CELL}Reference </span><a href="{prefix}{int(hazard.pk)}/">{reference}'
            f'<span class="nhsuk-u-visually-hidden"> {name}</span></a></td>'
            f"{CELL}Name </span>{name}</td>"
            f"{CELL}Source </span>{source}{DECISION_NEEDED if hazard.transfer_decision == pending else ''}</td>"
            f"{CELL}Applicable </span>{'Yes' if hazard.is_applicable else 'No'}</td>"
            f"{CELL}Initial rating </span>{initial}</td>"
            f"{CELL}Residual rating </span>{residual}</td>"
            f'{CELL}Status </span><strong class="nhsuk-tag {status_class}">{status}</strong></td>'
            f"{CELL}Controls </span>{int(hazard.control_count)}{CITES_REGISTER if hazard.register_citations else ''}"
            "</td></tr>"
        )
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above
