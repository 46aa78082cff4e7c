"""Shared arrangements for the framework, evidence, review, checklist and reminder tests.

Test modules take the fixtures with `from tests.onboarding.evidence_fixtures import *`: pytest finds
fixtures by name in the module, and a named import would be flagged as redefined by every test
argument of the same name. Helpers are used through the module (`fx.upload()`).

Scans are never enqueued here: services enqueue them on commit, and pytest-django's per-test
transaction never commits, so no task reaches a broker unless a test captures the callbacks.
"""

import hashlib
import itertools
import json
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

import onboarding
from nir_portal.accounts.models import Organisation, Role
from onboarding import services as onboarding_services
from onboarding.models import (
    Deployment,
    Evidence,
    EvidenceFile,
    EvidenceLink,
    Framework,
    ProductVersion,
    Requirement,
)
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.review import evidence_review
from onboarding.services.evidence.rules import StoredUpload
from onboarding.services.evidence.scans import evidence_file_record_scan
from onboarding.services.framework import framework_load
from tests import factories

__all__ = ["default_framework", "fast_password_hashing", "people", "world"]

FRAMEWORK_FILE = Path(onboarding.__file__).resolve().parent / "data" / "framework.json"
DEFAULT_AREAS = [
    "governance",
    "training",
    "rbac",
    "sops",
    "business_continuity",
    "workflow_validation",
    "interoperability",
    "degraded_modes",
    "incident_escalation",
]
EFFECTIVE = date(2026, 1, 15)
_names = itertools.count(1)


def framework_data() -> dict[str, Any]:
    """The default framework file, as `load_framework` reads it."""
    return json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8"))


def requirements_from_file(*codes: str) -> list[Requirement]:
    """Unsaved requirements as the default framework file defines them, for the pure rules."""
    by_code = {r["code"]: r for area in framework_data()["areas"] for r in area["requirements"]}
    fields = {"provided_by", "reviewed_by", "mandatory", "expiry_rule", "expiry_months", "stage"}
    return [Requirement(code=code, **{k: v for k, v in by_code[code].items() if k in fields}) for code in codes]


def framework_without(codes: set[str], *, name: str | None = None) -> dict[str, Any]:
    """The default framework file with some requirement codes removed (a later version)."""
    data = framework_data()
    for area in data["areas"]:
        area["requirements"] = [r for r in area["requirements"] if r["code"] not in codes]
    if name:
        data["name"] = name
    return data


def framework_with_optional(codes: set[str]) -> dict[str, Any]:
    """The default framework file with some requirements made optional (as an earlier version had INT-04)."""
    data = framework_data()
    for area in data["areas"]:
        for requirement in area["requirements"]:
            if requirement["code"] in codes:
                requirement["mandatory"] = False
    return data


def small_framework_data(count: int, *, name: str) -> dict[str, Any]:
    """A framework of `count` deploying-organisation requirements at setup, in two areas."""
    requirements = [
        {
            "code": f"T-{number:03d}",
            "title": f"Test requirement {number}",
            "guidance": "Evidence it.",
            "provided_by": "deploying",
            "reviewed_by": "national",
            "mandatory": True,
            "expiry_rule": "months",
            "expiry_months": 12,
            "stage": "setup",
        }
        for number in range(1, count + 1)
    ]
    half = count // 2
    return {
        "name": name,
        "areas": [
            {"code": "first", "name": "First", "requirements": requirements[:half]},
            {"code": "second", "name": "Second", "requirements": requirements[half:]},
        ],
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every person made here gets a password; the real hasher is deliberately slow, and no test
    # here signs in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def default_framework(db) -> Framework:
    framework, _ = framework_load(actor=None, data=framework_data(), publish=True)
    return framework


@pytest.fixture
def world(default_framework, world):
    """The conftest world, opened after the default framework was published, so both deployments
    are assessed against it."""
    assert world.deployment_a.framework_id == default_framework.pk
    return world


class People:
    """One person per role the tests need, made on first use (each costs a membership grant).
    A test about who is notified must touch each person before the notification is sent."""

    def __init__(self, world):
        self.world = world
        self.admin = world.national_admin

    def _member(self, organisation: Organisation, role: str):
        return factories.member(organisation, role, mfa=False)

    @cached_property
    def supplier_lead(self):
        return self._member(self.world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)

    @cached_property
    def supplier_contributor(self):
        return self._member(self.world.supplier, Role.SUPPLIER_CONTRIBUTOR)

    @cached_property
    def supplier_cso(self):
        return self._member(self.world.supplier, Role.SUPPLIER_CSO)

    @cached_property
    def other_supplier_lead(self):
        return self._member(self.world.other_supplier, Role.SUPPLIER_ASSURANCE_LEAD)

    @cached_property
    def a_cso(self):
        return self._member(self.world.trust_a, Role.CSO)

    @cached_property
    def a_lead(self):
        return self._member(self.world.trust_a, Role.DEPLOYMENT_LEAD)

    @cached_property
    def a_contributor(self):
        return self._member(self.world.trust_a, Role.EVIDENCE_CONTRIBUTOR)

    @cached_property
    def a_viewer(self):
        return self._member(self.world.trust_a, Role.VIEWER)

    @cached_property
    def b_cso(self):
        return self._member(self.world.trust_b, Role.CSO)

    @cached_property
    def b_lead(self):
        return self._member(self.world.trust_b, Role.DEPLOYMENT_LEAD)

    @cached_property
    def b_contributor(self):
        return self._member(self.world.trust_b, Role.EVIDENCE_CONTRIBUTOR)

    @cached_property
    def reviewer(self):
        return self._member(self.world.national, Role.NATIONAL_REVIEWER)


@pytest.fixture
def people(world) -> People:
    return People(world)


# --- helpers ------------------------------------------------------------------------------------


def error_codes(error: ValidationError) -> set[str]:
    """The stable codes of a ValidationError, whether it is about fields or the whole form."""
    if hasattr(error, "error_dict"):
        return {e.code for errors in error.error_dict.values() for e in errors}
    return {e.code for e in error.error_list}


def upload(name: str = "evidence.pdf", content: bytes | None = None) -> StoredUpload:
    """A file as if already inspected and stored; nothing is written to storage."""
    content = content or f"%PDF-1.7 test {next(_names)}".encode()
    return StoredUpload(
        original_name=name,
        storage_name=f"evidence/test-{next(_names)}-{name}",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        detected_type="pdf",
    )


def supplier_evidence(
    actor, version: ProductVersion, codes: list[str], *, files: int = 0, submit: bool = True, **fields
) -> Evidence:
    """Product-version evidence from the version's supplier."""
    return evidence_create(
        actor=actor,
        owner=version.product.supplier,
        product_version=version,
        title=fields.pop("title", f"Supplier evidence {next(_names)}"),
        requirement_codes=codes,
        statement=fields.pop("statement", "Tested against the NIR conformance suite."),
        effective_date=fields.pop("effective_date", EFFECTIVE),
        files=[upload() for _ in range(files)],
        submit=submit,
        **fields,
    )


def trust_evidence(
    actor, deployment: Deployment, codes: list[str], *, files: int = 0, submit: bool = True, **fields
) -> Evidence:
    """Deployment evidence from the deploying organisation."""
    return evidence_create(
        actor=actor,
        owner=deployment.organisation,
        deployment=deployment,
        title=fields.pop("title", f"Trust evidence {next(_names)}"),
        requirement_codes=codes,
        statement=fields.pop("statement", "Approved by the trust's IG lead."),
        effective_date=fields.pop("effective_date", EFFECTIVE),
        files=[upload() for _ in range(files)],
        submit=submit,
        **fields,
    )


def mark_clean(evidence: Evidence) -> None:
    for file in EvidenceFile.objects.filter(revision__evidence=evidence):
        evidence_file_record_scan(file=file, status=EvidenceFile.ScanStatus.CLEAN, detail="OK")


def link_of(evidence: Evidence, deployment: Deployment) -> EvidenceLink:
    return EvidenceLink.objects.get(evidence=evidence, deployment=deployment)


def decide(actor, evidence: Evidence, deployment: Deployment, decision: str = "accept", comment: str = ""):
    """Review the link as it is now (the expected version is the current one)."""
    link = link_of(evidence, deployment)
    return evidence_review(actor=actor, link=link, decision=decision, comment=comment, expected_version=link.version)


def accepted(actor, evidence: Evidence, deployment: Deployment) -> EvidenceLink:
    decide(actor, evidence, deployment)
    return link_of(evidence, deployment)


def open_deployment(actor, organisation: Organisation, supplier: Organisation, name: str | None = None) -> Deployment:
    """A new deployment of a new product version, assessed against the newest published framework."""
    label = name or f"Product {next(_names)}"
    version = factories.product_version(supplier, name=label)
    return onboarding_services.deployment_create(
        actor=actor, organisation=organisation, product_version=version, name=f"{label} deployment"
    )
