"""Who may see and keep the certificate register.

A deploying organisation's certificates are kept by its deployment lead and CSO; a supplier's, for
its product versions, by its assurance lead and CSO. Everyone in the organisation sees them, a
trust also sees its supplier's certificates for the product version it deploys, and the national
team sees every one (see `selectors.certificate_entries_visible_to`).
"""

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Deployment, ProductVersion

DEPLOYING_KEEPERS = frozenset({Role.DEPLOYMENT_LEAD, Role.CSO})
SUPPLIER_KEEPERS = frozenset({Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO})


def holder_organisation(*, deployment: Deployment | None = None, product_version: ProductVersion | None = None):
    """The organisation that owns the certificates of a deployment or of a product version."""
    if deployment is not None:
        return deployment.organisation
    return product_version.product.supplier


def can_keep_certificates(
    user, *, deployment: Deployment | None = None, product_version: ProductVersion | None = None
) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    organisation: Organisation = holder_organisation(deployment=deployment, product_version=product_version)
    keepers = DEPLOYING_KEEPERS if deployment is not None else SUPPLIER_KEEPERS
    return bool(account_permissions.roles_in(user, organisation) & keepers)


def can_keep_entry(user, entry) -> bool:
    return can_keep_certificates(user, deployment=entry.deployment, product_version=entry.product_version)
