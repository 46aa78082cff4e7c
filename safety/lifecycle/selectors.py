"""Reads for the safety case's later life, scoped to the person like every safety read."""

from django.db.models import Q, QuerySet

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Role
from onboarding.models import CaseVersion, Deployment
from safety.lifecycle.models import IncidentEscalation
from safety.selectors import deployments_with_hazard_log_visible_to, product_versions_visible_to

SUPPLIER_ESCALATION_ROLES = {Role.SUPPLIER_CSO, Role.SUPPLIER_ASSURANCE_LEAD}


def escalations_visible_to(user) -> QuerySet[IncidentEscalation]:
    """Escalated incidents: the national team sees all; a supplier's CSO and assurance lead see
    those escalated to their organisation; an imaging network's members those escalated to it;
    the deploying organisation its own."""
    queryset = IncidentEscalation.objects.select_related(
        "incident__deployment__organisation", "incident__deployment__product_version__product", "supplier", "network"
    )
    if account_permissions.is_national(user):
        return queryset
    memberships = account_permissions.memberships_of(user)
    suppliers = {m.organisation_id for m in memberships if m.role in SUPPLIER_ESCALATION_ROLES}
    organisations = {m.organisation_id for m in memberships}
    return queryset.filter(
        Q(supplier_id__in=suppliers)
        | Q(network_id__in=organisations)
        | Q(incident__deployment__organisation_id__in=organisations)
    )


def case_versions_of(*, user, deployment: Deployment) -> QuerySet[CaseVersion]:
    visible = deployments_with_hazard_log_visible_to(user).filter(pk=deployment.pk)
    return (
        CaseVersion.objects.filter(deployment__in=visible.values("pk"))
        .select_related("product_version__product", "started_by")
        .prefetch_related("sign_offs__go_live")
        .order_by("-number")
    )


__all__ = ["case_versions_of", "escalations_visible_to", "product_versions_visible_to"]
