"""Who may produce and read a deployment's CSCR bundles.

The deploying organisation's CSO, deployment lead and executive approver request bundles and read
them; the national team reads every deployment's. Other members of the trust, other trusts and
suppliers do not see them (a 404). Verifying a bundle needs no account at all.
"""

from nir_portal.accounts.models import NATIONAL_ROLES, Role
from nir_portal.permissions import RoleRule
from onboarding.models import Deployment

REQUEST_ROLES = frozenset({Role.CSO, Role.DEPLOYMENT_LEAD, Role.EXECUTIVE_APPROVER})

REQUEST_BUNDLE = RoleRule(
    code="safety.request_bundle",
    action="request a safety case bundle for this deployment",
    roles=REQUEST_ROLES,
    parties=lambda deployment: (deployment.organisation_id,),
)
VIEW_BUNDLES = RoleRule(
    code="safety.view_bundles",
    action="read this deployment's safety case bundles",
    roles=REQUEST_ROLES,
    parties=lambda deployment: (deployment.organisation_id,),
    national_roles=frozenset(NATIONAL_ROLES),
)


def can_request_bundle(user, deployment: Deployment) -> bool:
    return REQUEST_BUNDLE.allows(user, deployment)


def can_view_bundles(user, deployment: Deployment) -> bool:
    return VIEW_BUNDLES.allows(user, deployment)
