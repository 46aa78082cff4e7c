"""Who may act on the safety case's later life, where the rule in `safety.permissions` would name
the act wrongly on the refusal page ("Only the ... can <action>"). Each holds the same roles the
services check; views refuse with `RoleRequired` (a 403 naming the role and who holds it) once
the person is known to see the object."""

from nir_portal.accounts.models import Role
from nir_portal.permissions import RoleRule
from onboarding import permissions as onboarding_permissions
from onboarding.models import Deployment, ProductVersion


def _deploying(deployment: Deployment) -> tuple[int]:
    return (deployment.organisation_id,)


PUBLISH_VERSION = RoleRule(
    code="safety.publish_version",
    action="publish this product version with its DCB0129 delta",
    roles=frozenset({Role.SUPPLIER_CSO, Role.SUPPLIER_ASSURANCE_LEAD}),
    parties=lambda version: (version.product.supplier_id,),
)
RE_REVIEW_HAZARD = RoleRule(
    code="safety.re_review_hazard",
    action="re-review a hazard that a version change or product fault touched",
    roles=frozenset({Role.CSO}),
    parties=_deploying,
)
RECORD_PERIODIC_REVIEW = RoleRule(
    code="safety.record_periodic_review",
    action="record a periodic review of this deployment's safety case",
    roles=frozenset({Role.CSO}),
    parties=_deploying,
)
AUTHORISE_DECOMMISSIONING = RoleRule(
    code="safety.authorise_decommissioning",
    action="authorise this deployment's decommissioning and accept its residual risk",
    roles=frozenset({Role.EXECUTIVE_APPROVER}),
    parties=_deploying,
)
# The deployment lead records the day it went live, as they change the deployment's other stages.
RECORD_GO_LIVE = onboarding_permissions.MANAGE_DEPLOYMENT


def can_publish_version(user, version: ProductVersion) -> bool:
    return PUBLISH_VERSION.allows(user, version)


def can_re_review_hazard(user, deployment: Deployment) -> bool:
    return RE_REVIEW_HAZARD.allows(user, deployment)


def can_record_periodic_review(user, deployment: Deployment) -> bool:
    return RECORD_PERIODIC_REVIEW.allows(user, deployment)


def can_authorise_decommissioning(user, deployment: Deployment) -> bool:
    return AUTHORISE_DECOMMISSIONING.allows(user, deployment)


def can_record_go_live(user, deployment: Deployment) -> bool:
    return RECORD_GO_LIVE.allows(user, deployment)
