"""The lifecycle tests share the clinical-safety invariant arrangements: a world whose deployments
start hazard logs under the default matrix, and the `safety` helper driving the real services."""

import pytest

from tests.onboarding.evidence_fixtures import *  # noqa: F403  fixtures, found by name
from tests.safety_invariants.conftest import safety, safety_reference, world  # noqa: F401  fixtures, by name


@pytest.fixture(autouse=True)
def notices_run_in_process(settings):
    """Notice mail is a Celery task queued on commit; here it runs in the test's process."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
