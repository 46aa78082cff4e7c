"""Services enqueue tasks by name: each name they use is the one its task is registered under."""

import pytest

from nir_portal.task_registry import registered_task
from onboarding.services.evidence.rules import EVIDENCE_FILE_SCAN
from onboarding.tasks import evidence_file_scan
from safety.cscr_services import CSCR_BUNDLE_BUILD
from safety.tasks import cscr_bundle_build


@pytest.mark.parametrize(
    ("name", "task"), [(EVIDENCE_FILE_SCAN, evidence_file_scan), (CSCR_BUNDLE_BUILD, cscr_bundle_build)]
)
def test_each_name_a_service_enqueues_is_the_registered_task(name, task):
    assert registered_task(name) is task._get_current_object()


def test_an_unknown_name_is_refused():
    with pytest.raises(KeyError):
        registered_task("onboarding.tasks.no_such_task")
