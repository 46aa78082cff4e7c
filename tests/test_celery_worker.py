"""The audit-chain check, as beat schedules it and as a real worker runs it."""

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.schedules import crontab
from django.db import connection

from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_chain_extend, audit_event_record
from nir_portal.celery import app as celery_app
from nir_portal.tasks import audit_chain_check
from tests.conftest import require

BASE_DIR = Path(__file__).resolve().parent.parent
TASK_NAME = "nir_portal.tasks.audit_chain_check"


def forge_an_entry() -> AuditEvent:
    # Inserting a row outside the service, at the next chain position, is the tampering the chain
    # exists to reveal.
    audit_chain_extend()
    head = AuditEvent.objects.exclude(chain_seq=None).order_by("-chain_seq").first()
    return AuditEvent.objects.create(
        occurred_at="2026-01-01T00:00:00Z",
        action="deployment.delete",
        chain_seq=(head.chain_seq if head else 0) + 1,
        previous_hash="f" * 64,
        entry_hash="e" * 64,
    )


# --- Scheduling ------------------------------------------------------------------------------------


def test_beat_runs_the_audit_chain_check_once_a_day(settings):
    (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == TASK_NAME]
    schedule = entry["schedule"]

    assert isinstance(schedule, crontab)
    assert len(schedule.hour) == 1
    assert len(schedule.minute) == 1
    assert schedule.day_of_week == set(range(7))
    assert schedule.day_of_month == set(range(1, 32))


def test_a_worker_knows_the_task_by_the_name_beat_sends():
    celery_app.loader.import_default_modules()

    assert TASK_NAME in celery_app.tasks


# --- What the task does ------------------------------------------------------------------------------


def test_an_intact_chain_is_recorded_as_checked_and_raises_no_alarm(db):
    audit_event_record(action="organisation.create")
    audit_event_record(action="organisation.create")

    result = audit_chain_check()

    assert result == {"intact": True, "first_broken_id": None, "stale_unchained": []}
    assert not AuditEvent.objects.filter(action="organisation.create", chain_seq=None).exists()
    checked = AuditEvent.objects.get(action="audit.chain_checked")
    assert checked.outcome == AuditEvent.Outcome.SUCCESS
    assert not AuditEvent.objects.filter(action="audit.chain_broken").exists()


def test_a_broken_chain_is_logged_and_recorded_once_however_often_the_check_runs(db, caplog):
    audit_event_record(action="organisation.create")
    forged = forge_an_entry()
    audit_event_record(action="organisation.create")

    with caplog.at_level(logging.ERROR, logger="nir_portal.tasks"):
        first = audit_chain_check()
        audit_chain_check()

    assert first == {"intact": False, "first_broken_id": forged.pk, "stale_unchained": []}
    alarm = AuditEvent.objects.get(action="audit.chain_broken")
    assert alarm.outcome == AuditEvent.Outcome.FAILURE
    assert alarm.changes == {"first_broken_id": forged.pk}
    assert AuditEvent.objects.filter(action="audit.chain_checked", outcome="failure").count() == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"The audit trail's hash chain is broken at entry {forged.pk}."
    ] * 2


def test_entries_a_stuck_chainer_left_behind_are_reported_then_chained(db, caplog):
    audit_event_record(action="organisation.create")
    # Written long ago and never chained: what is left when the chaining after commit keeps failing.
    stuck = AuditEvent.objects.create(occurred_at="2026-01-01T00:00:00Z", action="organisation.create")

    with caplog.at_level(logging.ERROR, logger="nir_portal.tasks"):
        result = audit_chain_check()

    assert result == {"intact": True, "first_broken_id": None, "stale_unchained": [stuck.pk]}
    assert [r.getMessage() for r in caplog.records] == [
        f"Audit entries [{stuck.pk}] were still unchained: the chainer is not running."
    ]
    assert AuditEvent.objects.get(action="audit.chain_checked").outcome == AuditEvent.Outcome.FAILURE
    assert AuditEvent.objects.get(pk=stuck.pk).chain_seq is not None


# --- A real worker -------------------------------------------------------------------------------------


def _test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path):
    """A real worker on its own queue, reading the test database; stopped after the test."""
    require(bool(settings.REDIS_URL), "REDIS_URL is not set: a real Celery worker needs the Redis broker")
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "nir_portal", "worker",
        "--pool", "solo", "--concurrency", "1", "-Q", queue, "-n", f"{queue}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield queue, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


@pytest.mark.celery
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_audit_chain_check_against_the_database(worker):
    queue, process, log = worker
    audit_event_record(action="organisation.create")

    audit_chain_check.apply_async(queue=queue)

    deadline = time.monotonic() + 90  # generous: CI may run this beside the browser tests
    while not AuditEvent.objects.filter(action="audit.chain_checked").exists():
        assert process.poll() is None, f"the worker stopped:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no audit.chain_checked within 90 s:\n{log.read_text()}"
        time.sleep(0.2)
    checked = AuditEvent.objects.get(action="audit.chain_checked")
    assert checked.changes == {"intact": True, "first_broken_id": None, "stale_unchained": []}
    assert not AuditEvent.objects.filter(action="audit.chain_broken").exists()
    assert f"Task {TASK_NAME}[" in log.read_text()
