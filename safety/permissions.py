"""Who may see and change clinical safety records.

A deployment's hazard log belongs to the deploying organisation: its members see it, its CSO and
deployment lead edit it, only its CSO decides on transferred hazards and signs off, and only its
executive approver authorises go-live. The national team reads every log. Suppliers never see a
trust's local hazards: they see their own DCB0129 hazards and what each deployment decided on them.

Each rule reads the person's memberships (`nir_portal.accounts.permissions.RoleRule`); services,
views and templates (`{% may "safety.sign_off" deployment %}`) all ask these.
"""

from nir_portal.accounts.models import DEPLOYING_ROLES, NATIONAL_ROLES, SUPPLIER_ROLES, Role
from nir_portal.permissions import RoleRule
from onboarding.models import Deployment, ProductVersion


def _deploying(deployment: Deployment) -> tuple[int]:
    return (deployment.organisation_id,)


def _supplier(product_version: ProductVersion) -> tuple[int]:
    return (product_version.product.supplier_id,)


VIEW_HAZARD_LOG = RoleRule(
    code="safety.view_hazard_log",
    action="read this deployment's hazard log",
    roles=frozenset(DEPLOYING_ROLES),
    parties=_deploying,
    national_roles=frozenset(NATIONAL_ROLES),
)
EDIT_HAZARD_LOG = RoleRule(
    code="safety.edit_hazard_log",
    action="change this deployment's hazard log",
    roles=frozenset({Role.CSO, Role.DEPLOYMENT_LEAD}),
    parties=_deploying,
)
SIGN_OFF = RoleRule(
    code="safety.sign_off",
    action="sign off this deployment's hazard log or decide on transferred hazards",
    roles=frozenset({Role.CSO}),
    parties=_deploying,
)
AUTHORISE_GO_LIVE = RoleRule(
    code="safety.authorise_go_live",
    action="authorise go-live and accept the residual risk",
    roles=frozenset({Role.EXECUTIVE_APPROVER}),
    parties=_deploying,
)
REPORT_INCIDENT = RoleRule(
    code="safety.report_incident",
    action="report or update a safety incident for this deployment",
    roles=frozenset({Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR}),
    parties=_deploying,
)
EDIT_SUPPLIER_HAZARDS = RoleRule(
    code="safety.edit_supplier_hazards",
    action="change this product version's DCB0129 hazards",
    roles=frozenset({Role.SUPPLIER_CSO}),
    parties=_supplier,
)
VIEW_SUPPLIER_HAZARDS = RoleRule(
    code="safety.view_supplier_hazards",
    action="read this product version's DCB0129 hazards",
    roles=frozenset(SUPPLIER_ROLES),
    parties=_supplier,
    national_roles=frozenset({Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN}),
)


def can_view_hazard_log(user, deployment: Deployment) -> bool:
    return VIEW_HAZARD_LOG.allows(user, deployment)


def can_edit_hazard_log(user, deployment: Deployment) -> bool:
    return EDIT_HAZARD_LOG.allows(user, deployment)


def can_sign_off(user, deployment: Deployment) -> bool:
    return SIGN_OFF.allows(user, deployment)


def can_authorise_go_live(user, deployment: Deployment) -> bool:
    return AUTHORISE_GO_LIVE.allows(user, deployment)


def can_report_incident(user, deployment: Deployment) -> bool:
    return REPORT_INCIDENT.allows(user, deployment)


def can_edit_supplier_hazards(user, product_version: ProductVersion) -> bool:
    return EDIT_SUPPLIER_HAZARDS.allows(user, product_version)


def can_view_supplier_hazards(user, product_version: ProductVersion) -> bool:
    return VIEW_SUPPLIER_HAZARDS.allows(user, product_version)
