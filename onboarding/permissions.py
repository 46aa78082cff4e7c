"""Deployment permissions, granted to (organisation, role) groups when a deployment is created.

The deploying organisation's roles and the supplier's roles each get their own set; the national
team sees every deployment through its role, not through object grants.
"""

from django.db.models import QuerySet
from guardian.shortcuts import assign_perm, get_objects_for_user

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import DEPLOYING_ROLES, SUPPLIER_ROLES, Role
from onboarding.models import Deployment, EvidenceLink

VIEW = "view_deployment"
MANAGE = "manage_deployment"
CONTRIBUTE = "contribute_evidence"
REVIEW = "review_evidence"
EDIT_HAZARDS = "edit_hazard_log"
SIGN_OFF = "sign_off_deployment"
AUTHORISE = "authorise_go_live"

DEPLOYING_ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CSO: (VIEW, CONTRIBUTE, REVIEW, EDIT_HAZARDS, SIGN_OFF),
    Role.DEPLOYMENT_LEAD: (VIEW, MANAGE, CONTRIBUTE, REVIEW, EDIT_HAZARDS),
    Role.EVIDENCE_CONTRIBUTOR: (VIEW, CONTRIBUTE),
    Role.EXECUTIVE_APPROVER: (VIEW, AUTHORISE),
    Role.VIEWER: (VIEW,),
}
SUPPLIER_ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.SUPPLIER_ASSURANCE_LEAD: (VIEW, CONTRIBUTE),
    Role.SUPPLIER_CSO: (VIEW, CONTRIBUTE),
    Role.SUPPLIER_CONTRIBUTOR: (VIEW, CONTRIBUTE),
}
assert set(DEPLOYING_ROLE_PERMISSIONS) == set(DEPLOYING_ROLES)
assert set(SUPPLIER_ROLE_PERMISSIONS) == set(SUPPLIER_ROLES)


def deployment_grant_permissions(deployment: Deployment) -> None:
    """Grant the deploying organisation's and the supplier's role groups their permissions."""
    supplier = deployment.product_version.product.supplier
    for organisation, role_permissions in (
        (deployment.organisation, DEPLOYING_ROLE_PERMISSIONS),
        (supplier, SUPPLIER_ROLE_PERMISSIONS),
    ):
        for role, codenames in role_permissions.items():
            group = account_permissions.role_group(organisation, role)
            for codename in codenames:
                assign_perm(f"onboarding.{codename}", group, deployment)


def deployments_with_permission(user, codename: str) -> QuerySet[Deployment]:
    return get_objects_for_user(
        user, f"onboarding.{codename}", klass=Deployment, accept_global_perms=False, with_superuser=False
    )


def can(user, codename: str, deployment: Deployment) -> bool:
    """Whether the person holds a deployment permission. National roles may view every deployment."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if codename == VIEW and account_permissions.is_national(user):
        return True
    return deployments_with_permission(user, codename).filter(pk=deployment.pk).exists()


# Who reviews evidence sent for review, by the link's review route (national links: national roles).
REVIEWER_ROLES = {
    EvidenceLink.ReviewBy.DEPLOYING_CSO: (Role.CSO,),
    EvidenceLink.ReviewBy.DEPLOYING_LEAD: (Role.DEPLOYMENT_LEAD, Role.CSO),
}


def can_review(user, link: EvidenceLink) -> bool:
    if account_permissions.roles_in(user, link.evidence.owner_id):
        return False  # nobody reviews their own organisation's evidence
    if link.review_by == EvidenceLink.ReviewBy.NATIONAL:
        return any(
            role in (Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN)
            for role in {m.role for m in account_permissions.memberships_of(user)}
        )
    roles = account_permissions.roles_in(user, link.deployment.organisation_id)
    return bool(roles & set(REVIEWER_ROLES[link.review_by]))
