"""Who may produce and read a deployment's CSCR bundles.

The deploying organisation's CSO, deployment lead and executive approver request bundles and read
them; the national team reads every deployment's. Other members of the trust, other trusts and
suppliers do not see them (a 404). Verifying a bundle needs no account at all.
"""

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Role
from onboarding.models import Deployment

REQUEST_ROLES = {Role.CSO, Role.DEPLOYMENT_LEAD, Role.EXECUTIVE_APPROVER}


def can_request_bundle(user, deployment: Deployment) -> bool:
    return bool(account_permissions.roles_in(user, deployment.organisation_id) & REQUEST_ROLES)


def can_view_bundles(user, deployment: Deployment) -> bool:
    return account_permissions.is_national(user) or can_request_bundle(user, deployment)
