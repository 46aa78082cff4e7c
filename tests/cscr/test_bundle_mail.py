"""Whoever requested a CSCR bundle hears when it is ready, or why it could not be built."""

import time

from django.core import mail

from nir_portal.mail.models import OutgoingMail
from safety import cscr_services
from safety.models import CSCRBundleJob, DeploymentHazard
from safety.services.hazards import hazard_update
from tests.cscr.conftest import build
from tests.mail.helpers import assert_plain_and_html, deliver_queued, only_message_to


def test_the_requester_is_told_the_bundle_is_ready_with_its_hash(signed_off, people):
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    OutgoingMail.objects.all().delete()
    mail.outbox.clear()

    job = build(job)
    # The build's other after-commit work (the audit checkpoint) needs a broker; only mail is run here.
    assert deliver_queued() == 1

    assert job.status == CSCRBundleJob.Status.COMPLETE
    message = only_message_to(people.cso_a.email)
    assert message.subject == f"Safety case bundle ready: {signed_off.deployment.name}"
    assert job.bundle_sha256 in message.body
    assert f"/safety-case/bundles/{job.pk}/" in message.body
    assert_plain_and_html(message)
    assert len(mail.outbox) == 1


def test_the_requester_is_told_why_the_bundle_could_not_be_built(
    signed_off, people, django_capture_on_commit_callbacks
):
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=3)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, residual_likelihood="low")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        cscr_services.bundle_build(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == CSCRBundleJob.Status.FAILED
    message = only_message_to(people.cso_a.email)
    assert message.subject == f"Safety case bundle could not be built: {signed_off.deployment.name}"
    assert "superseded before the bundle was built" in message.body
    assert_plain_and_html(message)


def test_a_complete_job_is_not_reported_as_failed(built, people, django_capture_on_commit_callbacks):
    from nir_portal.mail import messages

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert messages.cscr_bundle_failed(job=built) == []

    assert mail.outbox == []
