"""Demo organisations, people, products and deployments. Idempotent; refuses to run with DEBUG off."""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import ROLES_BY_KIND, CSOProfile, Membership, Organisation, Role
from onboarding import seeding, services
from onboarding.management.commands.load_framework import DEFAULT_FILE as FRAMEWORK_FILE
from onboarding.models import Deployment, Product, ProductVersion
from onboarding.services.framework import framework_load
from safety.lifecycle.demo import demo_lifecycle_seed
from safety.services.reference import safety_reference_data_load

DEMO_PASSWORD = "Demo-Portal-2026!"  # noqa: S105  (documented demo credential, DEBUG only)

ORGANISATIONS = [
    ("XZ1", "NHS England NIR onboarding team", Organisation.Kind.NATIONAL, ""),
    ("RZ1", "Northbridge Teaching Hospitals NHS Foundation Trust", Organisation.Kind.TRUST, "north_west"),
    ("RZ2", "Eastmoor Hospitals NHS Trust", Organisation.Kind.TRUST, "east"),
    ("RZ3", "Southdown University Hospitals NHS Foundation Trust", Organisation.Kind.TRUST, "south_east"),
    ("QZ1", "Pennine Imaging Network", Organisation.Kind.IMAGING_NETWORK, "ne_yorks"),
    ("YZ101", "Acme Imaging Systems Ltd", Organisation.Kind.SUPPLIER, ""),
    ("YZ102", "Lumen PACS Ltd", Organisation.Kind.SUPPLIER, ""),
]
PRODUCTS = [
    ("YZ101", "Acme PACS NIR Connector", ["2.0", "2.1"]),
    ("YZ102", "Lumen Viewer NIR Gateway", ["1.0"]),
]
DEPLOYMENTS = [
    (
        "RZ1",
        "Acme PACS NIR Connector",
        "2.1",
        "Northbridge NIR rollout",
        ["Northbridge General Hospital", "Riverside Imaging Centre"],
    ),
    # Live on 2.0, so Acme's publication of 2.1 flags it and its lead can upgrade the case.
    ("RZ2", "Acme PACS NIR Connector", "2.0", "Eastmoor NIR deployment", ["Eastmoor Hospital"]),
    ("RZ3", "Lumen Viewer NIR Gateway", "1.0", "Southdown NIR deployment", ["Southdown University Hospital"]),
    (
        "QZ1",
        "Lumen Viewer NIR Gateway",
        "1.0",
        "Pennine network NIR deployment",
        ["Pennine hub", "Dales community diagnostic centre"],
    ),
]


def demo_email(role: str, ods_code: str) -> str:
    return seeding.seed_email(role, ods_code, "demo.nhs.uk")


class Command(BaseCommand):
    help = "Create demo organisations, people, products and deployments (DEBUG only; safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--accounts-only", action="store_true", help="only print the demo accounts")

    def handle(self, *args, accounts_only=False, **options):
        if not settings.DEBUG and not settings.TESTING:
            raise CommandError("seed_demo creates accounts with published passwords; it runs only with DEBUG=true.")
        if not accounts_only:
            self._seed()
        self._print_accounts()

    @transaction.atomic
    def _seed(self) -> None:
        User = get_user_model()
        framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8")), publish=True)
        safety_reference_data_load()
        organisations = {}
        for ods_code, name, kind, region in ORGANISATIONS:
            organisations[ods_code] = Organisation.objects.filter(ods_code=ods_code).first()
            if organisations[ods_code] is None:
                organisations[ods_code] = seeding.organisation(ods_code, name, kind, region)
                organisations[ods_code].save()
        national_admin = None
        for ods_code, organisation in organisations.items():
            for role in ROLES_BY_KIND[organisation.kind]:
                email = demo_email(role, ods_code)
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(email, DEMO_PASSWORD, full_name=f"Demo {Role(role).label}")
                if not Membership.objects.filter(user=user, organisation=organisation, role=role).exists():
                    account_services.membership_grant(actor=None, organisation=organisation, user=user, role=role)
                if role in (Role.CSO, Role.SUPPLIER_CSO) and not CSOProfile.objects.filter(user=user).exists():
                    seeding.cso_profile(user, f"RA{organisation.pk:06d}", today=timezone.localdate()).save()
                if role == Role.NATIONAL_ADMIN:
                    national_admin = user
        versions = {}
        for ods_code, product_name, version_names in PRODUCTS:
            product = Product.objects.filter(supplier=organisations[ods_code], name=product_name).first()
            if product is None:
                product = services.product_create(
                    actor=national_admin, supplier=organisations[ods_code], name=product_name
                )
            previous = None
            for version_name in version_names:
                version = ProductVersion.objects.filter(product=product, version=version_name).first()
                if version is None:
                    version = services.product_version_create(
                        actor=national_admin,
                        product=product,
                        version=version_name,
                        previous_version=previous,
                        dcb0129_reference=f"{product_name[:4].upper()}-CSCR-{version_name}",
                    )
                versions[(product_name, version_name)] = version
                previous = version
        for ods_code, product_name, version_name, name, sites in DEPLOYMENTS:
            version = versions[(product_name, version_name)]
            # One deployment per organisation and product: an upgrade moves it to a newer version.
            deployed = Deployment.objects.filter(
                organisation=organisations[ods_code], product_version__product=version.product
            )
            if not deployed.exists():
                services.deployment_create(
                    actor=national_admin,
                    organisation=organisations[ods_code],
                    product_version=version,
                    name=name,
                    sites=sites,
                )
        demo_lifecycle_seed(product_versions={n: versions[("Acme PACS NIR Connector", n)] for n in ("2.0", "2.1")})

    def _print_accounts(self) -> None:
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD})")
        for ods_code, name, kind, _region in ORGANISATIONS:
            self.stdout.write(f"  {name} ({ods_code})")
            for role in ROLES_BY_KIND[kind]:
                self.stdout.write(f"    {Role(role).label:<34} {demo_email(role, ods_code)}")
        self.stdout.write("At first sign-in each account sets up an authenticator app (TOTP).")
