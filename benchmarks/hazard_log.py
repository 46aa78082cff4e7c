"""The hazard log page (200 hazards x 5 controls) against a trivial signed-in page; queries as the log grows to 500.

Both pages are requested through the whole Django stack (middleware, session, MFA check, view,
template) with the test client in this process, alternating so that machine load affects both
alike; the figure is the ratio of their medians. The page's query count is counted for logs of
the library's dozen or so, 200 and 500 hazards (three deployments of one trust) and must not grow with the log.
"""

import os
import statistics
import time

from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks import Measure
from nir_portal.accounts.models import Organisation, Role
from onboarding import services as onboarding_services
from safety.models import DeploymentHazard, HazardControl
from safety.selectors import hazard_log_page
from safety.services.reference import safety_reference_data_load
from safety.templatetags.hazard_log import hazard_log_rows
from tests import factories

HAZARDS = 200
# The smallest log is what a new deployment starts with: the national library's hazards (a dozen or
# so; hazards are never deleted, so none can be taken away to make it exactly 10).
QUERY_SIZES = (0, HAZARDS, 500)
CONTROLS_PER_HAZARD = 5
ROUNDS = 25
TARGET_RATIO = 2.0


def _world() -> tuple[dict[int, object], object]:
    """Deployments of one trust whose logs hold each of QUERY_SIZES hazards, and the trust's CSO."""
    safety_reference_data_load()
    national = factories.OrganisationFactory(kind=Organisation.Kind.NATIONAL, region="")
    trust = factories.OrganisationFactory(name="Benchmark trust")
    supplier = factories.OrganisationFactory(kind=Organisation.Kind.SUPPLIER, region="")
    admin = factories.member(national, Role.NATIONAL_ADMIN)
    deployments = {}
    for size in QUERY_SIZES:
        version = factories.product_version(supplier, name=f"Connector {size}")
        deployment = _deployment(admin, trust, version, name=f"Benchmark {size}", hazards=size)
        deployments[DeploymentHazard.objects.filter(deployment=deployment).count()] = deployment
    return deployments, factories.member(trust, Role.CSO)


def _deployment(admin, trust, version, *, name: str, hazards: int):
    deployment = onboarding_services.deployment_create(
        actor=admin, organisation=trust, product_version=version, name=name
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
        for n in range(hazards - existing)
    )
    HazardControl.objects.bulk_create(
        HazardControl(hazard=hazard, kind=kind, description=f"{kind} control", owner=trust)
        for hazard in DeploymentHazard.objects.filter(deployment=deployment)
        for kind in ("design", "test", "training", "business_process", "design")[:CONTROLS_PER_HAZARD]
    )
    return deployment


def _median_seconds(client: Client, url: str, samples: list[float]) -> None:
    started = time.perf_counter()
    response = client.get(url)
    samples.append(time.perf_counter() - started)
    assert response.status_code == 200, (url, response.status_code)


def _queries(client: Client, url: str) -> int:
    executed: list[str] = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(executed)


def _stages(cso, deployment) -> list[Measure]:
    """Where the log page's own time goes, each stage timed alone (after the pages, so it does not
    disturb them): reading the deployment, the summary query, and building the table's rows."""
    pk = deployment.pk
    rows = hazard_log_page.hazard_log_summary(user=cso, deployment=deployment)
    stages = {
        "deployment read (with latest sign-off)": lambda: hazard_log_page.hazard_log_page_deployment(cso, pk=pk),
        "summary query": lambda: hazard_log_page.hazard_log_summary(user=cso, deployment=deployment),
        "table rows built": lambda: hazard_log_rows(rows, "/hazards/"),
    }
    measures = []
    for name, stage in stages.items():
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            stage()
            samples.append(time.perf_counter() - started)
        measures.append(Measure(f"  stage: {name} median", statistics.median(samples) * 1000, "ms"))
    return measures


def run() -> list[Measure]:
    deployments, cso = _world()
    client = Client()
    client.force_login(cso, backend="django.contrib.auth.backends.ModelBackend")
    urls = {size: reverse("safety:hazard-log", kwargs={"pk": d.pk}) for size, d in deployments.items()}
    log_url = urls[max(size for size in urls if size <= HAZARDS)]
    trivial_url = reverse("accessibility-statement")
    for url in (*urls.values(), trivial_url):  # template loading and the connection: what any running server has
        client.get(url)
    queries = {size: _queries(client, url) for size, url in urls.items()}
    load = os.getloadavg()[0]
    log_samples: list[float] = []
    trivial_samples: list[float] = []
    for _ in range(ROUNDS):
        _median_seconds(client, log_url, log_samples)
        _median_seconds(client, trivial_url, trivial_samples)
    ratio = statistics.median(log_samples) / statistics.median(trivial_samples)
    log_size = max(size for size in deployments if size <= HAZARDS)
    stages = _stages(cso, deployments[log_size])
    smallest, largest = min(queries), max(queries)
    return [
        Measure(
            f"hazard log ({HAZARDS} hazards x {CONTROLS_PER_HAZARD} controls) median",
            statistics.median(log_samples) * 1000,
            "ms",
        ),
        *stages,
        Measure("trivial signed-in page median", statistics.median(trivial_samples) * 1000, "ms"),
        Measure("hazard log / trivial page", ratio, "x", f"<= {TARGET_RATIO:g}", ratio <= TARGET_RATIO),
        *(Measure(f"hazard log queries, {size} hazards", n, "") for size, n in queries.items()),
        Measure(
            f"queries {smallest} -> {largest} hazards (flat)",
            queries[largest] - queries[smallest],
            "more",
            "0",
            queries[largest] <= queries[smallest],
        ),
        Measure("load average (1 min) while measuring", load, ""),
    ]
