"""A signed CSCR bundle for a deployment with 200 hazards: the whole job against WeasyPrint alone.

A throwaway database gets a trust's deployment whose hazard log holds 200 hazards (the national
library's and local ones, each scored, most with controls), signed off by its CSO. Then, in rounds
that interleave the two so that load from other processes falls on both sides of each ratio:
- the job: `cscr_services.bundle_build` for a queued job row, exactly as the worker runs it (context
  from the signed snapshot, template, WeasyPrint, PAdES signature, CSV/JSON, ZIP, CMS signature of
  the manifest, atomic write to storage, the row completed);
- WeasyPrint alone rendering the same HTML the job rendered (captured from the job itself).
Peak memory is the RSS growth of a job run in a fresh forked process (as a recycled worker child
starts), sampled every 5 ms, divided by the PDF's pages. Signing time is pyHanko's PAdES signature
of the rendered PDF against `sha256sum` (and `openssl dgst -sha256`) of the same file.
"""

import gc
import io
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import override_settings

from benchmarks import Measure, PeakRss

HAZARDS = 200
LARGE_HAZARDS = 1000
ROUNDS = 4
# A signature takes a few tens of milliseconds once the key is parsed once (not per signature), so a
# scheduling blip on a shared machine moves one sample by a fifth: more samples, each from a
# collected heap.
SIGNING_ROUNDS = 15
TARGET_RATIO = 1.1
TARGET_MB_PER_PAGE = 10.0
TARGET_SIGNING_RATIO = 1.2

WORDS = (
    "network",
    "gateway",
    "report",
    "study",
    "series",
    "clinician",
    "radiographer",
    "worklist",
    "timeout",
    "identifier",
    "demographics",
    "consent",
    "retrieval",
    "query",
    "priors",
    "modality",
    "vetting",
    "audit",
)


def _text(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(words)).capitalize() + "."


def _arrange(hazards: int = HAZARDS, tag: str = "BENCH"):
    """A deployment with `hazards` scored hazards and controls, signed off; returns (cso, deployment).
    `tag` keeps the organisations and people of two such deployments apart."""
    from nir_portal.accounts import services as account_services
    from nir_portal.accounts.models import CSOProfile, Organisation, Role, User
    from onboarding import services as onboarding_services
    from onboarding.models import Product, ProductVersion
    from safety.models import DeploymentHazard, HazardControl
    from safety.services.reference import safety_reference_data_load
    from safety.services.sign_off import sign_off_create

    safety_reference_data_load()
    national, _created = Organisation.objects.get_or_create(
        ods_code="X26", defaults={"name": "NHS England", "kind": Organisation.Kind.NATIONAL}
    )
    trust = Organisation.objects.create(
        ods_code=f"R{tag}", name=f"Benchmark Hospitals NHS Trust {tag}", kind=Organisation.Kind.TRUST
    )
    supplier = Organisation.objects.create(
        ods_code=f"S{tag}", name=f"Benchmark Imaging Ltd {tag}", kind=Organisation.Kind.SUPPLIER
    )
    admin = User.objects.create_user(f"admin-{tag.lower()}@bench.invalid", full_name="National Admin")
    account_services.membership_grant(actor=None, organisation=national, user=admin, role=Role.NATIONAL_ADMIN)
    cso = User.objects.create_user(f"cso-{tag.lower()}@bench.invalid", full_name="Dr Bench Marker")
    account_services.membership_grant(actor=None, organisation=trust, user=cso, role=Role.CSO)
    CSOProfile.objects.create(
        user=cso, professional_body="GMC", registration_number="1234567", registration_checked_on=date(2026, 1, 5)
    )
    version = ProductVersion.objects.create(
        product=Product.objects.create(supplier=supplier, name="PACS NIR"),
        version="4.2",
        dcb0129_reference="DCB0129-PACS-4.2",
    )
    deployment = onboarding_services.deployment_create(
        actor=admin,
        organisation=trust,
        product_version=version,
        name="Benchmark NIR",
        sites=["Main site", "North site"],
    )
    matrix = deployment.risk_plan.risk_matrix
    existing = DeploymentHazard.objects.filter(deployment=deployment).count()
    DeploymentHazard.objects.bulk_create(
        [
            DeploymentHazard(
                deployment=deployment,
                number=number,
                source=DeploymentHazard.Source.LOCAL,
                name=f"Local hazard {number}: {_text(number, 5)[:-1].lower()}",
                description=_text(number, 30),
                clinical_impact=_text(number + 1, 18),
                causes=_text(number + 2, 22),
                risk_matrix=matrix,
            )
            for number in range(existing + 1, hazards + 1)
        ]
    )
    DeploymentHazard.objects.filter(deployment=deployment).update(
        initial_severity="major",
        initial_likelihood="medium",
        initial_rating=matrix.rating("major", "medium"),
        residual_severity="significant",
        residual_likelihood="low",
        residual_rating=matrix.rating("significant", "low"),
        operating_limits="Holds while audited monthly.",
    )
    kinds = [k for k, _ in HazardControl.Kind.choices]
    HazardControl.objects.bulk_create(
        [
            HazardControl(
                hazard=hazard,
                kind=kinds[(hazard.number + i) % len(kinds)],
                owner=trust,
                description=_text(hazard.number + i, 14),
            )
            for hazard in DeploymentHazard.objects.filter(deployment=deployment)
            for i in range(hazard.number % 3)
        ]
    )
    sign_off_create(
        actor=cso,
        deployment=deployment,
        mfa_verified_at=time.time(),
        statement="The residual risks are acceptable for go-live.",
        conditions=[],
    )
    return cso, deployment


def _queued_job(cso, deployment, job=None):
    """The benchmark's one job row, queued again: each round runs the whole job anew on it."""
    from safety.models import CSCRBundleJob, SignOff

    if job is None:
        return CSCRBundleJob.objects.create(
            deployment=deployment, requested_by=cso, version=1, sign_off=SignOff.objects.get(deployment=deployment)
        )
    CSCRBundleJob.objects.filter(pk=job.pk).update(status="queued", attempts=0, storage_name="", bundle_sha256="")
    return job


def _job(job_id: int, captured: dict) -> float:
    """Wall seconds of one job, with the HTML it rendered captured."""
    from safety import cscr_services
    from safety.cscr import document

    render = document.html_to_pdf

    def capturing(html: str):
        captured["html"] = html
        result = render(html)
        captured["pdf"], captured["pages"] = result.pdf, result.pages
        return result

    document.html_to_pdf = capturing
    try:
        started = time.perf_counter()
        outcome = cscr_services.bundle_build(job_id=job_id)
        elapsed = time.perf_counter() - started
    finally:
        document.html_to_pdf = render
    if outcome.status != "complete":
        raise RuntimeError(f"the benchmark job did not complete: {outcome}")
    return elapsed


def _weasyprint_alone(html: str) -> float:
    from weasyprint import HTML

    from safety.cscr.document import base_url

    started = time.perf_counter()
    HTML(string=html, base_url=base_url()).write_pdf()
    return time.perf_counter() - started


def _command(command: list[str], path: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*command, str(path)], check=True, capture_output=True)  # noqa: S603  fixed tools
    return time.perf_counter() - started


def _memory_in_fresh_process(job_id: int, queue) -> None:
    """In a forked process: warm up on a one-page render, then one job; report RSS growth, peak
    RSS, pages and the job's seconds."""
    connection.close()  # the parent's connection must not be shared across the fork
    _weasyprint_alone("<p>warm-up</p>")
    captured: dict = {}
    with PeakRss() as rss:
        seconds = _job(job_id, captured)
    queue.put((rss.growth, rss.peak_rss, captured["pages"], seconds))


def _job_in_fresh_process(job_id: int) -> tuple[int, int, int, float]:
    """(RSS growth, peak RSS, pages, seconds) of one job run in a fresh fork, as a recycled worker
    child runs it."""
    connection.close()  # not shared across the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_memory_in_fresh_process, args=(job_id, queue))
    child.start()
    try:
        return queue.get(timeout=settings.CELERY_TASK_TIME_LIMIT)
    finally:
        child.join()


def _sign_as_the_job(pdf: bytes) -> float:
    """Seconds the job spends on the PAdES signature: loading the key as the job does, then
    `signing.pdf_sign`."""
    from safety.cscr import signing

    started = time.perf_counter()
    signing.pdf_sign(
        pdf, signing.signing_credentials(), reason="benchmark", location="benchmark", tsa=signing.timestamper()
    )
    return time.perf_counter() - started


def _sign_with_pyhanko_alone(pdf: bytes, signer) -> float:
    """Seconds for pyHanko alone to sign the same PDF with an already loaded signer."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    started = time.perf_counter()
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), metadata, signer=signer, output=io.BytesIO())
    return time.perf_counter() - started


def run() -> list[Measure]:
    missing = [tool for tool in ("sha256sum", "openssl") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"needs {', '.join(missing)} on PATH")
    from safety.cscr import signing

    work = Path(tempfile.mkdtemp(prefix="nir-bench-cscr-"))
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_cscr_{os.getpid()}"
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    storages = {
        **settings.STORAGES,
        "cscr": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": work / "cscr"}},
    }
    try:
        with override_settings(STORAGES=storages, CSCR_TSA_URL="", CSCR_TEST_RENDER_DELAY_SECONDS=0):
            started = time.perf_counter()
            cso, deployment = _arrange()
            arrange_seconds = time.perf_counter() - started
            credentials = signing.signing_credentials()
            job = _queued_job(cso, deployment)

            # Memory first, from a process that has rendered nothing yet: a job in a fresh fork, as a
            # recycled worker child runs it.
            growth, peak, pages, first_seconds = _job_in_fresh_process(job.pk)

            captured: dict = {}
            _job(_queued_job(cso, deployment, job).pk, captured)  # warm-up: imports, fonts, caches
            rounds = []
            for number in range(ROUNDS):
                # Alternate which goes first, and start each from a collected heap, so that neither
                # side pays for the other's garbage.
                gc.collect()
                alone = _weasyprint_alone(captured["html"]) if number % 2 == 0 else None
                gc.collect()
                elapsed = _job(_queued_job(cso, deployment, job).pk, captured)
                if alone is None:
                    gc.collect()
                    alone = _weasyprint_alone(captured["html"])
                rounds.append({"alone": alone, "job": elapsed})
            pdf_path = work / "cscr-unsigned.pdf"
            pdf_path.write_bytes(captured["pdf"])
            signing_rounds = []
            for number in range(SIGNING_ROUNDS):
                sha256sum = _command(["sha256sum"], pdf_path)
                openssl = _command(["openssl", "dgst", "-sha256"], pdf_path)
                # Alternate which goes first, as above.
                gc.collect()
                pyhanko = _sign_with_pyhanko_alone(captured["pdf"], credentials.signer) if number % 2 else None
                gc.collect()
                sign = _sign_as_the_job(captured["pdf"])
                if pyhanko is None:
                    gc.collect()
                    pyhanko = _sign_with_pyhanko_alone(captured["pdf"], credentials.signer)
                signing_rounds.append({"sign": sign, "pyhanko": pyhanko, "sha256sum": sha256sum, "openssl": openssl})

            # The largest hazard log the worker is expected to take in one job, in a fresh process.
            large_cso, large_deployment = _arrange(LARGE_HAZARDS, "LARGE")
            large_job = _queued_job(large_cso, large_deployment)
            _large_growth, large_peak, large_pages, large_seconds = _job_in_fresh_process(large_job.pk)
    finally:
        connection.close()
        connection.creation.destroy_test_db(original_name, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)

    def median(key: str, data: list[dict]) -> float:
        return statistics.median(r[key] for r in data)

    ratio = statistics.median(r["job"] / r["alone"] for r in rounds)
    # The Celery worker's recycle limits: billiard replaces a pool child whose RSS is above
    # worker_max_memory_per_child (KiB) after a task; a task past the soft time limit is stopped.
    memory_limit_mb = settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD / 1024
    time_limit = float(settings.CELERY_TASK_SOFT_TIME_LIMIT)
    per_page_mb = growth / (1024 * 1024) / pages
    sign_pyhanko = statistics.median(r["sign"] / r["pyhanko"] for r in signing_rounds)
    sign_ratio = statistics.median(r["sign"] / r["sha256sum"] for r in signing_rounds)
    sign_openssl = statistics.median(r["sign"] / r["openssl"] for r in signing_rounds)
    return [
        Measure("hazards in the signed log", HAZARDS, "", ""),
        Measure("PDF pages", pages, "", ""),
        Measure("PDF size", len(captured["pdf"]) / 1e6, "MB"),
        Measure("arranging the deployment and sign-off (not timed below)", arrange_seconds, "s"),
        Measure("WeasyPrint alone, same HTML", median("alone", rounds), "s"),
        Measure("the whole job (context, render, sign, ZIP, store)", median("job", rounds), "s"),
        Measure("job / WeasyPrint alone", ratio, "x", f"<= {TARGET_RATIO}", ratio <= TARGET_RATIO),
        Measure("peak RSS growth of a job in a fresh process", growth / (1024 * 1024), "MB"),
        Measure("peak RSS of that process", peak / (1024 * 1024), "MB"),
        Measure(
            "peak memory per page", per_page_mb, "MB", f"<= {TARGET_MB_PER_PAGE:g}", per_page_mb <= TARGET_MB_PER_PAGE
        ),
        Measure("first job in a fresh process (cold)", first_seconds, "s"),
        Measure("PAdES signing of the PDF, as the job signs (key loaded too)", median("sign", signing_rounds), "s"),
        Measure("pyHanko alone signing the same PDF (key already loaded)", median("pyhanko", signing_rounds), "s"),
        Measure(
            "signing / pyHanko alone",
            sign_pyhanko,
            "x",
            f"<= {TARGET_SIGNING_RATIO}",
            sign_pyhanko <= TARGET_SIGNING_RATIO,
        ),
        Measure("sha256sum of the same PDF", median("sha256sum", signing_rounds), "s"),
        Measure("signing / sha256sum", sign_ratio, "x"),
        Measure("signing / openssl dgst -sha256", sign_openssl, "x"),
        Measure(f"{LARGE_HAZARDS} hazards: PDF pages", large_pages, ""),
        Measure(
            f"{LARGE_HAZARDS} hazards: the whole job in a fresh process",
            large_seconds,
            "s",
            f"<= {time_limit:g} (soft limit)",
            large_seconds <= time_limit,
        ),
        Measure(
            f"{LARGE_HAZARDS} hazards: peak RSS of that process",
            large_peak / (1024 * 1024),
            "MB",
            f"<= {memory_limit_mb:.0f} (per child)",
            large_peak / (1024 * 1024) <= memory_limit_mb,
        ),
        Measure(
            "  worker_max_tasks_per_child (a CSCR job counts as one)", settings.CELERY_WORKER_MAX_TASKS_PER_CHILD, ""
        ),
    ]
