"""Logs carry the request id the audit trail records, in the web process and in every task the
request queued, so one request can be followed from the web process into the worker."""

import json
import logging
import time
import uuid

import pytest
from django.urls import reverse

from nir_portal.accounts.models import Role
from nir_portal.audit import context
from nir_portal.audit.models import AuditEvent
from nir_portal.log import JsonFormatter, RequestContextFilter
from nir_portal.mail import services as mail_services
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.tasks import mail_send
from tests.test_celery_worker import worker  # noqa: F401  the real-worker fixture, by name


def formatted(record_message: str, **extra) -> dict:
    record = logging.LogRecord("nir.test", logging.WARNING, __file__, 1, record_message, None, None)
    record.__dict__.update(extra)
    RequestContextFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_json_line_carries_the_bound_request_id_and_extra_fields():
    token = context.bind(context.RequestContext(request_id="req-123"))
    try:
        entry = formatted("Scanner unavailable", mail_id=7)
    finally:
        context.reset(token)

    assert entry["request_id"] == "req-123"
    assert (entry["level"], entry["logger"], entry["message"], entry["mail_id"]) == (
        "WARNING",
        "nir.test",
        "Scanner unavailable",
        7,
    )
    assert "task_id" not in entry


def test_outside_any_request_the_request_id_is_a_dash():
    assert formatted("beat tick")["request_id"] == "-"


def test_the_response_names_the_request_id_the_audit_trail_recorded(world, client):
    user = world.member(world.trust_a, Role.VIEWER)

    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "wrong"}, HTTP_X_REQUEST_ID="proxy-req-42"
    )

    assert response.headers["X-Request-ID"] == "proxy-req-42"
    assert AuditEvent.objects.get(action="auth.sign_in").request_id == "proxy-req-42"


@pytest.fixture
def json_logs(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")


@pytest.mark.celery
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_logs_that_requests_id_in_the_worker(
    json_logs,
    worker,  # noqa: F811  the fixture imported above
    world,
    signed_in,
    monkeypatch,
):
    queue, process, log = worker
    monkeypatch.setattr(mail_services, "mail_enqueue", lambda pk: mail_send.apply_async(args=[pk], queue=queue))
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    request_id = f"req-{uuid.uuid4().hex[:12]}"

    response = signed_in(lead).post(
        reverse("accounts:member-invite", args=[world.trust_a.pk]),
        {"email": "new.person@test.nhs.uk", "full_name": "New Person", "role": Role.VIEWER},
        HTTP_X_REQUEST_ID=request_id,
    )

    assert response.status_code == 302 and response.headers["X-Request-ID"] == request_id
    deadline = time.monotonic() + 90
    while OutgoingMail.objects.get().status != OutgoingMail.Status.SENT:
        assert process.poll() is None, f"the worker stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"the invitation was not sent within 90 s:\n{log.read_text()}"
        time.sleep(0.2)
    mail_row = OutgoingMail.objects.get()
    assert mail_row.request_id == request_id
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    sent = [e for e in entries if e["message"].startswith(f"Mail {mail_row.pk} (invitation) sent")]
    assert len(sent) == 1, log.read_text()
    assert sent[0]["request_id"] == request_id
    assert sent[0]["task_name"] == "nir_portal.mail.tasks.mail_send"
    assert AuditEvent.objects.get(action="membership.invite").request_id == request_id
