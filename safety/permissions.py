"""Who may see and change clinical safety records.

A deployment's hazard log belongs to the deploying organisation: its members see it, its CSO and
deployment lead edit it, only its CSO decides on transferred hazards and signs off, and only its
executive approver authorises go-live. The national team reads every log. Suppliers never see a
trust's local hazards: they see their own DCB0129 hazards and what each deployment decided on them.
"""

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Role
from onboarding.models import Deployment, ProductVersion

EDIT_ROLES = {Role.CSO, Role.DEPLOYMENT_LEAD}
INCIDENT_ROLES = {Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR}
SUPPLIER_HAZARD_ROLES = {Role.SUPPLIER_CSO}


def _roles(user, deployment: Deployment) -> set[str]:
    return account_permissions.roles_in(user, deployment.organisation_id)


def can_view_hazard_log(user, deployment: Deployment) -> bool:
    return account_permissions.is_national(user) or bool(_roles(user, deployment))


def can_edit_hazard_log(user, deployment: Deployment) -> bool:
    return bool(_roles(user, deployment) & EDIT_ROLES)


def can_sign_off(user, deployment: Deployment) -> bool:
    return Role.CSO in _roles(user, deployment)


def can_authorise_go_live(user, deployment: Deployment) -> bool:
    return Role.EXECUTIVE_APPROVER in _roles(user, deployment)


def can_report_incident(user, deployment: Deployment) -> bool:
    return bool(_roles(user, deployment) & INCIDENT_ROLES)


def can_edit_supplier_hazards(user, product_version: ProductVersion) -> bool:
    return bool(account_permissions.roles_in(user, product_version.product.supplier_id) & SUPPLIER_HAZARD_ROLES)


def can_view_supplier_hazards(user, product_version: ProductVersion) -> bool:
    return account_permissions.is_national(user) or bool(
        account_permissions.roles_in(user, product_version.product.supplier_id)
    )


def can_decide_live_case(user, deployment: Deployment) -> bool:
    return bool(_roles(user, deployment) & {Role.CSO, Role.EXECUTIVE_APPROVER})


def can_escalate_incident(user, deployment: Deployment) -> bool:
    return Role.CSO in _roles(user, deployment)


def can_record_fault_finding(user, supplier_id: int) -> bool:
    return bool(account_permissions.roles_in(user, supplier_id) & {Role.SUPPLIER_CSO, Role.SUPPLIER_ASSURANCE_LEAD})


def can_upgrade(user, deployment: Deployment) -> bool:
    return Role.DEPLOYMENT_LEAD in _roles(user, deployment)


def can_plan_decommissioning(user, deployment: Deployment) -> bool:
    return bool(_roles(user, deployment) & EDIT_ROLES)
