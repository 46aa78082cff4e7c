"""What each role sees and is refused, on the demo data: the table the role-journey browser tests
walk (tests/browser/test_role_journeys.py) and `make screenshots` photographs.

The demo data comes from `seed_demo`, plus the evidence every review journey needs: supplier
evidence waiting for the trust CSO and for the deployment lead, the same supplier's evidence sent
back by the trust CSO with a comment, trust evidence waiting for the national team, and trust
evidence the national team sent back.
"""

from dataclasses import dataclass, field
from datetime import date
from io import StringIO

from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Deployment, EvidenceLink, ProductVersion
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.review import evidence_review
from safety.management.commands.seed_demo import demo_email
from tests.factories import enrol_totp

TRUST, SUPPLIER, NATIONAL = "RZ1", "YZ101", "XZ1"
OTHER_TRUST = "RZ2"
DEPLOYMENT = "Northbridge NIR rollout"
OTHER_DEPLOYMENT = "Eastmoor NIR deployment"
VERSION = ("Acme PACS NIR Connector", "2.1")

RETURNED_SUPPLIER_EVIDENCE = "Conformance test results"
CSO_QUEUE_EVIDENCE = "PARS audit event samples"
LEAD_QUEUE_EVIDENCE = "Configuration record for the NIR gateway"
NATIONAL_QUEUE_EVIDENCE = "DSPT publication 2026"
RETURNED_TRUST_EVIDENCE = "Training plan for radiographers"
CSO_COMMENT = "Add the degraded-mode test log."
NATIONAL_COMMENT = "Say who delivers the training."


@dataclass
class Demo:
    deployment: Deployment
    other_deployment: Deployment
    version: ProductVersion
    trust: Organisation
    supplier: Organisation
    returned_supplier_link: EvidenceLink
    returned_trust_link: EvidenceLink
    cso_queue_link: EvidenceLink


def demo_person(role: str, ods_code: str):
    """A demo account, enrolled in TOTP as it would be after its first sign-in."""
    user = get_user_model().objects.get(email=demo_email(role, ods_code))
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        enrol_totp(user)
    return user


def _evidence(actor, owner, title, code, *, deployment=None, product_version=None):
    return evidence_create(
        actor=actor,
        owner=owner,
        title=title,
        requirement_codes=[code],
        statement=f"{title}: statement.",
        effective_date=date(2026, 10, 1),
        files=[],
        deployment=deployment,
        product_version=product_version,
    )


def _send_back(reviewer, evidence, deployment, comment):
    link = EvidenceLink.objects.get(evidence=evidence, deployment=deployment)
    evidence_review(
        actor=reviewer, link=link, decision="request_changes", comment=comment, expected_version=link.version
    )
    link.refresh_from_db()
    return link


def demo_data() -> Demo:
    call_command("seed_demo", stdout=StringIO())
    trust = Organisation.objects.get(ods_code=TRUST)
    supplier = Organisation.objects.get(ods_code=SUPPLIER)
    deployment = Deployment.objects.get(name=DEPLOYMENT)
    version = ProductVersion.objects.get(product__name=VERSION[0], version=VERSION[1])
    supplier_lead = demo_person(Role.SUPPLIER_ASSURANCE_LEAD, SUPPLIER)
    contributor = demo_person(Role.EVIDENCE_CONTRIBUTOR, TRUST)
    cso = demo_person(Role.CSO, TRUST)
    reviewer = demo_person(Role.NATIONAL_REVIEWER, NATIONAL)

    returned = _evidence(supplier_lead, supplier, RETURNED_SUPPLIER_EVIDENCE, "INT-01", product_version=version)
    cso_queue = _evidence(supplier_lead, supplier, CSO_QUEUE_EVIDENCE, "INT-03", product_version=version)
    _evidence(supplier_lead, supplier, LEAD_QUEUE_EVIDENCE, "INT-02", product_version=version)
    _evidence(contributor, trust, NATIONAL_QUEUE_EVIDENCE, "GOV-02", deployment=deployment)
    trust_returned = _evidence(contributor, trust, RETURNED_TRUST_EVIDENCE, "TRN-01", deployment=deployment)
    return Demo(
        deployment=deployment,
        other_deployment=Deployment.objects.get(name=OTHER_DEPLOYMENT),
        version=version,
        trust=trust,
        supplier=supplier,
        returned_supplier_link=_send_back(cso, returned, deployment, CSO_COMMENT),
        returned_trust_link=_send_back(reviewer, trust_returned, deployment, NATIONAL_COMMENT),
        cso_queue_link=EvidenceLink.objects.get(evidence=cso_queue, deployment=deployment),
    )


# --- What each role sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A form control or link, as a person finds it: its ARIA role and accessible name."""

    role: str  # "link" or "button"
    name: str


@dataclass(frozen=True)
class Page:
    """One page of a journey: what must be on it for this role, and what must not."""

    label: str
    url: str  # a key of `urls(demo)`
    sees: tuple[Control, ...] = ()
    hides: tuple[Control, ...] = ()
    texts: tuple[str, ...] = ()  # phrases the page must show


@dataclass(frozen=True)
class Refusal:
    """An address the role reaches by URL and is refused: 403 naming the role, or 404."""

    url: str
    status: int
    says: tuple[str, ...] = ()


@dataclass(frozen=True)
class Journey:
    role: str
    ods_code: str
    menu: tuple[str, ...]  # the menu's items, exactly
    pages: tuple[Page, ...]
    refusals: tuple[Refusal, ...] = field(default=())


def link(name: str) -> Control:
    return Control("link", name)


def button(name: str) -> Control:
    return Control("button", name)


def urls(demo: Demo) -> dict[str, str]:
    d, v = demo.deployment, demo.version
    return {
        "home": reverse("home"),
        "deployment": reverse("onboarding:deployment-detail", args=[d.pk]),
        "checklist": reverse("onboarding:deployment-checklist", args=[d.pk]),
        "evidence-create": reverse("onboarding:deployment-evidence-create", args=[d.pk]),
        "reviews": reverse("onboarding:review-queue"),
        "cso-queue-review": reverse("onboarding:evidence-review", args=[demo.cso_queue_link.pk]),
        "returned-supplier-evidence": reverse(
            "onboarding:evidence-detail", args=[demo.returned_supplier_link.evidence_id]
        ),
        "returned-supplier-review": reverse("onboarding:evidence-review", args=[demo.returned_supplier_link.pk]),
        "returned-trust-evidence": reverse("onboarding:evidence-detail", args=[demo.returned_trust_link.evidence_id]),
        "returned-trust-revise": reverse("onboarding:evidence-revise", args=[demo.returned_trust_link.evidence_id]),
        "returned-trust-review": reverse("onboarding:evidence-review", args=[demo.returned_trust_link.pk]),
        "hazard-log": reverse("safety:hazard-log", args=[d.pk]),
        "sign-off": reverse("safety:sign-off", args=[d.pk]),
        "go-live": reverse("safety:go-live", args=[d.pk]),
        "stage": reverse("onboarding:deployment-stage", args=[d.pk]),
        "organisation": reverse("accounts:organisation-detail", args=[demo.trust.pk]),
        "member-invite": reverse("accounts:member-invite", args=[demo.trust.pk]),
        "version-evidence": reverse("onboarding:product-version-evidence", args=[v.pk]),
        "carry-forward": reverse("onboarding:product-version-carry-forward", args=[v.pk]),
        "supplier-hazards": reverse("safety:supplier-hazard-list", args=[v.pk]),
        "supplier-hazard-create": reverse("safety:supplier-hazard-create", args=[v.pk]),
        "other-deployment": reverse("onboarding:deployment-detail", args=[demo.other_deployment.pk]),
        "framework": reverse("onboarding:framework-list"),
    }


BASE_MENU = ("Home", "Deployments", "Organisations", "Framework", "Dashboard")
WITH_REVIEWS = ("Home", "Deployments", "Organisations", "Reviews", "Framework", "Dashboard")
ADD_EVIDENCE = link("Add evidence")
SIGN_OFF = button("Sign off the hazard log")
ADD_LOCAL_HAZARD = link("Add a local hazard")
RECORD_DECISION = button("Record decision")
UPLOAD_REVISION = link("Upload a new revision")
CHANGE_FRAMEWORK = link("Change framework version")
INVITE = link("Invite someone")
CARRY_FORWARD = link("Carry evidence forward from 2.0")
ADD_SUPPLIER_HAZARD = link("Add a hazard")
OPEN_DEPLOYMENT = link("Open a deployment")
NOT_FOUND = Refusal("other-deployment", 404, ("Page not found",))

JOURNEYS: dict[str, Journey] = {
    j.role: j
    for j in [
        Journey(
            Role.CSO,
            TRUST,
            WITH_REVIEWS,
            (
                Page(
                    "home",
                    "home",
                    sees=(link("Hazards needing your attention"), link("Evidence waiting for your review")),
                ),
                Page(
                    "review queue",
                    "reviews",
                    sees=(link(CSO_QUEUE_EVIDENCE),),
                    texts=("Supplier evidence for requirements the Clinical Safety Officer reviews",),
                ),
                Page("review", "cso-queue-review", sees=(RECORD_DECISION,), texts=("Clinical Safety Officer",)),
                Page("checklist", "checklist", sees=(ADD_EVIDENCE,)),
                Page("hazard log", "hazard-log", sees=(ADD_LOCAL_HAZARD,)),
                Page("sign-off", "sign-off", sees=(SIGN_OFF,)),
            ),
            (Refusal("go-live", 403, ("Only the Executive approver", "Demo Executive approver")), NOT_FOUND),
        ),
        Journey(
            Role.DEPLOYMENT_LEAD,
            TRUST,
            WITH_REVIEWS,
            (
                Page("home", "home", sees=(OPEN_DEPLOYMENT, link("Evidence waiting for your review"))),
                Page(
                    "review queue",
                    "reviews",
                    sees=(link(LEAD_QUEUE_EVIDENCE),),
                    hides=(link(CSO_QUEUE_EVIDENCE),),
                    texts=(
                        "Supplier evidence for requirements the deployment lead or Clinical Safety Officer reviews",
                    ),
                ),
                Page("deployment", "deployment", sees=(CHANGE_FRAMEWORK,)),
                Page("organisation", "organisation", sees=(INVITE,)),
                Page("sign-off", "sign-off", hides=(SIGN_OFF,)),
            ),
            (Refusal("go-live", 403, ("Only the Executive approver",)), NOT_FOUND),
        ),
        Journey(
            Role.EVIDENCE_CONTRIBUTOR,
            TRUST,
            BASE_MENU,
            (
                Page("home", "home", hides=(OPEN_DEPLOYMENT, link("Evidence waiting for your review"))),
                Page("checklist", "checklist", sees=(ADD_EVIDENCE,)),
                Page(
                    "returned evidence",
                    "returned-trust-evidence",
                    sees=(UPLOAD_REVISION,),
                    texts=(NATIONAL_COMMENT, "Demo National assurance reviewer", "the national team (NHS England)"),
                ),
                Page("revise", "returned-trust-revise", texts=(NATIONAL_COMMENT, "Demo National assurance reviewer")),
                Page("review link", "returned-trust-review", hides=(RECORD_DECISION,), texts=(NATIONAL_COMMENT,)),
                Page("hazard log", "hazard-log", hides=(ADD_LOCAL_HAZARD,)),
            ),
            (Refusal("stage", 403, ("Only the Deployment lead", "Demo Deployment lead")), NOT_FOUND),
        ),
        Journey(
            Role.EXECUTIVE_APPROVER,
            TRUST,
            BASE_MENU,
            (
                Page("home", "home", hides=(OPEN_DEPLOYMENT,)),
                Page("checklist", "checklist", hides=(ADD_EVIDENCE,)),
                Page("sign-off", "sign-off", hides=(SIGN_OFF,)),
                Page("go-live", "go-live", texts=("Authorise go-live",)),
            ),
            (Refusal("evidence-create", 403, ("Evidence contributor", "Demo Evidence contributor")), NOT_FOUND),
        ),
        Journey(
            Role.VIEWER,
            TRUST,
            BASE_MENU,
            (
                Page("home", "home", hides=(OPEN_DEPLOYMENT, link("Hazards needing your attention"))),
                Page("deployment", "deployment", hides=(CHANGE_FRAMEWORK,)),
                Page("checklist", "checklist", hides=(ADD_EVIDENCE,)),
                Page("returned evidence", "returned-trust-evidence", hides=(UPLOAD_REVISION,)),
                Page("hazard log", "hazard-log", hides=(ADD_LOCAL_HAZARD,)),
                Page("sign-off", "sign-off", hides=(SIGN_OFF,)),
                Page("organisation", "organisation", hides=(INVITE,)),
            ),
            (
                Refusal("evidence-create", 403, ("Evidence contributor", "Demo Evidence contributor")),
                Refusal("member-invite", 403, ("Only the Deployment lead", "Demo Deployment lead")),
                NOT_FOUND,
            ),
        ),
        Journey(
            Role.SUPPLIER_ASSURANCE_LEAD,
            SUPPLIER,
            BASE_MENU,
            (
                Page("home", "home", sees=(link("Evidence for Acme PACS NIR Connector 2.1"),)),
                Page("version evidence", "version-evidence", sees=(ADD_EVIDENCE, CARRY_FORWARD)),
                Page(
                    "returned evidence",
                    "returned-supplier-evidence",
                    sees=(UPLOAD_REVISION,),
                    texts=(CSO_COMMENT, "Demo Clinical Safety Officer", "Clinical Safety Officer"),
                ),
                Page("review link", "returned-supplier-review", hides=(RECORD_DECISION,), texts=(CSO_COMMENT,)),
                Page("supplier hazards", "supplier-hazards", hides=(ADD_SUPPLIER_HAZARD,)),
            ),
            (
                Refusal("supplier-hazard-create", 403, ("Only the Supplier Clinical Safety Officer",)),
                Refusal("hazard-log", 404, ("Page not found",)),
            ),
        ),
        Journey(
            Role.SUPPLIER_CSO,
            SUPPLIER,
            BASE_MENU,
            (
                Page("home", "home"),
                Page("supplier hazards", "supplier-hazards", sees=(ADD_SUPPLIER_HAZARD,)),
                Page("version evidence", "version-evidence", sees=(ADD_EVIDENCE, CARRY_FORWARD)),
            ),
            (Refusal("hazard-log", 404, ("Page not found",)),),
        ),
        Journey(
            Role.SUPPLIER_CONTRIBUTOR,
            SUPPLIER,
            BASE_MENU,
            (
                Page("home", "home"),
                Page("version evidence", "version-evidence", sees=(ADD_EVIDENCE,), hides=(CARRY_FORWARD,)),
                Page("supplier hazards", "supplier-hazards", hides=(ADD_SUPPLIER_HAZARD,)),
            ),
            (Refusal("carry-forward", 403, ("Supplier assurance lead", "Demo Supplier assurance lead")),),
        ),
        Journey(
            Role.NATIONAL_REVIEWER,
            NATIONAL,
            WITH_REVIEWS,
            (
                Page("home", "home", sees=(link("Evidence waiting for your review"),), hides=(OPEN_DEPLOYMENT,)),
                Page(
                    "review queue",
                    "reviews",
                    sees=(link(NATIONAL_QUEUE_EVIDENCE),),
                    hides=(link(CSO_QUEUE_EVIDENCE),),
                    texts=("national team reviews",),
                ),
                Page("deployment", "deployment", hides=(CHANGE_FRAMEWORK,)),
                Page("sign-off", "sign-off", hides=(SIGN_OFF,)),
            ),
            (Refusal("stage", 403, ("Only the Deployment lead",)),),
        ),
        Journey(
            Role.NATIONAL_ADMIN,
            NATIONAL,
            WITH_REVIEWS,
            (
                Page("home", "home", sees=(OPEN_DEPLOYMENT,)),
                Page("organisation", "organisation", sees=(INVITE,)),
                Page("deployment", "deployment", hides=(CHANGE_FRAMEWORK,)),
                Page("sign-off", "sign-off", hides=(SIGN_OFF,)),
            ),
            (Refusal("stage", 403, ("Only the Deployment lead",)),),
        ),
    ]
}
