"""Clinical safety: the risk matrix, the national hazard library, supplier DCB0129 hazards, each
deployment's hazard log, the CSO's sign-off, go-live authorisation and safety incidents.

The models live in the modules below by subject; every one is re-exported here, so `safety.models.X`
(and the migrations) name them as before."""

from safety.lifecycle.models import (
    DecommissioningAuthorisation,
    DecommissioningPlan,
    HazardReReview,
    IncidentEscalation,
    LiveCaseDecision,
    PeriodicReview,
    SupplierHazardDelta,
)
from safety.models.cscr_jobs import CSCRBundleJob
from safety.models.hazards import DeploymentHazard, HazardAction, HazardChange, HazardControl, SupplierHazard
from safety.models.incidents import IncidentJournalEntry, SafetyIncident
from safety.models.reference import (
    ClinicalRiskManagementPlan,
    HazardLibrary,
    LibraryHazard,
    Likelihood,
    RiskMatrix,
    Severity,
)
from safety.models.sign_offs import GoLiveAuthorisation, ReReviewRequest, SignOff

__all__ = [
    "CSCRBundleJob",
    "ClinicalRiskManagementPlan",
    "DecommissioningAuthorisation",
    "DecommissioningPlan",
    "DeploymentHazard",
    "GoLiveAuthorisation",
    "HazardAction",
    "HazardChange",
    "HazardControl",
    "HazardLibrary",
    "HazardReReview",
    "IncidentEscalation",
    "IncidentJournalEntry",
    "LibraryHazard",
    "Likelihood",
    "LiveCaseDecision",
    "PeriodicReview",
    "ReReviewRequest",
    "RiskMatrix",
    "SafetyIncident",
    "Severity",
    "SignOff",
    "SupplierHazard",
    "SupplierHazardDelta",
]
