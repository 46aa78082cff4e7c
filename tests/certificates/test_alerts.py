"""Expiry monitoring: the daily beat task alerts the owner, the deployment lead and the CSO at 90,
30, 14 and 7 days and on expiry, once per threshold; an expired live certificate flags the
deployment's certificate expiry hazard for the CSO's re-review, superseding nothing.

Time is frozen with time-machine: the task reads the clock itself, as it does under beat."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from certificates import services
from certificates.models import CertificateAlert
from certificates.tasks import certificates_daily_check
from nir_portal.audit.models import AuditEvent
from nir_portal.celery import app
from nir_portal.mail.models import OutgoingMail
from safety import cscr_services
from safety.cscr import document
from safety.models import ReReviewRequest, SignOff
from safety.services.sign_off import sign_off_create
from tests.certificates.conftest import Environment, Purpose, add, upload
from tests.mail.helpers import assert_plain_and_html

pytestmark = pytest.mark.django_db

CERTIFICATE_EXPIRY = "NIR-06"


@pytest.fixture
def run_daily_check_at(django_capture_on_commit_callbacks):
    """Run the beat task at a frozen moment, its transactions' after-commit work (mail, the expiry
    announcement) included, as it runs in the worker."""

    def run(moment) -> dict:
        with time_machine.travel(moment, tick=False), django_capture_on_commit_callbacks(execute=True):
            return certificates_daily_check()

    return run


def alerts(to: str | None = None) -> list:
    """Expiry alerts sent, to one address when given (each recipient gets a message of their own)."""
    return [
        m
        for m in mail.outbox
        if m.subject.startswith("Certificate ") and "re-review" not in m.subject and to in (None, *m.to)
    ]


def alert_subjects(to: str) -> list[str]:
    return [m.subject for m in alerts(to)]


def test_the_beat_schedule_runs_the_daily_check():
    entry = settings.CELERY_BEAT_SCHEDULE["certificates-daily-check"]
    app.loader.import_default_modules()

    assert entry["task"] == "certificates.tasks.certificates_daily_check"
    assert entry["task"] in app.tasks
    schedule = entry["schedule"]
    assert (schedule.day_of_week, schedule.day_of_month, schedule.month_of_year) == (
        set(range(7)),
        set(range(1, 32)),
        set(range(1, 13)),
    )
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1


def test_alerts_go_out_once_at_each_threshold_and_on_expiry(world, keepers, certs, run_daily_check_at):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a, owner=keepers.a_viewer)
    expiry = entry.current_revision.not_after
    mail.outbox.clear()

    for days_before in (120, 91, 90, 89, 60, 30, 29, 14, 13, 7, 6, 1):
        run_daily_check_at(expiry - timedelta(days=days_before))
        run_daily_check_at(expiry - timedelta(days=days_before, hours=-2))  # the same day again
    run_daily_check_at(expiry + timedelta(hours=1))
    run_daily_check_at(expiry + timedelta(days=1))
    run_daily_check_at(expiry + timedelta(days=30))

    for person in (keepers.a_viewer, keepers.a_lead, keepers.a_cso):
        assert alert_subjects(person.email) == [
            "Certificate Gateway server expires within 90 days",
            "Certificate Gateway server expires within 30 days",
            "Certificate Gateway server expires within 14 days",
            "Certificate Gateway server expires within 7 days",
            "Certificate Gateway server has expired",
        ]
    assert {address for m in alerts() for address in m.to} == {
        keepers.a_viewer.email,
        keepers.a_lead.email,
        keepers.a_cso.email,
    }
    html = assert_plain_and_html(alerts(keepers.a_viewer.email)[-1])
    assert "Certificate Gateway server has expired" in html and entry.current_revision.fingerprint_sha256 in html
    assert list(
        CertificateAlert.objects.filter(revision=entry.current_revision)
        .order_by("sent_at")
        .values_list("threshold_days", flat=True)
    ) == [90, 30, 14, 7, 0]
    assert f"/certificates/{entry.pk}/" in alerts(keepers.a_viewer.email)[0].body
    assert "flagged for the CSO's re-review" in alerts(keepers.a_viewer.email)[-1].body
    assert AuditEvent.objects.filter(action="certificate.alert", object_id=str(entry.pk)).count() == 5


def test_a_certificate_first_seen_five_days_before_expiry_gets_only_the_7_day_alert(
    world, keepers, certs, run_daily_check_at
):
    add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    expiry = certs.expiring_in_5_days.certificate.not_valid_after_utc
    mail.outbox.clear()

    run_daily_check_at(expiry - timedelta(days=5))
    run_daily_check_at(expiry - timedelta(days=4))

    assert alert_subjects(keepers.a_lead.email) == ["Certificate Gateway server expires within 7 days"]


def test_a_renewed_certificate_is_not_alerted_for_the_one_it_replaced(world, keepers, certs, run_daily_check_at):
    entry = add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    old_expiry = certs.expiring_in_5_days.certificate.not_valid_after_utc
    run_daily_check_at(old_expiry - timedelta(days=5))
    services.certificate_entry_renew(actor=keepers.a_lead, entry=entry, upload=upload(certs.valid))
    mail.outbox.clear()

    run_daily_check_at(old_expiry + timedelta(days=1))

    assert alert_subjects(keepers.a_lead.email) == []


# --- an expired live certificate and the hazard log -------------------------------------------------


def test_an_expired_live_certificate_flags_the_certificate_expiry_hazard_for_re_review(
    world, keepers, certs, signed_off, run_daily_check_at
):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    expiry = entry.current_revision.not_after
    mail.outbox.clear()

    run_daily_check_at(expiry + timedelta(hours=1))
    run_daily_check_at(expiry + timedelta(days=1))

    signed_off.refresh_from_db()
    assert (signed_off.status, signed_off.needs_re_review) == (SignOff.Status.CURRENT, True)
    request = ReReviewRequest.objects.get()
    assert request.hazard.library_hazard.code == CERTIFICATE_EXPIRY
    assert (request.deployment, request.sign_off, request.resolved_by) == (world.deployment_a, signed_off, None)
    assert "The live certificate Gateway server" in request.reason
    assert "has not been renewed" in request.reason
    to_cso = [m for m in mail.outbox if "needs your re-review" in m.subject]
    assert len(to_cso) == 1
    assert to_cso[0].to == [keepers.a_cso.email]
    assert request.reason in to_cso[0].body
    assert "is flagged for your re-review; it is not superseded" in to_cso[0].body
    assert request.reason in assert_plain_and_html(to_cso[0])
    event = AuditEvent.objects.get(action="hazard.re_review_request")
    assert event.changes["sign_off_flagged"] is True


def test_the_cso_sees_why_on_the_sign_off_and_hazard_pages(
    world, keepers, certs, signed_off, run_daily_check_at, client
):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    run_daily_check_at(entry.current_revision.not_after + timedelta(hours=1))
    request = ReReviewRequest.objects.get()
    client.force_login(keepers.a_cso, backend="django.contrib.auth.backends.ModelBackend")

    sign_off_page = client.get(reverse("safety:sign-off", args=[world.deployment_a.pk])).content.decode()
    hazard_page = client.get(reverse("safety:hazard-detail", args=[request.hazard_id])).content.decode()

    for page in (sign_off_page, hazard_page):
        assert "Re-review needed" in page
        assert escape(request.reason) in page


def test_the_cscr_lists_the_registered_certificates_with_their_expiry(world, keepers, certs, signed_off):
    add(keepers.a_lead, certs.valid, deployment=world.deployment_a, name="Trust gateway")
    add(
        keepers.supplier_lead,
        certs.expiring_in_5_days,
        product_version=world.product_version,
        name="Supplier client",
        purpose=Purpose.TLS_CLIENT,
    )
    job, _new = cscr_services.bundle_request(
        actor=keepers.a_cso, deployment=world.deployment_a, mfa_verified_at=time.time()
    )

    context = document.cscr_context(
        job, issued_at=timezone.now(), signer_subject="", signer_fingerprint="", evidence=[]
    )
    html = document.render_html(context)

    assert [(c["name"], c["held_by"], c["not_after"]) for c in context["certificates"]] == [
        ("Supplier client", "Supplier", certs.expiring_in_5_days.certificate.not_valid_after_utc),
        ("Trust gateway", "Deploying organisation", certs.valid.certificate.not_valid_after_utc),
    ]
    section = html[html.index("<h2>12 Go-live controls") : html.index("<h2>13 Monitoring")]
    assert "Trust gateway" in section and "Supplier client" in section
    assert f"{certs.valid.certificate.not_valid_after_utc:%-d %b %Y}" in section


def test_the_csos_new_sign_off_records_why_it_re_reviewed_and_closes_the_request(
    world, keepers, certs, signed_off, run_daily_check_at
):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    run_daily_check_at(entry.current_revision.not_after + timedelta(hours=1))

    renewed = sign_off_create(
        actor=keepers.a_cso,
        deployment=world.deployment_a,
        statement="Re-reviewed.",
        conditions=[],
        mfa_verified_at=time.time(),
    )

    signed_off.refresh_from_db()
    request = ReReviewRequest.objects.get()
    assert signed_off.status == SignOff.Status.SUPERSEDED
    assert signed_off.superseded_changes == [f"Re-reviewed by the CSO: {request.reason}"]
    assert request.resolved_by == renewed


def test_an_expired_test_certificate_flags_nothing(world, keepers, certs, signed_off, run_daily_check_at):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a, environment=Environment.TEST)

    run_daily_check_at(entry.current_revision.not_after + timedelta(hours=1))

    signed_off.refresh_from_db()
    assert not signed_off.needs_re_review
    assert not ReReviewRequest.objects.exists()
    assert alert_subjects(keepers.a_lead.email)[-1] == "Certificate Gateway server has expired"
    assert "re-review" not in alerts(keepers.a_lead.email)[-1].body  # a test certificate flags no hazard


def test_a_suppliers_expired_live_certificate_flags_every_deployment_of_its_version(
    world, keepers, certs, run_daily_check_at
):
    entry = add(keepers.supplier_lead, certs.valid, product_version=world.product_version, purpose=Purpose.TLS_CLIENT)
    mail.outbox.clear()

    run_daily_check_at(entry.current_revision.not_after + timedelta(hours=1))

    assert set(ReReviewRequest.objects.values_list("deployment", flat=True)) == {
        world.deployment_a.pk,
        world.deployment_b.pk,
    }
    # No sign-off yet: the hazards wait for the CSO's review before one.
    assert set(ReReviewRequest.objects.values_list("sign_off", flat=True)) == {None}
    told = {m.to[0] for m in mail.outbox if m.subject == "Certificate Gateway server has expired"}
    assert {keepers.supplier_lead.email, keepers.supplier_cso.email, keepers.a_lead.email, keepers.a_cso.email} <= told


def test_an_alert_is_queued_as_outgoing_mail_one_per_recipient_and_sent_only_after_commit(
    world, keepers, certs, django_capture_on_commit_callbacks
):
    entry = add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a, owner=keepers.a_viewer)
    expiry = certs.expiring_in_5_days.certificate.not_valid_after_utc
    mail.outbox.clear()

    with time_machine.travel(expiry - timedelta(days=5), tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            alert = services.certificate_alert_send(entry_id=entry.pk, now=timezone.now())
        queued = OutgoingMail.objects.filter(template="certificate_expiry", object_id=str(entry.pk))
        assert sorted(queued.values_list("to", flat=True)) == sorted(alert.recipients)
        assert set(alert.recipients) == {keepers.a_lead.email, keepers.a_cso.email, keepers.a_viewer.email}
        assert set(queued.values_list("status", flat=True)) == {OutgoingMail.Status.PENDING}
        assert alerts() == [], "nothing is sent inside the transaction"
        for callback in callbacks:
            callback()

    assert set(queued.values_list("status", flat=True)) == {OutgoingMail.Status.SENT}
    assert sorted(address for m in alerts() for address in m.to) == sorted(alert.recipients)
    assert all(len(m.to) == 1 for m in alerts()), "each recipient gets a message of their own"
