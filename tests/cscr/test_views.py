"""The bundle screens: who may request, follow and download a bundle (another trust and suppliers get
404, the national team reads), the polled progress fragment, the audited download, and the
sign-off page's button."""

import hashlib
import time

import pytest
from django.urls import reverse

from nir_portal.audit.models import AuditEvent
from safety import cscr_services
from safety.models import CSCRBundleJob, DeploymentHazard
from safety.services.hazards import hazard_update


def _job_urls(job) -> list[str]:
    return [reverse(f"cscr:{name}", kwargs={"pk": job.pk}) for name in ("job-detail", "job-progress", "job-download")]


def test_the_cso_requests_a_bundle_and_is_taken_to_its_progress(signed_off, people, as_user):
    client = as_user(people.cso_a, recent_mfa=True)

    response = client.post(
        reverse("cscr:bundle-request", kwargs={"pk": signed_off.deployment_id}), {"lifecycle_phase": "deployment"}
    )

    job = CSCRBundleJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("cscr:job-detail", kwargs={"pk": job.pk})
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Version 1 of the safety case report is being produced." in page.content
    assert b'data-poll-done="false"' in page.content and b"Queued" in page.content


def test_the_sign_off_pages_button_requests_a_bundle_with_no_other_input(signed_off, people, as_user):
    client = as_user(people.cso_a, recent_mfa=True)
    page = client.get(reverse("safety:sign-off", kwargs={"pk": signed_off.deployment_id}))

    response = client.post(reverse("cscr:bundle-request", kwargs={"pk": signed_off.deployment_id}))

    assert b"Produce the CSCR bundle" in page.content
    assert response.status_code == 302 and CSCRBundleJob.objects.get().lifecycle_phase == "deployment"


def test_viewers_do_not_see_the_button(signed_off, people, as_user):
    page = as_user(people.viewer_a).get(reverse("safety:sign-off", kwargs={"pk": signed_off.deployment_id}))

    assert page.status_code == 200 and b"Produce the CSCR bundle" not in page.content


def test_a_refused_request_says_why_on_the_bundles_page(world, people, as_user):
    client = as_user(people.cso_a, recent_mfa=True)

    response = client.post(reverse("cscr:bundle-request", kwargs={"pk": world.deployment_a.pk}), follow=True)

    assert response.redirect_chain[-1][0] == reverse("cscr:bundle-list", kwargs={"pk": world.deployment_a.pk})
    assert b"has not been signed off by the CSO" in response.content
    assert not CSCRBundleJob.objects.exists()


def test_a_superseded_sign_off_is_refused_on_the_page_too(signed_off, people, as_user):
    hazard = DeploymentHazard.objects.get(deployment=signed_off.deployment, number=3)
    hazard_update(actor=people.cso_a, hazard=hazard, expected_version=hazard.version, residual_likelihood="low")

    response = as_user(people.lead_a, recent_mfa=True).post(
        reverse("cscr:bundle-request", kwargs={"pk": signed_off.deployment_id}), follow=True
    )

    assert b"was superseded" in response.content and not CSCRBundleJob.objects.exists()


@pytest.mark.parametrize("who", ["cso_b", "supplier_cso", "viewer_a", "contributor_a"])
def test_people_without_access_get_404_on_request_status_progress_and_download(who, signed_off, people, as_user):
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    CSCRBundleJob.objects.filter(pk=job.pk).update(status="complete", storage_name="x.zip", bundle_sha256="0" * 64)
    client = as_user(getattr(people, who))

    assert client.post(reverse("cscr:bundle-request", kwargs={"pk": job.deployment_id})).status_code == 404
    assert client.get(reverse("cscr:bundle-list", kwargs={"pk": job.deployment_id})).status_code == 404
    for url in _job_urls(job):
        assert client.get(url).status_code == 404, url
    assert not AuditEvent.objects.filter(action="cscr.download").exists()
    # Each refused fetch of the job is audited as a denial.
    assert AuditEvent.objects.filter(action="access.denied", object_type="safety.cscrbundlejob").count() == 3
    assert CSCRBundleJob.objects.count() == 1


def test_the_national_team_reads_and_downloads_but_does_not_request(built, people, as_user):
    client = as_user(people.national_reviewer)

    assert client.get(reverse("cscr:bundle-list", kwargs={"pk": built.deployment_id})).status_code == 200
    for url in _job_urls(built):
        assert client.get(url).status_code == 200, url
    assert client.post(reverse("cscr:bundle-request", kwargs={"pk": built.deployment_id})).status_code == 403


def test_the_download_is_an_audited_attachment_of_the_stored_bundle(built, people, as_user):
    response = as_user(people.executive_a).get(reverse("cscr:job-download", kwargs={"pk": built.pk}))

    content = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"] == f'attachment; filename="cscr-{built.deployment.organisation.ods_code}-'
        f'{built.deployment_id}-v1.zip"'
    )
    assert hashlib.sha256(content).hexdigest() == built.bundle_sha256
    event = AuditEvent.objects.get(action="cscr.download")
    assert event.actor == people.executive_a and event.object_id == str(built.pk)
    assert event.changes == {"bundle_sha256": built.bundle_sha256, "version": 1}


def test_a_bundle_not_yet_built_is_not_downloadable(signed_off, people, as_user):
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )

    response = as_user(people.cso_a).get(reverse("cscr:job-download", kwargs={"pk": job.pk}))

    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert not AuditEvent.objects.filter(action="cscr.download").exists()


def test_the_progress_fragment_stops_the_polling_once_the_job_is_finished(built, people, as_user):
    response = as_user(people.cso_a).get(reverse("cscr:job-progress", kwargs={"pk": built.pk}))

    html = response.content.decode()
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    assert html.lstrip().startswith('<div class="portal-cscr-progress"')  # a fragment, not a page
    assert (
        'data-poll-done="true"' in html and f'data-poll-url="{reverse("cscr:job-progress", args=[built.pk])}"' in html
    )
    assert reverse("cscr:job-download", kwargs={"pk": built.pk}) in html
    assert built.bundle_sha256 in html


def test_a_failed_job_shows_its_reason(signed_off, people, as_user):
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    CSCRBundleJob.objects.filter(pk=job.pk).update(status="failed", failure_reason="The signing key is missing.")

    response = as_user(people.cso_a).get(reverse("cscr:job-progress", kwargs={"pk": job.pk}))

    assert b"The signing key is missing." in response.content and b'data-poll-done="true"' in response.content


def test_the_bundles_page_lists_versions_and_offers_the_form_to_those_who_may_request(built, people, as_user):
    lead_page = as_user(people.lead_a).get(reverse("cscr:bundle-list", kwargs={"pk": built.deployment_id}))
    national_page = as_user(people.national_reviewer).get(
        reverse("cscr:bundle-list", kwargs={"pk": built.deployment_id})
    )

    assert b"Version 1" in lead_page.content and b"Produce the CSCR bundle" in lead_page.content
    assert b"Version 1" in national_page.content and b"Produce the CSCR bundle" not in national_page.content


def test_the_footer_links_to_the_public_verification_page(client, db):
    response = client.get(reverse("accessibility-statement"))

    assert reverse("cscr:verify").encode() in response.content
