"""Every periodic task the code declares is on Celery beat's schedule, and the schedule names only
declared tasks that a worker knows."""

import pytest
from django.conf import settings

from nir_portal import periodic
from nir_portal.celery import app as celery_app

EXPECTED = {
    "nir_portal.tasks.audit_chain_check",
    "nir_portal.tasks.audit_chain_sweep",
    "onboarding.tasks.evidence_daily_expiry_and_reminders",
    "onboarding.tasks.reviewer_digests_send",
    "onboarding.tasks.evidence_files_rescan_quarantined",
    "onboarding.dashboard_tasks.dashboard_weekly_snapshot",
    "nir_portal.mail.tasks.mail_send_stalled",
    "certificates.tasks.certificates_daily_check",
}


@pytest.fixture(scope="module")
def declared() -> dict[str, str]:
    # What a worker imports at start: the autodiscovered tasks modules and CELERY_IMPORTS.
    celery_app.loader.import_default_modules()
    return periodic.declared_periodic_tasks()


def test_beat_schedules_every_declared_periodic_task_and_nothing_else(declared):
    problems = periodic.schedule_problems(settings.CELERY_BEAT_SCHEDULE, declared, celery_app.tasks)

    assert problems == []


def test_the_jobs_the_portal_relies_on_are_declared_periodic(declared):
    assert set(declared) >= EXPECTED


def test_a_declared_task_missing_from_the_schedule_is_reported(declared):
    schedule = {
        k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if v["task"] != "onboarding.tasks.reviewer_digests_send"
    }

    problems = periodic.schedule_problems(schedule, declared, celery_app.tasks)

    assert problems == [
        "onboarding.tasks.reviewer_digests_send (declared periodic in onboarding.tasks) is not in CELERY_BEAT_SCHEDULE"
    ]


def test_a_schedule_entry_naming_an_unknown_task_is_reported(declared):
    schedule = {**settings.CELERY_BEAT_SCHEDULE, "typo": {"task": "onboarding.tasks.reviewer_digest_send"}}

    problems = periodic.schedule_problems(schedule, declared, celery_app.tasks)

    assert problems == ["schedule entry 'typo' names onboarding.tasks.reviewer_digest_send, which no worker knows"]


def test_a_schedule_entry_naming_a_task_not_declared_periodic_is_reported(declared):
    schedule = {**settings.CELERY_BEAT_SCHEDULE, "scan": {"task": "onboarding.tasks.evidence_file_scan"}}

    problems = periodic.schedule_problems(schedule, declared, celery_app.tasks)

    assert problems == [
        "schedule entry 'scan' names onboarding.tasks.evidence_file_scan, which is not declared with periodic_task"
    ]


def test_a_newly_declared_periodic_task_fails_the_check_until_it_is_scheduled(declared):
    @periodic.periodic_task(name="tests.periodic.certificate_expiry_check")
    def certificate_expiry_check() -> int:
        return 0

    try:
        problems = periodic.schedule_problems(
            settings.CELERY_BEAT_SCHEDULE, periodic.declared_periodic_tasks(), celery_app.tasks
        )
        assert problems == [
            "tests.periodic.certificate_expiry_check (declared periodic in tests.test_periodic) "
            "is not in CELERY_BEAT_SCHEDULE"
        ]
    finally:
        periodic._declared.pop("tests.periodic.certificate_expiry_check")
        celery_app.tasks.pop("tests.periodic.certificate_expiry_check", None)
