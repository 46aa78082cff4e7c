"""Who may do what with organisations and memberships.

Object permissions follow memberships: each (organisation, role) pair has one Django group, a
membership puts its user in that group, and objects grant their permissions to groups (see
`onboarding.permissions`). Revoking a membership removes the user from the group, so access ends
with the transaction that revoked it.
"""

from django.contrib.auth.models import Group

from nir_portal.accounts.models import LEAD_ROLES, NATIONAL_ROLES, Membership, Organisation, Role


def role_group_name(organisation_id: int, role: str) -> str:
    return f"org-{organisation_id}-{role}"


def role_group(organisation: Organisation, role: str) -> Group:
    group, _ = Group.objects.get_or_create(name=role_group_name(organisation.pk, role))
    return group


def memberships_of(user) -> list[Membership]:
    """The user's memberships, loaded once per user object (one request)."""
    if not getattr(user, "is_authenticated", False):
        return []
    cached = getattr(user, "_nir_memberships", None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user, organisation__is_active=True).select_related("organisation"))
        user._nir_memberships = cached
    return cached


def forget_memberships(user) -> None:
    if hasattr(user, "_nir_memberships"):
        del user._nir_memberships


def roles_in(user, organisation: Organisation | int) -> set[str]:
    organisation_id = organisation if isinstance(organisation, int) else organisation.pk
    return {m.role for m in memberships_of(user) if m.organisation_id == organisation_id}


def is_national(user) -> bool:
    return any(m.role in NATIONAL_ROLES for m in memberships_of(user))


def is_national_admin(user) -> bool:
    return any(m.role == Role.NATIONAL_ADMIN for m in memberships_of(user))


def can_create_organisation(user) -> bool:
    return is_national_admin(user)


def can_manage_members(user, organisation: Organisation) -> bool:
    """Leads manage their own organisation's members; the national admin manages any."""
    return is_national_admin(user) or bool(roles_in(user, organisation) & set(LEAD_ROLES))


def can_view_organisation(user, organisation: Organisation) -> bool:
    return is_national(user) or bool(roles_in(user, organisation))
