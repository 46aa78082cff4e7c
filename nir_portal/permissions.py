"""Cross-cutting permission helpers used by every app's views and permissions modules.

The rules themselves (`RoleRule`, `RoleRequired`, `may`) live with the roles they read, in
`nir_portal.accounts.permissions`, and are re-exported here.
"""

from django.db.models import Model, QuerySet
from django.http import Http404

from nir_portal.accounts.permissions import RULES, RoleRequired, RoleRule, may
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record

__all__ = ["RULES", "RoleRequired", "RoleRule", "get_visible_or_404", "may", "not_visible"]


def get_visible_or_404(request, visible: QuerySet, **lookup) -> Model:
    """Fetch one object from a queryset already narrowed to what the person may see.

    Missing and forbidden answer alike (404); a forbidden attempt is audited as a denial.
    """
    try:
        return visible.get(**lookup)
    except visible.model.DoesNotExist:
        raise not_visible(request, visible.model, **lookup) from None


def not_visible(request, model: type[Model], **lookup) -> Http404:
    """The 404 for an object a selector did not find among those the person may see: missing and
    forbidden answer alike, and a forbidden attempt is audited as a denial."""
    hidden = model._default_manager.filter(**lookup).first()
    if hidden is not None:
        audit_event_record(
            action="access.denied",
            actor=request.user,
            organisation=getattr(request, "active_organisation", None),
            target=hidden,
            outcome=AuditEvent.Outcome.DENIED,
            changes={"path": request.path, "method": request.method},
        )
    return Http404("No such page, or you do not have access to it.")
