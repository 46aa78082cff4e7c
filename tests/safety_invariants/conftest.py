"""Shared arrangements for the clinical-safety invariant tests: the onboarding world opened after
the safety reference data and the default framework, and a `safety` helper that drives the real
services (assessments, accepted evidence, verified controls, sign-off)."""

import itertools
import time
from datetime import date

import pytest
from django.conf import settings

from nir_portal.accounts.models import CSOProfile, Organisation
from onboarding.models import Deployment, Evidence, EvidenceRevision
from safety.models import DeploymentHazard, HazardControl, RiskMatrix, SignOff
from safety.services.controls import control_save
from safety.services.hazards import hazard_transfer_decide, hazard_update
from safety.services.reference import safety_reference_data_load
from safety.services.sign_off import sign_off_create
from tests import factories
from tests.onboarding import evidence_fixtures as fx

# pytest finds fixtures by name in this module; a named import would be flagged as redefined by every
# fixture argument of the same name. `world` is redefined below.
from tests.onboarding.evidence_fixtures import *  # noqa: F403

STATEMENT = "The hazard log is complete and every residual risk is acceptable for go-live."
_numbers = itertools.count(1)


@pytest.fixture
def safety_reference(db) -> RiskMatrix:
    matrix, _ = safety_reference_data_load()
    return matrix


@pytest.fixture
def world(safety_reference, default_framework, world):
    """The conftest world, opened after the risk matrix, hazard library and framework were loaded,
    so both deployments start a hazard log under the default matrix."""
    assert world.deployment_a.framework_id == default_framework.pk
    assert DeploymentHazard.objects.filter(deployment=world.deployment_a).exists()
    return world


def recent_mfa() -> float:
    return time.time()


def stale_mfa() -> float:
    return time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT - 1


class Safety:
    """Drives the safety services the way the portal does, always with the latest hazard version."""

    def __init__(self, world, people):
        self.world = world
        self.people = people

    # --- people -----------------------------------------------------------------------------

    def cso_profile(self, user) -> CSOProfile:
        profile, _ = CSOProfile.objects.get_or_create(
            user=user,
            defaults={
                "professional_body": CSOProfile.ProfessionalBody.NMC,
                "registration_number": f"NMC{next(_numbers):06d}",
                "registration_checked_on": factories.recent_registration_check(),
            },
        )
        return profile

    @property
    def cso(self):
        """Trust A's CSO, with a professional registration on record."""
        user = self.people.a_cso
        self.cso_profile(user)
        return user

    # --- hazard log -------------------------------------------------------------------------

    def hazards(self, deployment: Deployment | None = None) -> list[DeploymentHazard]:
        deployment = deployment or self.world.deployment_a
        return list(DeploymentHazard.objects.filter(deployment=deployment).order_by("number"))

    @staticmethod
    def fresh(hazard: DeploymentHazard) -> DeploymentHazard:
        return DeploymentHazard.objects.get(pk=hazard.pk)

    def update(self, hazard: DeploymentHazard, *, actor=None, **fields) -> DeploymentHazard:
        hazard = self.fresh(hazard)
        return hazard_update(actor=actor or self.cso, hazard=hazard, expected_version=hazard.version, **fields)

    def assess(
        self, hazard: DeploymentHazard, initial: tuple[str, str], residual: tuple[str, str], *, actor=None, **fields
    ) -> DeploymentHazard:
        """Score a hazard: (severity, likelihood) before and after its controls."""
        fields.setdefault("residual_justification", "Further reduction is impractical for this deployment.")
        return self.update(
            hazard,
            actor=actor,
            initial_severity=initial[0],
            initial_likelihood=initial[1],
            residual_severity=residual[0],
            residual_likelihood=residual[1],
            **fields,
        )

    def make_signable(self, deployment: Deployment | None = None) -> None:
        """Every applicable hazard scored residual 1 and every transferred hazard decided."""
        deployment = deployment or self.world.deployment_a
        for hazard in self.hazards(deployment):
            if hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING:
                hazard_transfer_decide(
                    actor=self.cso,
                    hazard=hazard,
                    decision=DeploymentHazard.TransferDecision.ACCEPTED,
                    justification="Our imaging team will apply the supplier's workaround.",
                    expected_version=hazard.version,
                    mfa_verified_at=time.time(),
                )
            self.assess(hazard, ("major", "low"), ("minor", "very_low"), residual_justification="")

    def control(
        self,
        hazard: DeploymentHazard,
        *,
        revisions: list[EvidenceRevision] | None = None,
        verified: bool | None = None,
        owner: Organisation | None = None,
        kind: str = HazardControl.Kind.TEST,
    ) -> HazardControl:
        hazard = self.fresh(hazard)
        revisions = revisions or []
        return control_save(
            actor=self.cso,
            hazard=hazard,
            expected_version=hazard.version,
            kind=kind,
            description=f"Control {next(_numbers)}: worklist reconciliation tested before go-live.",
            owner=owner or hazard.deployment.organisation,
            is_verified=bool(revisions) if verified is None else verified,
            evidence_revisions=revisions,
        )

    # --- evidence ---------------------------------------------------------------------------

    def accepted_evidence(
        self,
        deployment: Deployment | None = None,
        *,
        codes: tuple[str, ...] = ("GOV-03",),
        effective_date: date = fx.EFFECTIVE,
        title: str | None = None,
    ) -> Evidence:
        """Trust evidence with one clean file, accepted by the national reviewer for the deployment."""
        deployment = deployment or self.world.deployment_a
        evidence = fx.trust_evidence(
            self.people.a_contributor,
            deployment,
            list(codes),
            files=1,
            effective_date=effective_date,
            title=title or f"Worklist reconciliation test report {next(_numbers)}",
        )
        fx.mark_clean(evidence)
        fx.accepted(self.people.reviewer, evidence, deployment)
        return evidence

    @staticmethod
    def latest_revision(evidence: Evidence) -> EvidenceRevision:
        return evidence.revisions.order_by("-number").first()

    def revise(
        self, evidence: Evidence, *, accept: bool = False, deployment: Deployment | None = None
    ) -> EvidenceRevision:
        from onboarding.services.evidence.contributions import evidence_revise

        revision = evidence_revise(
            actor=self.people.a_contributor,
            evidence=evidence,
            statement="Re-run after the connector update.",
            effective_date=fx.EFFECTIVE,
            files=[fx.upload()],
            based_on_revision=self.latest_revision(evidence).number,
        )
        if accept:
            fx.mark_clean(evidence)
            fx.accepted(self.people.reviewer, evidence, deployment or self.world.deployment_a)
        return revision

    # --- sign-off ---------------------------------------------------------------------------

    def sign(
        self,
        deployment: Deployment | None = None,
        *,
        actor=None,
        conditions: list[dict] | None = None,
        mfa_verified_at: float | None = None,
        statement: str = STATEMENT,
    ) -> SignOff:
        return sign_off_create(
            actor=actor or self.cso,
            deployment=deployment or self.world.deployment_a,
            statement=statement,
            conditions=conditions or [],
            mfa_verified_at=recent_mfa() if mfa_verified_at is None else mfa_verified_at,
        )


@pytest.fixture
def safety(world, people) -> Safety:
    return Safety(world, people)
