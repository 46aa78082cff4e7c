"""Builders shared by the seed commands (`seed_demo`: a handful of demo rows through the services;
`seed_scale`: thousands of generated rows written in bulk): one place that says how a seeded
organisation, person, CSO profile and product version look, and which framework they use.

Each builder returns an unsaved instance (bulk_create takes a list of them; a single one is saved
by the caller or handed to a service), so the two commands never construct the same model twice
in two ways. Development and test data only: the commands refuse to run with DEBUG off."""

import json
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from nir_portal.accounts.models import CSOProfile, Organisation, Role
from onboarding.management.commands.load_framework import DEFAULT_FILE as FRAMEWORK_FILE
from onboarding.models import Framework, Product, ProductVersion
from onboarding.services.framework import framework_current, framework_load

# When a seeded CSO's professional registration was last checked, before the seeding day.
CSO_CHECKED_DAYS_AGO = 60


def seed_email(role: str, ods_code: str, domain: str) -> str:
    """A seeded person's address: `deployment.lead@rz1.demo.nhs.uk` for role, organisation, domain."""
    return f"{role.replace('_', '.')}@{ods_code.lower()}.{domain}"


def seed_framework() -> Framework:
    """The published framework, loaded (and published) from the bundled file when there is none."""
    current = framework_current()
    if current is not None:
        return current
    data = json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8"))
    return framework_load(actor=None, data=data, publish=True)[0]


def organisation(ods_code: str, name: str, kind: str, region: str = "") -> Organisation:
    return Organisation(ods_code=ods_code, name=name, kind=kind, region=region)


def person(email: str, full_name: str, *, password_hash: str | None = None):
    """A user; without `password_hash`, one that cannot sign in with a password (make_password(None)
    once, shared by a whole batch, rather than hashing per row)."""
    User = get_user_model()
    return User(email=email, full_name=full_name[:150], password=password_hash or make_password(None))


def person_in_role(role: str, organisation: Organisation, domain: str, *, password_hash: str | None = None):
    """The person holding `role` in `organisation`, named after both."""
    return person(
        seed_email(role, organisation.ods_code, domain),
        f"{Role(role).label} of {organisation.name}",
        password_hash=password_hash,
    )


def cso_profile(user, registration_number: str, *, today: date) -> CSOProfile:
    """A CSO's professional registration, checked recently enough to sign off."""
    return CSOProfile(
        user=user,
        professional_body=CSOProfile.ProfessionalBody.HCPC,
        registration_number=registration_number,
        registration_checked_on=today - timedelta(days=CSO_CHECKED_DAYS_AGO),
    )


def product_version(product: Product, version: str, *, released_on: date, previous=None, **fields) -> ProductVersion:
    """A version of a product, its DCB0129 reference derived from the product and version."""
    fields.setdefault("dcb0129_reference", f"CSCR-{product.pk}-{version}")
    return ProductVersion(
        product=product, version=version, previous_version=previous, released_on=released_on, **fields
    )
