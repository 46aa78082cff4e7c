"""PARS evidence in the portal: checked after a clean malware scan, the report kept with the
revision and shown beside the file, and a failing report blocking acceptance until the reviewer
records a justified (audited) exception."""

import json
import time
from datetime import date
from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from nir_portal.audit.models import AuditEvent
from onboarding.models import EvidenceFile, EvidenceLink, ParsException, ParsReport
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.review import evidence_review
from onboarding.services.evidence.scans import evidence_file_record_scan
from onboarding.services.pars import pars_exception_record
from onboarding.tasks import evidence_file_pars_check, evidence_file_scan
from tests.conftest import mark_mfa
from tests.onboarding.pars.samples import conformant_set, ndjson, replaced
from tests.onboarding.test_evidence_views import _as
from tests.onboarding.test_quarantine import _stored

pytestmark = pytest.mark.clamd


def _pars_evidence(world, people, content: bytes, name: str = "samples.txt"):
    evidence = evidence_create(
        actor=people["supplier_lead"],
        owner=world.supplier,
        product_version=world.product_version,
        title="PARS samples",
        requirement_codes=["INT-05"],
        statement="Samples from our test environment.",
        effective_date=date(2026, 11, 1),
        files=[_stored(content, name)],
    )
    return EvidenceFile.objects.get(revision__evidence=evidence)


def _scan_and_check(file, django_capture_on_commit_callbacks):
    """The real scan; the PARS check it queues on commit runs here instead of in a worker."""
    queued = []
    original_delay = evidence_file_pars_check.delay
    evidence_file_pars_check.delay = lambda file_id: queued.append(file_id) or evidence_file_pars_check.run(file_id)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert evidence_file_scan.run(file.pk) == EvidenceFile.ScanStatus.CLEAN
    finally:
        evidence_file_pars_check.delay = original_delay
    assert queued == [file.pk]
    return ParsReport.objects.get(file=file)


def _failing_samples() -> bytes:
    def wrong_check_digit(event):
        event["entity"][0]["what"]["identifier"]["value"] = "9434765918"

    return ndjson(replaced(conformant_set(), 0, wrong_check_digit))


def _accept(user, link):
    return evidence_review(actor=user, link=link, decision="accept", comment="", expected_version=link.version)


def test_a_clean_conformant_upload_is_checked_and_its_passing_report_lets_the_reviewer_accept(
    world, people, clamd_url, django_capture_on_commit_callbacks, client
):
    file = _pars_evidence(world, people, ndjson(conformant_set()))

    report = _scan_and_check(file, django_capture_on_commit_callbacks)

    assert report.passed and report.revision_id == file.revision_id
    assert AuditEvent.objects.filter(action="pars.check", object_id=str(file.pk), outcome="success").exists()
    link = EvidenceLink.objects.get(evidence=file.revision.evidence, deployment=world.deployment_a)
    page = _as(client, people["cso_a"]).get(reverse("onboarding:evidence-review", kwargs={"pk": link.pk}))
    assert f'data-testid="pars-report-{file.pk}"' in page.content.decode()
    assert "Every rule passes" in page.content.decode()
    _accept(people["cso_a"], link)
    link.refresh_from_db()
    assert link.status == EvidenceLink.Status.ACCEPTED


@pytest.mark.parametrize("name", ["samples.ndjson", "samples.json"])
def test_samples_uploaded_as_json_are_checked(world, people, clamd_url, django_capture_on_commit_callbacks, name):
    content = ndjson(conformant_set())
    if name.endswith(".json"):
        events = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in events]}
        content = json.dumps(bundle).encode()
    file = _pars_evidence(world, people, content, name)

    report = _scan_and_check(file, django_capture_on_commit_callbacks)

    assert file.detected_type == "json"
    assert report.passed


def test_a_failing_report_is_shown_with_its_rule_and_path_and_blocks_acceptance_until_a_justified_exception(
    world, people, clamd_url, django_capture_on_commit_callbacks, client
):
    file = _pars_evidence(world, people, _failing_samples())
    report = _scan_and_check(file, django_capture_on_commit_callbacks)
    link = EvidenceLink.objects.get(evidence=file.revision.evidence, deployment=world.deployment_a)
    cso = people["cso_a"]

    assert not report.passed
    page = _as(client, cso).get(reverse("onboarding:evidence-review", kwargs={"pk": link.pk})).content.decode()
    assert "patient-nhs-number" in page and "$.entity[0].what.identifier.value" in page
    with pytest.raises(ValidationError) as refused:
        _accept(cso, link)
    assert refused.value.code == "pars_failed"

    mark_mfa(client, cso)
    too_short = client.post(
        reverse("onboarding:evidence-pars-exception", kwargs={"pk": link.pk}), {"justification": "fine"}
    )
    assert too_short.status_code == 200 and not ParsException.objects.exists()
    recorded = client.post(
        reverse("onboarding:evidence-pars-exception", kwargs={"pk": link.pk}),
        {"justification": "Test patient number from the supplier's sandbox; live events checked on site."},
    )

    assert recorded.status_code == 302
    exception = ParsException.objects.get()
    assert exception.failed_rules == [["ITI-38", "patient-nhs-number"]]
    audit = AuditEvent.objects.get(action="pars.exception")
    assert (audit.actor, audit.object_id) == (cso, str(link.pk))
    _accept(cso, EvidenceLink.objects.get(pk=link.pk))
    assert EvidenceLink.objects.get(pk=link.pk).status == EvidenceLink.Status.ACCEPTED


def test_a_stale_authenticator_is_sent_to_re_authenticate_and_gets_its_justification_back(
    world, people, clamd_url, django_capture_on_commit_callbacks, client
):
    file = _pars_evidence(world, people, _failing_samples())
    _scan_and_check(file, django_capture_on_commit_callbacks)
    link = EvidenceLink.objects.get(evidence=file.revision.evidence, deployment=world.deployment_a)
    cso = people["cso_a"]
    _as(client, cso)
    mark_mfa(client, cso, age_seconds=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 60)
    review_url = reverse("onboarding:evidence-review", kwargs={"pk": link.pk})
    justification = "Sandbox patient numbers only; live events were checked on site by the CSO."

    stale = client.post(
        reverse("onboarding:evidence-pars-exception", kwargs={"pk": link.pk}), {"justification": justification}
    )

    assert stale.status_code == 302
    assert urlparse(stale["Location"]).path == reverse("mfa_reauthenticate")
    assert parse_qs(urlparse(stale["Location"]).query)["next"] == [review_url]
    assert not ParsException.objects.exists()
    assert not AuditEvent.objects.filter(action="pars.exception").exists()
    with pytest.raises(ValidationError) as refused:
        pars_exception_record(actor=cso, link=link, justification=justification, mfa_verified_at=None)
    assert refused.value.code == "reauthentication_required"
    # Back from the code prompt: the review screen's exception form holds what was typed.
    mark_mfa(client, cso)
    assert justification in client.get(review_url).content.decode()


def test_an_exception_needs_a_failing_report_and_a_reviewer(
    world, people, clamd_url, django_capture_on_commit_callbacks
):
    passing = _pars_evidence(world, people, ndjson(conformant_set()))
    _scan_and_check(passing, django_capture_on_commit_callbacks)
    link = EvidenceLink.objects.get(evidence=passing.revision.evidence, deployment=world.deployment_a)

    with pytest.raises(ValidationError) as nothing_failed:
        pars_exception_record(
            actor=people["cso_a"],
            link=link,
            justification="No reason is needed at all here.",
            mfa_verified_at=time.time(),
        )
    assert nothing_failed.value.code == "pars_nothing_failed"


def test_pars_evidence_cannot_be_accepted_before_its_check_has_run(world, people, clamd_url):
    file = _pars_evidence(world, people, ndjson(conformant_set()))
    evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.CLEAN, detail="OK")
    link = EvidenceLink.objects.get(evidence=file.revision.evidence, deployment=world.deployment_a)

    with pytest.raises(ValidationError) as refused:
        _accept(people["cso_a"], link)

    assert refused.value.code == "pars_check_pending"


def test_the_check_runs_once_per_file(world, people, clamd_url, django_capture_on_commit_callbacks):
    file = _pars_evidence(world, people, _failing_samples())
    first = _scan_and_check(file, django_capture_on_commit_callbacks)

    assert evidence_file_pars_check.run(file.pk) is False
    assert ParsReport.objects.get() == first
    assert AuditEvent.objects.filter(action="pars.check").count() == 1
