"""Who may see and change deployments, evidence and the framework.

One source: the person's memberships. A deployment belongs to its deploying organisation and to
the supplier of its product version; members of either see it, and the national team sees every
deployment. What each role may do is a `RoleRule` below: services re-check it, views check it
before showing a form, templates ask it through `{% may %}`.
"""

from django.db.models import Q, QuerySet

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import NATIONAL_ROLES, SUPPLIER_ROLES, Role
from nir_portal.permissions import RoleRule
from onboarding.models import Deployment, Evidence, EvidenceLink, ProductVersion


def _deploying(deployment: Deployment) -> tuple[int]:
    return (deployment.organisation_id,)


def _deploying_and_supplier(deployment: Deployment) -> tuple[int, int]:
    return (deployment.organisation_id, deployment.product_version.product.supplier_id)


def _supplier_of_version(version: ProductVersion) -> tuple[int]:
    return (version.product.supplier_id,)


def _owner(evidence: Evidence) -> tuple[int]:
    return (evidence.owner_id,)


DEPLOYING_CONTRIBUTORS = frozenset({Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR})
CONTRIBUTORS = DEPLOYING_CONTRIBUTORS | frozenset(SUPPLIER_ROLES)

MANAGE_DEPLOYMENT = RoleRule(
    code="onboarding.manage_deployment",
    action="change this deployment's stage or framework version",
    roles=frozenset({Role.DEPLOYMENT_LEAD}),
    parties=_deploying,
)
CONTRIBUTE_EVIDENCE = RoleRule(
    code="onboarding.contribute_evidence",
    action="add evidence to this deployment",
    roles=CONTRIBUTORS,
    parties=_deploying_and_supplier,
)
CHANGE_EVIDENCE = RoleRule(
    code="onboarding.change_evidence",
    action="revise or submit this evidence",
    roles=CONTRIBUTORS,
    parties=_owner,
)
CONTRIBUTE_VERSION_EVIDENCE = RoleRule(
    code="onboarding.contribute_version_evidence",
    action="add evidence for this product version",
    roles=frozenset(SUPPLIER_ROLES),
    parties=_supplier_of_version,
)
CARRY_FORWARD = RoleRule(
    code="onboarding.carry_forward",
    action="carry evidence forward to this product version",
    roles=frozenset({Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO}),
    parties=_supplier_of_version,
)
CURATE_FRAMEWORK = RoleRule(
    code="onboarding.curate_framework",
    action="change the onboarding framework",
    roles=frozenset(),
    parties=lambda _framework: (),
    national_roles=frozenset({Role.NATIONAL_ADMIN}),
)

# Who reviews evidence, by where its link routes it (EvidenceLink.review_by).
REVIEW_NATIONAL = RoleRule(
    code="onboarding.review_national",
    action="review evidence that goes to the national team",
    roles=frozenset(),
    parties=lambda _link: (),
    national_roles=frozenset(NATIONAL_ROLES),
)
REVIEW_DEPLOYING_CSO = RoleRule(
    code="onboarding.review_deploying_cso",
    action="review this evidence",
    roles=frozenset({Role.CSO}),
    parties=lambda link: (link.deployment.organisation_id,),
)
REVIEW_DEPLOYING_LEAD = RoleRule(
    code="onboarding.review_deploying_lead",
    action="review this evidence",
    roles=frozenset({Role.DEPLOYMENT_LEAD, Role.CSO}),
    parties=lambda link: (link.deployment.organisation_id,),
)
REVIEW_RULES = {
    EvidenceLink.ReviewBy.NATIONAL: REVIEW_NATIONAL,
    EvidenceLink.ReviewBy.DEPLOYING_CSO: REVIEW_DEPLOYING_CSO,
    EvidenceLink.ReviewBy.DEPLOYING_LEAD: REVIEW_DEPLOYING_LEAD,
}


def review_rule(link: EvidenceLink) -> RoleRule:
    return REVIEW_RULES[link.review_by]


def reviewer_text(link: EvidenceLink) -> str:
    """Who will review the link, in words, from the same rule that lets them."""
    if link.review_by == EvidenceLink.ReviewBy.NATIONAL:
        return "the national team (NHS England)"
    return f"{link.deployment.organisation.name}'s {' or '.join(review_rule(link).role_labels())}"


def can_review(user, link: EvidenceLink) -> bool:
    """The role the link's routing names; never someone of the organisation that owns the evidence."""
    if account_permissions.roles_in(user, link.evidence.owner_id):
        return False
    return review_rule(link).allows(user, link)


def can_contribute_as(user, organisation, deployment: Deployment) -> bool:
    """Evidence is added for one organisation (the person's active one): it must be a party to the
    deployment, and the person must hold a contributing role in it, not only in the other party."""
    return (
        organisation is not None
        and organisation.pk in _deploying_and_supplier(deployment)
        and bool(account_permissions.roles_in(user, organisation) & CONTRIBUTORS)
    )


def can_view(user, deployment: Deployment) -> bool:
    return account_permissions.is_national(user) or bool(
        {m.organisation_id for m in account_permissions.memberships_of(user)} & set(_deploying_and_supplier(deployment))
    )


def deployments_of_member(user) -> QuerySet[Deployment]:
    """Deployments of the person's organisations: as the deploying organisation or as the supplier."""
    own = [m.organisation_id for m in account_permissions.memberships_of(user)]
    return Deployment.objects.filter(Q(organisation__in=own) | Q(product_version__product__supplier__in=own))


MANAGE_PRODUCTS = RoleRule(
    code="onboarding.manage_products",
    action="add this supplier's products and product versions",
    roles=frozenset({Role.SUPPLIER_ASSURANCE_LEAD}),
    parties=lambda supplier: (supplier.pk,),
    national_roles=frozenset({Role.NATIONAL_ADMIN}),
)
OPEN_DEPLOYMENT = RoleRule(
    code="onboarding.open_deployment",
    action="open a deployment for this organisation",
    roles=frozenset({Role.DEPLOYMENT_LEAD}),
    parties=lambda organisation: (organisation.pk,),
    national_roles=frozenset({Role.NATIONAL_ADMIN}),
)
