"""The hazard log table's rows, built in Python: a log of hundreds of hazards renders in a few
milliseconds instead of the template engine's per-variable cost (see benchmarks/hazard_log.py)."""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from nir_portal.accounts.templatetags.portal import rating_tag, status_tag_class
from safety.models import DeploymentHazard

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
    "{controls}{register}</td></tr>"
)
DECISION_NEEDED = SafeString(' <strong class="nhsuk-tag nhsuk-tag--orange">Decision needed</strong>')
CITES_REGISTER = SafeString(" (certificate register cited)")


@register.simple_tag
def hazard_log_rows(hazards, url_prefix: str) -> SafeString:
    """Rows of the hazard log table. Every text is escaped (html.escape, as Django's escape
    does); the rest are integers and fixed markup."""
    source_labels = dict(DeploymentHazard.Source.choices)
    status_labels = dict(DeploymentHazard.Status.choices)
    rows = []
    for hazard in hazards:
        rows.append(
            ROW.format(
                reference=escape(hazard.reference),
                url=escape(f"{url_prefix}{int(hazard.pk)}/"),
                name=escape(hazard.name),
                source=escape(source_labels.get(hazard.source, hazard.source)),
                decision=DECISION_NEEDED
                if hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING
                else "",
                applicable="Yes" if hazard.is_applicable else "No",
                initial=rating_tag(hazard.initial_rating),
                residual=rating_tag(hazard.residual_rating),
                status_class=status_tag_class(hazard.status),
                status=escape(status_labels.get(hazard.status, hazard.status)),
                controls=int(hazard.control_count or 0),
                register=CITES_REGISTER if getattr(hazard, "cites_certificate_register", False) else "",
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308  every interpolated text was escaped above
