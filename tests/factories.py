"""Test data builders. Memberships go through the real service so group grants are made."""

import itertools
from datetime import date, timedelta

import factory
import pyotp
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import get_user_model
from django.utils import timezone

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Organisation
from onboarding.models import Product, ProductVersion

PASSWORD = "Correct-Horse-Battery-9"
_ods = itertools.count(100)


def recent_registration_check() -> date:
    """A registration check well within the months a CSO may sign with."""
    return timezone.localdate() - timedelta(days=30)


def next_ods_code(prefix: str = "T") -> str:
    return f"{prefix}{next(_ods):03d}"[:6]


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    ods_code = factory.LazyFunction(next_ods_code)
    name = factory.Sequence(lambda n: f"Test organisation {n}")
    kind = Organisation.Kind.TRUST
    region = "london"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@test.nhs.uk")
    full_name = factory.Sequence(lambda n: f"Test Person {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


def enrol_totp(user, secret: str | None = None) -> str:
    """Give a person a TOTP authenticator; returns the base32 secret so tests can make codes."""
    secret = secret or pyotp.random_base32()
    TOTP.activate(user, secret)
    return secret


def totp_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def member(organisation: Organisation, role: str, *, mfa: bool = True, **user_fields):
    """A person holding `role` in `organisation`, enrolled in TOTP unless mfa=False."""
    user = UserFactory(**user_fields)
    account_services.membership_grant(actor=None, organisation=organisation, user=user, role=role)
    if mfa:
        user.totp_secret = enrol_totp(user)
    return user


def product_version(supplier: Organisation, version: str = "1.0", name: str | None = None) -> ProductVersion:
    product = Product.objects.create(supplier=supplier, name=name or f"{supplier.name} NIR connector")
    return ProductVersion.objects.create(product=product, version=version)


def ready_for_go_live(deployment):
    """Take the deployment to the clinical safety sign-off stage through the real services: with a
    framework, its mandatory evidence stated and accepted (the PARS samples are scanned, so the
    test needs the `clamd_url` fixture); without one, its lead's stage moves alone. The people
    acting are the organisations' existing members in each role, or new ones where there are none."""
    from nir_portal.accounts.models import Membership, Role
    from onboarding.arrangements import onboarding_complete

    def person(organisation, role):
        held = Membership.objects.filter(organisation=organisation, role=role).select_related("user").first()
        return held.user if held else member(organisation, role, mfa=False)

    organisation = deployment.organisation
    national = Organisation.objects.get(kind=Organisation.Kind.NATIONAL)
    return onboarding_complete(
        deployment=deployment,
        lead=person(organisation, Role.DEPLOYMENT_LEAD),
        trust_contributor=person(organisation, Role.EVIDENCE_CONTRIBUTOR),
        supplier_contributor=person(deployment.product_version.product.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        reviewers=[person(national, Role.NATIONAL_REVIEWER), person(organisation, Role.CSO)],
    )
