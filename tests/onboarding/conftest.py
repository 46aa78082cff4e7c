"""Fixtures shared by the onboarding tests: the published framework, people by role on the
`world` deployments (the scanner fixture, `clamd_url`, is in tests/conftest.py)."""

import json
from pathlib import Path

import pytest

from nir_portal.accounts.models import Role
from onboarding.models import Deployment
from onboarding.services.framework import framework_load

FRAMEWORK_FILE = Path(__file__).resolve().parents[2] / "onboarding" / "data" / "framework.json"


@pytest.fixture
def framework(db):
    framework, _ = framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text()), publish=True)
    return framework


@pytest.fixture
def people(world, framework):
    Deployment.objects.update(framework=framework)
    return {
        "supplier_lead": world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        "cso_a": world.member(world.trust_a, Role.CSO),
        "cso_b": world.member(world.trust_b, Role.CSO),
        "lead_a": world.member(world.trust_a, Role.DEPLOYMENT_LEAD),
        "lead_b": world.member(world.trust_b, Role.DEPLOYMENT_LEAD),
        "national_reviewer": world.member(world.national, Role.NATIONAL_REVIEWER),
    }
