"""Who may see and keep the certificate register.

A deploying organisation's certificates are kept by its deployment lead and CSO; a supplier's, for
its product versions, by its assurance lead and CSO. Everyone in the organisation sees them, a
trust also sees its supplier's certificates for the product version it deploys, and the national
team sees every one (see `selectors.certificate_entries_visible_to`).

Keeping is a `RoleRule` per kind of holder, so a member of the holding organisation without the
role is refused with the 403 page naming the role and who holds it (`keep_refusal`).
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation, Role
from nir_portal.permissions import RoleRequired, RoleRule
from onboarding.models import Deployment, ProductVersion

DEPLOYING_KEEPERS = frozenset({Role.DEPLOYMENT_LEAD, Role.CSO})
SUPPLIER_KEEPERS = frozenset({Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO})

KEEP_DEPLOYMENT_CERTIFICATES = RoleRule(
    code="certificates.keep_deployment_certificates",
    action="add or renew certificates in this deployment's register",
    roles=DEPLOYING_KEEPERS,
    parties=lambda deployment: (deployment.organisation_id,),
)
KEEP_VERSION_CERTIFICATES = RoleRule(
    code="certificates.keep_version_certificates",
    action="add or renew certificates in this product version's register",
    roles=SUPPLIER_KEEPERS,
    parties=lambda version: (version.product.supplier_id,),
)


def holder_organisation(*, deployment: Deployment | None = None, product_version: ProductVersion | None = None):
    """The organisation that owns the certificates of a deployment or of a product version."""
    if deployment is not None:
        return deployment.organisation
    return product_version.product.supplier


def _rule_and_holder(deployment: Deployment | None, product_version: ProductVersion | None):
    if deployment is not None:
        return KEEP_DEPLOYMENT_CERTIFICATES, deployment
    return KEEP_VERSION_CERTIFICATES, product_version


def can_keep_certificates(
    user, *, deployment: Deployment | None = None, product_version: ProductVersion | None = None
) -> bool:
    rule, holder = _rule_and_holder(deployment, product_version)
    return rule.allows(user, holder)


def can_keep_entry(user, entry) -> bool:
    return can_keep_certificates(user, deployment=entry.deployment, product_version=entry.product_version)


def keep_refusal(
    user, *, deployment: Deployment | None = None, product_version: ProductVersion | None = None
) -> PermissionDenied | Http404:
    """How a view refuses someone who sees the register but may not keep it: a member of the holding
    organisation (or the national team) is told who may (403); anyone else, who sees it only as
    another organisation's (a trust reading its supplier's certificates), gets a 404 as for an
    object they cannot see."""
    rule, holder = _rule_and_holder(deployment, product_version)
    organisation: Organisation = holder_organisation(deployment=deployment, product_version=product_version)
    if account_permissions.roles_in(user, organisation) or account_permissions.is_national(user):
        return RoleRequired(rule, holder)
    return Http404("No such page, or you do not have access to it.")
