"""PARS audit conformance arrives as a new framework version, provided by the supplier and mandatory."""

from onboarding.models import Framework
from onboarding.pars.codes import requirement_code
from onboarding.services.framework import framework_current, framework_load
from tests.onboarding import evidence_fixtures as fx


def test_loading_the_framework_file_over_the_previous_version_publishes_a_new_one_with_the_pars_requirement(db):
    previous, _ = framework_load(actor=None, data=fx.framework_without({requirement_code()}), publish=True)

    current, created = framework_load(actor=None, data=fx.framework_data(), publish=True)

    assert created and current.version == previous.version + 1
    assert framework_current() == current and current.status == Framework.Status.PUBLISHED
    assert not previous.requirements.filter(code=requirement_code()).exists()
    requirement = current.requirements.get(code=requirement_code())
    assert (requirement.title, requirement.provided_by, requirement.mandatory) == (
        "PARS audit conformance",
        "supplier",
        True,
    )
