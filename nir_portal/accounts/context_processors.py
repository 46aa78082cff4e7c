from django.conf import settings

from nir_portal.accounts import permissions
from nir_portal.accounts.models import Role


def active_organisation(request) -> dict:
    user = getattr(request, "user", None)
    memberships = permissions.memberships_of(user) if user is not None else []
    organisations = {m.organisation_id: m.organisation for m in memberships}
    roles = sorted(getattr(request, "active_roles", ()))
    return {
        "service_name": settings.PORTAL_SERVICE_NAME,
        "active_organisation": getattr(request, "active_organisation", None),
        "active_role_labels": [Role(r).label for r in roles],
        "switchable_organisations": list(organisations.values()) if len(organisations) > 1 else [],
    }
