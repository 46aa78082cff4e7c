"""Hazard logs, sign-offs and go-live authorisations for generated deployments: each log started
from the library and the supplier's transferred hazards, scored as far as the deployment got."""

from collections import defaultdict
from datetime import timedelta

from dashboards.seeding.base import SeedingState
from dashboards.seeding.names import LIKELIHOODS, SEVERITIES, SUPPLIER_HAZARDS
from nir_portal.accounts.models import Role
from onboarding.models import Deployment
from onboarding.models.deployments import STAGE_ORDER
from safety.models import ClinicalRiskManagementPlan, DeploymentHazard, GoLiveAuthorisation, SignOff, SupplierHazard
from safety.snapshots import snapshot_build, snapshot_sha256


class SafetySeeding(SeedingState):
    """Mixed into ScaleSeeder: needs its rng, today, now, matrix, library, people, versions,
    deployments, `_bulk` and `_progress`."""

    def _hazards(self) -> None:
        self._bulk(
            ClinicalRiskManagementPlan,
            [ClinicalRiskManagementPlan(deployment=d, risk_matrix=self.matrix) for d in self.deployments],
        )
        supplier_hazards = []
        for version in self.versions:
            supplier_id = version.product.supplier_id
            for n in range(self.rng.randint(3, 5)):
                transferred = self.rng.random() < 0.6
                supplier_hazards.append(
                    SupplierHazard(
                        product_version=version,
                        code=f"SH-{n + 1:02d}",
                        name=self.rng.choice(SUPPLIER_HAZARDS),
                        description="Identified in the supplier's DCB0129 hazard log.",
                        clinical_impact="Delayed or wrong care.",
                        causes="Integration fault.",
                        supplier_controls="Design and test controls in the product.",
                        is_transferred=transferred,
                        transfer_note="Train staff and validate the workflow locally." if transferred else "",
                        created_by=self.people[(supplier_id, Role.SUPPLIER_CSO)],
                    )
                )
        supplier_hazards = self._bulk(SupplierHazard, supplier_hazards, "supplier hazards")
        transferred = defaultdict(list)
        for hazard in supplier_hazards:
            if hazard.is_transferred:
                transferred[hazard.product_version_id].append(hazard)
        library = list(self.library.hazards.all())
        hazards = []
        for deployment in self.deployments:
            progress = self._progress(deployment)
            signed = progress >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            scored_share = {0: 0.0, 1: 0.2, 2: 0.5, 3: 0.9}.get(progress, 1.0)
            sources = [("library", h) for h in library] + [
                ("supplier", h) for h in transferred[deployment.product_version_id]
            ]
            for number, (source, item) in enumerate(sources, start=1):
                hazard = DeploymentHazard(
                    deployment=deployment,
                    number=number,
                    source=source,
                    name=item.name,
                    description=item.description,
                    clinical_impact=item.clinical_impact,
                    causes=item.causes,
                    risk_matrix=self.matrix,
                )
                if source == "library":
                    hazard.library_hazard = item
                else:
                    hazard.supplier_hazard = item
                    hazard.existing_controls = item.supplier_controls
                    hazard.status = DeploymentHazard.Status.TRANSFERRED
                    decided = signed or self.rng.random() < scored_share
                    decision = (
                        self.rng.choices(["accepted", "adapted", "rejected"], [7, 2, 1])[0] if decided else "pending"
                    )
                    hazard.transfer_decision = decision
                    if decision != "pending":
                        hazard.transfer_justification = "Reviewed against our local workflow."
                    if decision == "rejected":
                        hazard.is_applicable = False
                        hazard.applicability_justification = "The feature is not used at our sites."
                if source == "library" and self.rng.random() < 0.05:
                    hazard.is_applicable = False
                    hazard.applicability_justification = "Not applicable to our configuration."
                if signed or self.rng.random() < scored_share:
                    self._score(hazard, signed=signed)
                if signed and hazard.residual_rating and hazard.residual_rating <= 2 and self.rng.random() < 0.3:
                    hazard.status = DeploymentHazard.Status.CLOSED
                hazards.append(hazard)
        self._bulk(DeploymentHazard, hazards, "hazards")

    def _score(self, hazard, *, signed: bool) -> None:
        severity = self.rng.choice(SEVERITIES[1:])
        likelihood = self.rng.choice(LIKELIHOODS[1:])
        hazard.initial_severity, hazard.initial_likelihood = severity, likelihood
        hazard.initial_rating = self.matrix.rating(severity, likelihood)
        residual_likelihood = LIKELIHOODS[max(0, LIKELIHOODS.index(likelihood) - self.rng.randint(1, 3))]
        residual_severity = severity if self.rng.random() < 0.7 else SEVERITIES[SEVERITIES.index(severity) - 1]
        rating = self.matrix.rating(residual_severity, residual_likelihood)
        if signed and rating > 3:
            residual_severity, residual_likelihood = "minor", "low"
            rating = self.matrix.rating(residual_severity, residual_likelihood)
        hazard.residual_severity, hazard.residual_likelihood, hazard.residual_rating = (
            residual_severity,
            residual_likelihood,
            rating,
        )
        if rating == 3:
            hazard.residual_justification = "Further reduction is impractical; the operating limits hold."

    # --- sign-offs and go-live ------------------------------------------------------------------

    def _sign_offs(self) -> None:

        current, superseded = [], []
        for deployment in self.deployments:
            progress = self._progress(deployment)
            authorised = progress >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            at_sign_off = deployment.stage == Deployment.Stage.SAFETY_SIGN_OFF
            roll = self.rng.random()
            if not authorised and not (at_sign_off and roll < 0.5):
                continue
            cso = self.people[(deployment.organisation_id, Role.CSO)]
            snapshot = snapshot_build(deployment)
            fields = {
                "deployment": deployment,
                "cso": cso,
                "cso_name": cso.full_name,
                "professional_body": "HCPC",
                "registration_number": f"RA{cso.pk:06d}",
                "registration_checked_on": self.today - timedelta(days=60),
                "statement": "The residual risks are acceptable within the stated operating limits.",
                "snapshot": snapshot,
                "snapshot_sha256": snapshot_sha256(snapshot),
            }
            if authorised or roll < 0.25:
                current.append(SignOff(**fields))
            if (authorised and self.rng.random() < 0.15) or (not authorised and roll >= 0.25):
                superseded.append(
                    SignOff(
                        **{**fields, "snapshot_sha256": "0" * 64},
                        status=SignOff.Status.SUPERSEDED,
                        superseded_at=self.now - timedelta(days=20),
                        superseded_changes=["A hazard's residual risk was reassessed."],
                    )
                )
        self._bulk(SignOff, superseded, "superseded sign-offs")
        current = self._bulk(SignOff, current, "current sign-offs")
        self._bulk(
            GoLiveAuthorisation,
            [
                GoLiveAuthorisation(
                    sign_off=s,
                    deployment=s.deployment,
                    snapshot_sha256=s.snapshot_sha256,
                    approver=self.people[(s.deployment.organisation_id, Role.EXECUTIVE_APPROVER)],
                    statement="I accept the residual risk on behalf of the organisation.",
                )
                for s in current
                if self._progress(s.deployment) >= STAGE_ORDER.index(Deployment.Stage.GO_LIVE_AUTHORISED)
            ],
            "go-live authorisations",
        )
