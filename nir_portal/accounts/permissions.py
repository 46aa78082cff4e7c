"""Who may do what: one source, the person's memberships (organisation, role).

Each app names what people may do as `RoleRule`s in its own `permissions.py`; services re-check
them, views check them before showing a form, and templates ask them through `{% may %}`
(`nir_portal/accounts/templatetags/permissions.py`), so a button is never shown to someone the
service would refuse. Memberships are read once per request, so revoking one ends access with
the transaction that revoked it.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from nir_portal.accounts.models import LEAD_ROLES, NATIONAL_ROLES, ROLES_BY_KIND, Membership, Organisation, Role


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


RULES: dict[str, "RoleRule"] = {}


@dataclass(frozen=True)
class RoleRule:
    """Something people may do to an object: held by `roles` in the organisations the object
    belongs to (`parties`), and by `national_roles` on every object."""

    code: str  # "<app>.<verb>", as templates name it
    action: str  # completes "Only ... can ...", e.g. "sign off this deployment's hazard log"
    roles: frozenset[str]
    parties: Callable[[object], Iterable[int]]
    national_roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.code in RULES:
            raise ValueError(f"Permission rule {self.code} is defined twice.")
        RULES[self.code] = self

    def allows(self, user, obj) -> bool:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        memberships = memberships_of(user)
        if any(m.role in self.national_roles for m in memberships):
            return True
        parties = set(self.parties(obj))
        return any(m.organisation_id in parties and m.role in self.roles for m in memberships)

    def held_nationally(self, user) -> bool:
        """Whether the person holds the rule on every object, through a national role."""
        return any(m.role in self.national_roles for m in memberships_of(user))

    def organisations_of(self, user) -> set[int]:
        """The organisations in which the person holds one of the rule's roles (for querysets:
        the objects of those organisations are the ones the rule allows)."""
        return {m.organisation_id for m in memberships_of(user) if m.role in self.roles}

    def require(self, user, obj) -> None:
        """Refuse with `RoleRequired` (a 403 that names the role) unless the person may."""
        if not self.allows(user, obj):
            raise RoleRequired(self, obj)

    def role_labels(self, kinds: Iterable[str] = ()) -> list[str]:
        """The roles that hold the rule, in the order roles are listed; only those of the given
        organisation kinds when kinds are given."""
        fitting = {role for kind in kinds for role in ROLES_BY_KIND[kind]}
        held = self.roles | self.national_roles
        return [Role(r).label for r in Role.values if r in held and (not fitting or r in fitting)]

    def holders(self, organisation_ids: Iterable[int]) -> list[Membership]:
        """Who holds the rule's roles in these organisations (for the refusal page)."""
        return list(
            Membership.objects.filter(
                organisation__in=list(organisation_ids),
                role__in=self.roles | self.national_roles,
                user__is_active=True,
            ).select_related("user", "organisation")
        )


class RoleRequired(PermissionDenied):
    """A person who may see the object lacks the role to act on it: a 403 saying who may."""

    def __init__(self, rule: RoleRule, obj) -> None:
        self.rule, self.obj = rule, obj
        super().__init__(f"Only the {_either(rule.role_labels())} can {rule.action}.")

    def refusal(self, user) -> dict:
        """What the 403 page says: the roles that may act, and who holds them in the person's
        own organisations among those the object belongs to."""
        memberships = memberships_of(user)
        own = {m.organisation_id for m in memberships}
        organisations = [pk for pk in self.rule.parties(self.obj) if pk in own]
        if self.rule.national_roles:
            organisations += [m.organisation_id for m in memberships if m.organisation.is_national]
        kinds = {m.organisation.kind for m in memberships if m.organisation_id in organisations}
        return {
            "action": self.rule.action,
            "roles": _either(self.rule.role_labels(kinds) or self.rule.role_labels()),
            "holders": self.rule.holders(organisations) if organisations else [],
            "inside": bool(organisations),
        }


def _either(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


def may(user, code: str, obj) -> bool:
    """Whether the person may do the named thing to the object (the template tag's question)."""
    return RULES[code].allows(user, obj)


MANAGE_MEMBERS = RoleRule(
    code="accounts.manage_members",
    action="invite people to this organisation or change their roles",
    roles=frozenset(LEAD_ROLES),
    parties=lambda organisation: (organisation.pk,),
    national_roles=frozenset({Role.NATIONAL_ADMIN}),
)


def can_create_organisation(user) -> bool:
    return is_national_admin(user)


def can_manage_members(user, organisation: Organisation) -> bool:
    """Leads manage their own organisation's members; the national admin manages any."""
    return MANAGE_MEMBERS.allows(user, organisation)


def can_view_organisation(user, organisation: Organisation) -> bool:
    return is_national(user) or bool(roles_in(user, organisation))
