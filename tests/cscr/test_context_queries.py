"""The CSCR's content is gathered in a fixed number of queries: a signed log with more hazards,
controls and evidence relied upon costs the job no more of them."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from safety.cscr import document
from safety.models import CSCRBundleJob, DeploymentHazard, HazardControl
from safety.services.controls import control_save
from safety.services.hazards import hazard_add_local
from tests.cscr.conftest import make_signable, sign, stored_evidence


def _queries_for_the_content(sign_off, version: int) -> int:
    job = CSCRBundleJob.objects.create(
        deployment=sign_off.deployment, sign_off=sign_off, requested_by=sign_off.cso, version=version
    )
    # As the worker holds it once it has claimed the job.
    job = CSCRBundleJob.objects.select_related("deployment__organisation", "sign_off", "requested_by").get(pk=job.pk)
    with CaptureQueriesContext(connection) as queries:
        index = document.evidence_index(job.sign_off)
        context = document.cscr_context(
            job, issued_at=timezone.now(), signer_subject="CN=test", signer_fingerprint="0" * 64, evidence=index
        )
        document.render_html(context)
    return len(queries)


def test_more_hazards_controls_and_evidence_cost_no_more_queries(signed_off, world, people):
    smaller = _queries_for_the_content(signed_off, version=1)
    deployment, cso = world.deployment_a, people.cso_a
    for n in range(3):
        hazard_add_local(actor=cso, deployment=deployment, name=f"Local hazard {n}", description="Found on site.")
    for number in (2, 3, 4):
        revision = stored_evidence(world, people, title=f"Test report {number}", content=b"%PDF-1.7 " * number)
        revision = revision.revisions.get()
        hazard = DeploymentHazard.objects.get(deployment=deployment, number=number)
        for verified in (True, False):
            control_save(
                actor=cso,
                hazard=hazard,
                expected_version=hazard.version,
                kind=HazardControl.Kind.TEST,
                description=f"Check {number}, {'verified' if verified else 'not yet'}.",
                owner=world.trust_a,
                is_verified=verified,
                evidence_revisions=[revision] if verified else [],
            )
            hazard.refresh_from_db()
    make_signable(deployment, cso)
    larger_sign_off = sign(deployment, cso)

    larger = _queries_for_the_content(larger_sign_off, version=2)

    assert len(larger_sign_off.snapshot["hazards"]) == len(signed_off.snapshot["hazards"]) + 3
    assert sum(len(h["controls"]) for h in larger_sign_off.snapshot["hazards"]) == 2 + 6
    assert larger == smaller, (smaller, larger)
