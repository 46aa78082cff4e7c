"""The hazard log page for 200 hazards with 5 controls each, against a trivial signed-in page.

Both pages are requested through the whole Django stack (middleware, session, MFA check, view,
template) with the test client in this process, alternating so that machine load affects both
alike; the figure is the ratio of their medians. The page's query count is reported too.
"""

import statistics
import time

from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks import Measure
from nir_portal.accounts.models import Organisation, Role
from onboarding import services as onboarding_services
from safety.models import DeploymentHazard, HazardControl
from safety.services import safety_reference_data_load
from tests import factories

HAZARDS = 200
CONTROLS_PER_HAZARD = 5
ROUNDS = 25
TARGET_RATIO = 3.0


def _world():
    safety_reference_data_load()
    national = factories.OrganisationFactory(kind=Organisation.Kind.NATIONAL, region="")
    trust = factories.OrganisationFactory(name="Benchmark trust")
    supplier = factories.OrganisationFactory(kind=Organisation.Kind.SUPPLIER, region="")
    admin = factories.member(national, Role.NATIONAL_ADMIN)
    deployment = onboarding_services.deployment_create(
        actor=admin, organisation=trust, product_version=factories.product_version(supplier), name="Benchmark"
    )
    matrix = deployment.risk_plan.risk_matrix
    existing = DeploymentHazard.objects.filter(deployment=deployment).count()
    DeploymentHazard.objects.bulk_create(
        DeploymentHazard(
            deployment=deployment,
            number=existing + n + 1,
            source=DeploymentHazard.Source.LOCAL,
            name=f"Local hazard {n}",
            description="A hazard of this deployment.",
            risk_matrix=matrix,
            initial_severity="major",
            initial_likelihood="medium",
            initial_rating=3,
            residual_severity="major",
            residual_likelihood="low",
            residual_rating=3,
            residual_justification="Further reduction is impractical.",
        )
        for n in range(HAZARDS - existing)
    )
    HazardControl.objects.bulk_create(
        HazardControl(hazard=hazard, kind=kind, description=f"{kind} control", owner=trust)
        for hazard in DeploymentHazard.objects.filter(deployment=deployment)
        for kind in ("design", "test", "training", "business_process", "design")[:CONTROLS_PER_HAZARD]
    )
    return deployment, factories.member(trust, Role.CSO)


def _median_seconds(client: Client, url: str, samples: list[float]) -> None:
    started = time.perf_counter()
    response = client.get(url)
    samples.append(time.perf_counter() - started)
    assert response.status_code == 200, (url, response.status_code)


def run() -> list[Measure]:
    deployment, cso = _world()
    client = Client()
    client.force_login(cso, backend="django.contrib.auth.backends.ModelBackend")
    log_url = reverse("safety:hazard-log", kwargs={"pk": deployment.pk})
    trivial_url = reverse("accessibility-statement")
    for url in (log_url, trivial_url):  # warm caches and template loading
        client.get(url)
    executed: list[str] = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(log_url)
    log_samples: list[float] = []
    trivial_samples: list[float] = []
    for _ in range(ROUNDS):
        _median_seconds(client, log_url, log_samples)
        _median_seconds(client, trivial_url, trivial_samples)
    ratio = statistics.median(log_samples) / statistics.median(trivial_samples)
    return [
        Measure(
            f"hazard log ({HAZARDS} hazards x {CONTROLS_PER_HAZARD} controls) median",
            statistics.median(log_samples) * 1000,
            "ms",
        ),
        Measure("trivial signed-in page median", statistics.median(trivial_samples) * 1000, "ms"),
        Measure("hazard log / trivial page", ratio, "x", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO),
        Measure("hazard log queries", len(executed), "", "", None),
    ]
