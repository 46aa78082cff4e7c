from onboarding.models.dashboards import WeeklySnapshot
from onboarding.models.deployments import (
    Deployment,
    DeploymentSite,
    DeploymentStageChange,
    Product,
    ProductVersion,
)
from onboarding.models.evidence import (
    Evidence,
    EvidenceComment,
    EvidenceFile,
    EvidenceLink,
    EvidenceRevision,
    Review,
)
from onboarding.models.framework import Area, Framework, Requirement
from onboarding.models.pars import ParsException, ParsReport

__all__ = [
    "Area",
    "Deployment",
    "DeploymentSite",
    "DeploymentStageChange",
    "Evidence",
    "EvidenceComment",
    "EvidenceFile",
    "EvidenceLink",
    "EvidenceRevision",
    "Framework",
    "ParsException",
    "ParsReport",
    "Product",
    "ProductVersion",
    "Requirement",
    "Review",
    "WeeklySnapshot",
]
