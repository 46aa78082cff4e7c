"""The permission matrix, generated from the URLconf.

Every URL pattern is found by walking the resolver. A URL that takes an object id must have an
entry in OBJECT_URLS saying which object it is opened with and who owns it; then a person of every
role, from an organisation that neither owns nor supplies the object, gets 404 (unless the entry
names the role as allowed), and an anonymous visitor is sent to sign in. Every URL without an id
sends anonymous visitors to sign in unless it is on an explicit public list. Adding a URL that the
matrix does not cover fails the suite.
"""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from django.urls.converters import IntConverter
from django.urls.resolvers import RegexPattern

from nir_portal.accounts import reauth
from nir_portal.accounts.models import ROLES_BY_KIND, CSOProfile, Membership, Organisation, Role
from nir_portal.audit.models import AuditEvent
from onboarding.models import EvidenceFile, EvidenceLink, ProductVersion
from onboarding.services import framework as framework_services
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.rules import StoredUpload
from onboarding.services.framework import framework_current, framework_load
from safety import cscr_services
from safety.models import DeploymentHazard
from safety.services.controls import action_add
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories

FRAMEWORK_FILE = Path(__file__).resolve().parent.parent / "onboarding" / "data" / "framework.json"

SIGN_IN_PATH = "/accounts/login/"
ADMIN_SIGN_IN_PATH = "/admin/login/"


# --- Walking the URLconf --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str | None  # namespaced, e.g. "onboarding:deployment-detail"
    route: str
    pattern: URLPattern
    origin: str  # "portal", "allauth" or "admin"
    # Arguments captured along the whole include chain, with their converters (None for regex groups).
    kwargs: tuple[tuple[str, object], ...]

    @property
    def kwarg_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.kwargs)

    @property
    def id_kwargs(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, converter in self.kwargs
            if name not in NOT_OBJECT_IDS
            and (isinstance(converter, IntConverter) or name in ("pk", "id") or name.endswith(("_id", "_pk")))
        )

    @property
    def takes_id(self) -> bool:
        return bool(self.id_kwargs)

    @property
    def accepts_get(self) -> bool:
        view_class = getattr(self.pattern.callback, "view_class", None)
        if view_class is None:
            return True
        return "get" in view_class.http_method_names and hasattr(view_class, "get")

    @property
    def accepts_post(self) -> bool:
        view_class = getattr(self.pattern.callback, "view_class", None)
        if view_class is None:
            return True  # a function view: assume it does, and check it like one that does
        return "post" in view_class.http_method_names and hasattr(view_class, "post")


def _captured(pattern) -> tuple[tuple[str, object], ...]:
    converters = getattr(pattern, "converters", {})
    return tuple((name, converters.get(name)) for name in pattern.regex.groupindex)


def _origin(resolver: URLResolver, inherited: str) -> str:
    if inherited != "portal":
        return inherited
    if resolver.namespace == "admin":
        return "admin"
    module = resolver.urlconf_name if isinstance(resolver.urlconf_name, str) else ""
    module = module or getattr(resolver.urlconf_module, "__name__", "")
    return "allauth" if module.startswith("allauth") else "portal"


def walk(
    resolver: URLResolver, prefix: str = "", namespace: str = "", origin: str = "portal", kwargs: tuple = ()
) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            child_ns = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from walk(
                entry, prefix + str(entry.pattern), child_ns, _origin(entry, origin), kwargs + _captured(entry.pattern)
            )
        else:
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(
                name=name,
                route=prefix + str(entry.pattern),
                pattern=entry,
                origin=origin,
                kwargs=kwargs + _captured(entry.pattern),
            )


def all_routes(resolver: URLResolver | None = None) -> list[Route]:
    return list(walk(resolver or get_resolver()))


def object_routes_missing_from_matrix(resolver: URLResolver | None = None) -> set[str]:
    """Names of URLs that take an object id and have no OBJECT_URLS entry (the admin has its own rule)."""
    return {
        route.name or route.route
        for route in all_routes(resolver)
        if route.takes_id and route.origin != "admin" and route.name not in OBJECT_URLS
    }


# --- People ------------------------------------------------------------------------------------------

ROLE_SEATS = [(kind, role) for kind, roles in ROLES_BY_KIND.items() for role in roles]


def client_for(user) -> Client:
    """A client signed in as the person, with MFA done and a fresh re-authentication, so views
    that ask for recent re-authentication reach their permission check."""
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    request = RequestFactory().get("/")
    request.user, request.session = user, client.session
    record_authentication(request, user, method="mfa", type="totp", reauthenticated=True)
    request.session.save()
    return client


def outsiders(excluded: tuple[Organisation, ...]) -> dict[tuple[str, str], object]:
    """A person for every (organisation kind, role), each in a fresh organisation of that kind."""
    organisations = {
        kind: factories.OrganisationFactory(kind=kind, name=f"Outsider {kind}", region="") for kind in ROLES_BY_KIND
    }
    assert not set(organisations.values()) & set(excluded)
    return {(kind, role): factories.member(organisations[kind], role) for kind, role in ROLE_SEATS}


def is_sign_in_redirect(response: HttpResponse, *, allowed_paths=(SIGN_IN_PATH,)) -> bool:
    return response.status_code == 302 and urlparse(response["Location"]).path in allowed_paths


@pytest.fixture
def published_framework(db):
    framework, _ = framework_load(actor=None, data=json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8")), publish=True)
    return framework


@pytest.fixture
def world(published_framework, world):
    """The conftest world, opened once a framework is published, so its deployments have one."""
    return world


# --- The registry of URLs that take an object id --------------------------------------------------


@dataclass(frozen=True)
class Target:
    kwargs: dict
    owners: tuple[Organisation, ...]  # the owning organisation and any supplier of the object
    insider: object  # someone entitled to the object: proves the kwargs name a real object
    insider_status: int = 200  # what the insider gets (GET, or POST for views that only take POST)


@dataclass(frozen=True)
class Expect:
    get: int | None = None  # None: refused, with 404 (or 405 from a view that only takes POST)
    post: int = 404


@dataclass(frozen=True)
class ObjectUrl:
    build: Callable[..., Target]
    # Roles (held in an unrelated organisation) that are not refused, with what they get instead.
    allowed: dict[str, Expect] = field(default_factory=dict)


def _deployment_a(world, insider_role=Role.VIEWER) -> Target:
    return Target(
        kwargs={"pk": world.deployment_a.pk},
        owners=(world.trust_a, world.supplier),
        insider=world.member(world.trust_a, insider_role),
    )


def _trust_a(world, insider_role=Role.VIEWER) -> Target:
    return Target(
        kwargs={"pk": world.trust_a.pk}, owners=(world.trust_a,), insider=world.member(world.trust_a, insider_role)
    )


def _membership_in_trust_a(world, insider_status: int = 200) -> Target:
    person = world.member(world.trust_a, Role.VIEWER)
    membership = Membership.objects.get(user=person, organisation=world.trust_a)
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    return Target(kwargs={"pk": membership.pk}, owners=(world.trust_a,), insider=lead, insider_status=insider_status)


def _security_key_of_trust_a_member(world) -> Target:
    person = world.member(world.trust_a, Role.CSO)
    key = Authenticator.objects.create(
        user=person, type=Authenticator.Type.WEBAUTHN, data={"name": "Desk key", "credential": {}}
    )
    return Target(kwargs={"pk": key.pk}, owners=(world.trust_a,), insider=person)


def _trust_a_evidence(world, *, files: int = 0):
    """Submitted evidence of trust A for its deployment, for a requirement the national team reviews."""
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    evidence = evidence_create(
        actor=contributor,
        owner=world.trust_a,
        deployment=world.deployment_a,
        title="Information governance approval",
        requirement_codes=[TRUST_REQUIREMENT],
        statement="Approved by the IG lead.",
        effective_date=date(2026, 1, 15),
        files=[
            StoredUpload(
                original_name=f"approval-{n}.pdf",
                storage_name=f"evidence/matrix-{n}.pdf",
                sha256="0" * 64,
                size=10,
                detected_type="pdf",
            )
            for n in range(files)
        ],
    )
    return evidence, contributor


def _evidence(world) -> Target:
    evidence, contributor = _trust_a_evidence(world)
    return Target(kwargs={"pk": evidence.pk}, owners=(world.trust_a, world.supplier), insider=contributor)


def _evidence_to_submit(world) -> Target:
    evidence, contributor = _trust_a_evidence(world)
    # Already submitted: the insider's POST is answered with a message and a redirect.
    return Target(kwargs={"pk": evidence.pk}, owners=(world.trust_a,), insider=contributor, insider_status=302)


def _evidence_link(world, insider_status: int = 200) -> Target:
    evidence, contributor = _trust_a_evidence(world)
    link = EvidenceLink.objects.get(evidence=evidence, deployment=world.deployment_a)
    return Target(
        kwargs={"pk": link.pk},
        owners=(world.trust_a, world.supplier),
        insider=contributor,
        insider_status=insider_status,
    )


def _evidence_file(world) -> Target:
    evidence, contributor = _trust_a_evidence(world, files=1)
    file = EvidenceFile.objects.get(revision__evidence=evidence)
    # Not scanned yet: even its owner is sent back to the evidence, and nothing is released.
    return Target(kwargs={"pk": file.pk}, owners=(world.trust_a,), insider=contributor, insider_status=302)


def _product_version(world, insider_role=Role.SUPPLIER_CONTRIBUTOR, *, uplift: bool = False) -> Target:
    version = world.product_version
    if uplift:
        version = ProductVersion.objects.create(product=version.product, version="1.1", previous_version=version)
    return Target(
        kwargs={"pk": version.pk}, owners=(world.supplier,), insider=world.member(world.supplier, insider_role)
    )


def _draft_framework(world, insider_status: int = 200) -> Target:
    draft = framework_services.framework_draft_create(actor=world.national_admin, source=framework_current())
    return Target(
        kwargs={"pk": draft.pk}, owners=(world.national,), insider=world.national_admin, insider_status=insider_status
    )


def _published_framework(world) -> Target:
    return Target(
        kwargs={"pk": framework_current().pk},
        owners=(world.national,),
        insider=world.national_admin,
        insider_status=302,
    )


def _draft_requirement(world) -> Target:
    draft = framework_services.framework_draft_create(actor=world.national_admin, source=framework_current())
    requirement = draft.requirements.first()
    return Target(kwargs={"pk": requirement.pk}, owners=(world.national,), insider=world.national_admin)


TRUST_REQUIREMENT = "GOV-02"  # provided by the deploying organisation, reviewed nationally
NATIONAL = (Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN)


def _hazard_of_trust_a(world, insider_role=Role.VIEWER, insider_status: int = 200) -> Target:
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a).order_by("number").first()
    return Target(
        kwargs={"pk": hazard.pk},
        owners=(world.trust_a,),
        insider=world.member(world.trust_a, insider_role),
        insider_status=insider_status,
    )


def _transferred_hazard_of_trust_a(world) -> Target:
    supplier_hazard_save(
        actor=world.member(world.supplier, Role.SUPPLIER_CSO),
        product_version=world.product_version,
        code="SUP-1",
        name="Timeout not shown",
        description="d",
        clinical_impact="i",
        causes="c",
        supplier_controls="s",
        is_transferred=True,
        transfer_note="Train staff.",
    )
    hazard = DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard__code="SUP-1")
    return Target(
        kwargs={"pk": hazard.pk}, owners=(world.trust_a, world.supplier), insider=world.member(world.trust_a, Role.CSO)
    )


def _action_of_trust_a(world) -> Target:
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a).order_by("number").first()
    action = action_add(
        actor=lead,
        hazard=hazard,
        expected_version=hazard.version,
        description="Write the SOP.",
        owner=world.trust_a,
        due_on=date(2026, 6, 30),
    )
    # The lead's POST completes it and is sent back to the hazard.
    return Target(kwargs={"pk": action.pk}, owners=(world.trust_a,), insider=lead, insider_status=302)


def _sign_off_of_trust_a(world) -> Target:
    cso = world.member(world.trust_a, Role.CSO)
    CSOProfile.objects.create(
        user=cso,
        professional_body="GMC",
        registration_number="1234567",
        registration_checked_on=factories.recent_registration_check(),
    )
    DeploymentHazard.objects.filter(deployment=world.deployment_a).update(
        residual_severity="minor", residual_likelihood="low", residual_rating=1
    )
    sign_off = sign_off_create(
        actor=cso, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )
    return Target(kwargs={"pk": sign_off.pk}, owners=(world.trust_a,), insider=world.member(world.trust_a, Role.VIEWER))


def _incident_of_trust_a(world, insider_status: int = 200) -> Target:
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    incident = incident_report(
        actor=lead,
        deployment=world.deployment_a,
        reference="INC-1",
        reported_on=date(2026, 3, 1),
        summary="Priors missing.",
    )
    return Target(kwargs={"pk": incident.pk}, owners=(world.trust_a,), insider=lead, insider_status=insider_status)


def _supplier_hazard(world) -> Target:
    supplier_cso = world.member(world.supplier, Role.SUPPLIER_CSO)
    hazard = supplier_hazard_save(
        actor=supplier_cso,
        product_version=world.product_version,
        code="SUP-2",
        name="Cache stale",
        description="d",
        clinical_impact="i",
        causes="c",
        supplier_controls="s",
        is_transferred=False,
    )
    return Target(kwargs={"pk": hazard.pk}, owners=(world.supplier,), insider=supplier_cso)


NATIONAL_READS = dict.fromkeys(NATIONAL, Expect(get=200))
# National roles see every deployment, so an action they lack the role for is a 403 naming that
# role (nothing is revealed that they could not already read), not a 404.
NATIONAL_SEES_REFUSED = dict.fromkeys(NATIONAL, Expect(get=403, post=403))
NATIONAL_SEES_REFUSED_POST_ONLY = dict.fromkeys(NATIONAL, Expect(post=403))

OBJECT_URLS: dict[str, ObjectUrl] = {
    # National roles read every deployment; managing one stays with its own lead.
    "onboarding:deployment-detail": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "onboarding:deployment-stage": ObjectUrl(
        lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "onboarding:deployment-checklist": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "onboarding:deployment-framework": ObjectUrl(
        lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "onboarding:deployment-evidence-create": ObjectUrl(
        lambda w: Target(
            kwargs={"deployment_pk": w.deployment_a.pk},
            owners=(w.trust_a, w.supplier),
            insider=w.member(w.trust_a, Role.EVIDENCE_CONTRIBUTOR),
        ),
        # Only the deployment's own organisation and its supplier contribute evidence.
    ),
    # Evidence: the national team reads and reviews submitted evidence and joins its thread; only
    # the owning organisation changes it.
    "onboarding:evidence-detail": ObjectUrl(_evidence, allowed=NATIONAL_READS),
    "onboarding:evidence-revise": ObjectUrl(_evidence),
    "onboarding:evidence-submit": ObjectUrl(_evidence_to_submit),
    # An empty decision comes back with its errors.
    "onboarding:evidence-review": ObjectUrl(_evidence_link, allowed=dict.fromkeys(NATIONAL, Expect(get=200, post=200))),
    # An empty comment is answered with a message and a redirect.
    "onboarding:evidence-comment": ObjectUrl(
        lambda w: _evidence_link(w, insider_status=302), allowed=dict.fromkeys(NATIONAL, Expect(post=302))
    ),
    # Unscanned, so the national team too is only sent back to the evidence.
    "onboarding:evidence-file-download": ObjectUrl(_evidence_file, allowed=dict.fromkeys(NATIONAL, Expect(get=302))),
    # A product version's evidence pages belong to its supplier alone.
    "onboarding:product-version-evidence": ObjectUrl(_product_version),
    "onboarding:product-version-evidence-create": ObjectUrl(
        lambda w: Target(
            kwargs={"version_pk": w.product_version.pk},
            owners=(w.supplier,),
            insider=w.member(w.supplier, Role.SUPPLIER_CONTRIBUTOR),
        )
    ),
    "onboarding:product-version-carry-forward": ObjectUrl(
        lambda w: _product_version(w, Role.SUPPLIER_ASSURANCE_LEAD, uplift=True)
    ),
    # The framework is curated by the national admin alone; a draft is seen by nobody else.
    # (Published versions are readable by everyone signed in, by design.)
    "onboarding:framework-detail": ObjectUrl(_draft_framework, allowed={Role.NATIONAL_ADMIN: Expect(get=200)}),
    "onboarding:framework-publish": ObjectUrl(
        lambda w: _draft_framework(w, insider_status=302), allowed={Role.NATIONAL_ADMIN: Expect(post=302)}
    ),
    "onboarding:framework-draft": ObjectUrl(_published_framework, allowed={Role.NATIONAL_ADMIN: Expect(post=302)}),
    "onboarding:requirement-edit": ObjectUrl(
        _draft_requirement, allowed={Role.NATIONAL_ADMIN: Expect(get=200, post=200)}
    ),
    # National roles see every organisation; only the national admin manages other organisations' members.
    "accounts:organisation-detail": ObjectUrl(_trust_a, allowed=NATIONAL_READS),
    "accounts:member-invite": ObjectUrl(
        lambda w: _trust_a(w, Role.DEPLOYMENT_LEAD),
        # An empty form comes back with its errors.
        allowed={Role.NATIONAL_ADMIN: Expect(get=200, post=200), Role.NATIONAL_REVIEWER: Expect(get=403, post=403)},
    ),
    "accounts:membership-role": ObjectUrl(
        _membership_in_trust_a,
        allowed={Role.NATIONAL_ADMIN: Expect(get=200, post=200), Role.NATIONAL_REVIEWER: Expect(get=403, post=403)},
    ),
    "accounts:membership-remove": ObjectUrl(
        _membership_in_trust_a,
        # The national admin really removes it and is sent back to the organisation.
        allowed={Role.NATIONAL_ADMIN: Expect(get=200, post=302), Role.NATIONAL_REVIEWER: Expect(get=403, post=403)},
    ),
    # POST only: the lead, or the national admin, re-sends and is sent back to the organisation.
    "accounts:membership-invitation-resend": ObjectUrl(
        lambda w: _membership_in_trust_a(w, insider_status=302),
        allowed={Role.NATIONAL_ADMIN: Expect(post=302), Role.NATIONAL_REVIEWER: Expect(post=403)},
    ),
    # The lead, or the national admin, resets and is sent back to the organisation; the form is empty.
    "accounts:membership-authenticator-reset": ObjectUrl(
        _membership_in_trust_a,
        allowed={Role.NATIONAL_ADMIN: Expect(get=200, post=302), Role.NATIONAL_REVIEWER: Expect(get=403, post=403)},
    ),
    # A security key is its owner's alone, whatever the role.
    "mfa_edit_webauthn": ObjectUrl(_security_key_of_trust_a_member),
    "mfa_remove_webauthn": ObjectUrl(_security_key_of_trust_a_member),
}

SAFETY_OBJECT_URLS: dict[str, ObjectUrl] = {
    # A trust's hazard log is read by its members and the national team; suppliers never see it.
    "safety:hazard-log": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "safety:hazard-log-export-csv": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "safety:hazard-log-export-xlsx": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "safety:hazard-create": ObjectUrl(lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED),
    "safety:hazard-detail": ObjectUrl(_hazard_of_trust_a, allowed=NATIONAL_READS),
    "safety:hazard-edit": ObjectUrl(
        lambda w: _hazard_of_trust_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:hazard-transfer-decision": ObjectUrl(_transferred_hazard_of_trust_a, allowed=NATIONAL_SEES_REFUSED),
    "safety:control-create": ObjectUrl(
        lambda w: _hazard_of_trust_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:action-create": ObjectUrl(
        lambda w: _hazard_of_trust_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:action-complete": ObjectUrl(_action_of_trust_a, allowed=NATIONAL_SEES_REFUSED_POST_ONLY),
    # National roles read the sign-off page; only the trust's CSO signs (their POST is a 403).
    "safety:sign-off": ObjectUrl(_deployment_a, allowed=dict.fromkeys(NATIONAL, Expect(get=200, post=403))),
    "safety:sign-off-detail": ObjectUrl(_sign_off_of_trust_a, allowed=NATIONAL_READS),
    "safety:go-live": ObjectUrl(lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER), allowed=NATIONAL_SEES_REFUSED),
    "safety:incident-list": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "safety:incident-create": ObjectUrl(
        lambda w: _deployment_a(w, Role.EVIDENCE_CONTRIBUTOR), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:incident-detail": ObjectUrl(_incident_of_trust_a, allowed=NATIONAL_READS),
    # POST only; an empty entry comes back with its errors.
    "safety:incident-journal": ObjectUrl(_incident_of_trust_a, allowed=NATIONAL_SEES_REFUSED_POST_ONLY),
    # A version's DCB0129 hazards: its supplier's members and the national team read them.
    "safety:supplier-hazard-list": ObjectUrl(_product_version, allowed=NATIONAL_READS),
    "safety:supplier-hazard-create": ObjectUrl(
        lambda w: _product_version(w, Role.SUPPLIER_CSO), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:supplier-hazard-edit": ObjectUrl(_supplier_hazard, allowed=NATIONAL_SEES_REFUSED),
}
OBJECT_URLS.update(SAFETY_OBJECT_URLS)

# URL arguments that name something other than a stored object, with why.
NOT_OBJECT_IDS = {
    "provider_id": "names a configured sign-in provider (CIS2), not a stored object",
}


# --- URLs without ids ---------------------------------------------------------------------------------

# Public portal pages: anonymous visitors may open them.
PUBLIC_URLS = {
    "healthz": "load balancers and monitoring call it without an account",
    "accessibility-statement": "the statement must be reachable before signing in",
}
# allauth's pages for people who are not signed in yet. Every other allauth page sends anonymous
# visitors to sign in, like the portal's own pages.
ALLAUTH_PUBLIC_URLS = {
    "account_login": "signing in",
    "account_logout": "signs nobody out when nobody is signed in; sends the visitor home",
    "account_signup": "tells visitors that accounts are by invitation only (signup is closed)",
    "account_inactive": "explains an inactive account",
    "account_email_verification_sent": "part of email confirmation",
    "account_confirm_email": "confirmation links carry their own key",
    "account_reset_password": "asking for a password reset link",
    "account_reset_password_done": "reset link sent",
    "account_reset_password_from_key": "reset links carry their own signed key",
    "account_reset_password_from_key_done": "password changed",
    "socialaccount_login_cancelled": "returning from a cancelled CIS2 sign-in",
    "enrolment_link": "enrolment links carry their own signed token; using one still needs the password",
    "openid_connect_login": "starting a CIS2 sign-in",
    "openid_connect_callback": "returning from a CIS2 sign-in",
}
# Sample arguments for URLs whose arguments are not object ids.
SAMPLE_KWARGS = {
    "account_confirm_email": {"key": "not-a-real-key"},
    "account_reset_password_from_key": {"uidb36": "1", "key": "not-a-real-key"},
    "enrolment_link": {"token": "not-a-real-token"},
    "openid_connect_login": {"provider_id": "cis2"},
    "openid_connect_callback": {"provider_id": "cis2"},
    "admin:app_list": {"app_label": "auth"},
}


def _cscr_job_of_trust_a(world, insider_status: int = 200) -> Target:
    """A queued CSCR bundle job of trust A's current sign-off (nothing is enqueued: no commit)."""
    _sign_off_of_trust_a(world)
    cso = CSOProfile.objects.get(registration_number="1234567").user
    job, _ = cscr_services.bundle_request(actor=cso, deployment=world.deployment_a, mfa_verified_at=time.time())
    return Target(
        kwargs={"pk": job.pk}, owners=(world.trust_a, world.supplier), insider=cso, insider_status=insider_status
    )


def _evidence_link_reviewed_nationally(world) -> Target:
    """Trust A's evidence waiting for the national team, opened by a national reviewer (who may
    record a PARS exception: an empty form is shown again with its error)."""
    target = _evidence_link(world)
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    return Target(kwargs=target.kwargs, owners=target.owners, insider=reviewer)


OBJECT_URLS["onboarding:evidence-pars-exception"] = ObjectUrl(
    _evidence_link_reviewed_nationally, allowed=dict.fromkeys(NATIONAL, Expect(post=200))
)


CSCR_OBJECT_URLS: dict[str, ObjectUrl] = {
    "cscr:bundle-list": ObjectUrl(lambda w: _deployment_a(w, Role.CSO), allowed=NATIONAL_READS),
    # POST only; with no sign-off yet, the CSO's request is refused with a message and a redirect.
    "cscr:bundle-request": ObjectUrl(
        lambda w: Target(
            kwargs={"pk": w.deployment_a.pk},
            owners=(w.trust_a, w.supplier),
            insider=w.member(w.trust_a, Role.CSO),
            insider_status=302,
        ),
        allowed=NATIONAL_SEES_REFUSED_POST_ONLY,
    ),
    "cscr:job-detail": ObjectUrl(_cscr_job_of_trust_a, allowed=NATIONAL_READS),
    "cscr:job-progress": ObjectUrl(_cscr_job_of_trust_a, allowed=NATIONAL_READS),
    # Not built yet: even its owner, and the national team, are sent back to the job's page.
    "cscr:job-download": ObjectUrl(
        lambda w: _cscr_job_of_trust_a(w, insider_status=302), allowed=dict.fromkeys(NATIONAL, Expect(get=302))
    ),
}
OBJECT_URLS.update(CSCR_OBJECT_URLS)


def _incident_for_trust_a_cso(world) -> Target:
    target = _incident_of_trust_a(world)
    return Target(kwargs=target.kwargs, owners=target.owners, insider=world.member(world.trust_a, Role.CSO))


def _escalation_of_trust_a(world) -> Target:
    from safety.lifecycle.incidents import incident_escalate
    from safety.models import SafetyIncident

    _incident_of_trust_a(world)
    cso = world.member(world.trust_a, Role.CSO)
    escalation = incident_escalate(actor=cso, incident=SafetyIncident.objects.get(reference="INC-1"), note="Check it.")
    return Target(kwargs={"pk": escalation.pk}, owners=(world.trust_a, world.supplier), insider=cso)


LIFECYCLE_OBJECT_URLS: dict[str, ObjectUrl] = {
    # A version's publication is its supplier's CSO's or assurance lead's act; the national team,
    # who read the version's hazards, are told who may (403).
    "safety:version-publish": ObjectUrl(
        lambda w: _product_version(w, Role.SUPPLIER_CSO), allowed=NATIONAL_SEES_REFUSED
    ),
    # The case's versions are read like its hazard log; only the deployment lead upgrades it.
    "safety:case-versions": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "safety:case-upgrade": ObjectUrl(lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED),
    "safety:hazard-re-review": ObjectUrl(lambda w: _hazard_of_trust_a(w, Role.CSO), allowed=NATIONAL_SEES_REFUSED),
    "safety:live-case-decision": ObjectUrl(
        lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:incident-escalate": ObjectUrl(_incident_for_trust_a_cso, allowed=NATIONAL_SEES_REFUSED),
    # The national team reads every escalation; only the product's supplier records its finding.
    "safety:escalation-detail": ObjectUrl(
        _escalation_of_trust_a, allowed=dict.fromkeys(NATIONAL, Expect(get=200, post=403))
    ),
    "safety:periodic-review": ObjectUrl(lambda w: _deployment_a(w, Role.CSO), allowed=NATIONAL_SEES_REFUSED),
    "safety:decommissioning": ObjectUrl(
        lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED
    ),
    "safety:decommissioning-authorise": ObjectUrl(
        lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER), allowed=NATIONAL_SEES_REFUSED
    ),
    # The deployment lead records the day it went live (before go-live is authorised the page says why not).
    "safety:go-live-record": ObjectUrl(lambda w: _deployment_a(w, Role.DEPLOYMENT_LEAD), allowed=NATIONAL_SEES_REFUSED),
}
OBJECT_URLS.update(LIFECYCLE_OBJECT_URLS)
PUBLIC_URLS["cscr:verify"] = "anyone checks a CSCR bundle, without an account (issue 5)"


def _certificate_of_trust_a(world, insider_role=Role.VIEWER) -> Target:
    from certificates import services as certificate_services
    from tests.certificates.pki import HOST, pki

    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    entry = certificate_services.certificate_entry_create(
        actor=lead,
        deployment=world.deployment_a,
        name="Gateway server",
        purpose="gateway_server",
        environment="live",
        owner=lead,
        endpoint_hostname=HOST,
        upload=certificate_services.Upload(name="gateway.pem", data=pki().valid.pem),
    )
    insider = lead if insider_role == Role.DEPLOYMENT_LEAD else world.member(world.trust_a, insider_role)
    return Target(kwargs={"pk": entry.pk}, owners=(world.trust_a,), insider=insider)


CERTIFICATE_OBJECT_URLS: dict[str, ObjectUrl] = {
    # A deployment's register: its organisation (and its supplier, for the version's certificates)
    # and the national team read it; only the organisation's leads and CSO add to it.
    "certificates:deployment-certificates": ObjectUrl(_deployment_a, allowed=NATIONAL_READS),
    "certificates:deployment-certificate-create": ObjectUrl(
        lambda w: Target(
            kwargs={"deployment_pk": w.deployment_a.pk},
            owners=(w.trust_a, w.supplier),
            insider=w.member(w.trust_a, Role.DEPLOYMENT_LEAD),
        ),
        allowed=NATIONAL_SEES_REFUSED,
    ),
    "certificates:product-version-certificates": ObjectUrl(_product_version, allowed=NATIONAL_READS),
    "certificates:product-version-certificate-create": ObjectUrl(
        lambda w: Target(
            kwargs={"version_pk": w.product_version.pk},
            owners=(w.supplier,),
            insider=w.member(w.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        ),
        allowed=NATIONAL_SEES_REFUSED,
    ),
    "certificates:entry-detail": ObjectUrl(_certificate_of_trust_a, allowed=NATIONAL_READS),
    "certificates:entry-renew": ObjectUrl(
        lambda w: _certificate_of_trust_a(w, Role.CSO), allowed=NATIONAL_SEES_REFUSED
    ),
}
OBJECT_URLS.update(CERTIFICATE_OBJECT_URLS)


# --- The "stale authenticator" column: every action that binds a person ---------------------------------

# The person of the right role for each binding action, from the action's own organisation. With
# an authenticator check older than REAUTHENTICATION_SECONDS their POST is sent to re-authenticate.
BINDING_URLS: dict[str, Callable[..., Target]] = {
    "safety:sign-off": lambda w: _deployment_a(w, Role.CSO),
    "safety:go-live": lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER),
    "safety:hazard-transfer-decision": _transferred_hazard_of_trust_a,
    "cscr:bundle-request": lambda w: _deployment_a(w, Role.CSO),
    "accounts:membership-role": _membership_in_trust_a,
    "accounts:membership-authenticator-reset": _membership_in_trust_a,
    "onboarding:evidence-pars-exception": _evidence_link_reviewed_nationally,
    "safety:live-case-decision": lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER),
    "safety:decommissioning-authorise": lambda w: _deployment_a(w, Role.EXECUTIVE_APPROVER),
}


def stale_client_for(user) -> Client:
    """Signed in with MFA, but the last authenticator check is older than the window."""
    client = client_for(user)
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] = time.time() - settings.ACCOUNT_REAUTHENTICATION_TIMEOUT - 60
    session.save()
    return client


def binding_view_names() -> set[str]:
    return {
        route.name
        for route in all_routes()
        if issubclass(getattr(route.pattern.callback, "view_class", object), reauth.RecentMFARequiredMixin)
    }


ADMIN_SAMPLE_ID = "1"

# Pages without an id that only national roles open; every other role gets 404, as for anything
# they may not see.
NATIONAL_ONLY_URLS = {
    "audit:event-list": "the audit trail, read-only",
    "audit:export-json": "a slice of the audit trail as a FHIR Bundle",
    "audit:export-ndjson": "a slice of the audit trail as FHIR NDJSON",
}


def _reverse(route: Route) -> str:
    if route.name in SAMPLE_KWARGS:
        return reverse(route.name, kwargs=SAMPLE_KWARGS[route.name])
    if route.origin == "admin" and route.takes_id:
        return reverse(route.name, kwargs=dict.fromkeys(route.kwarg_names, ADMIN_SAMPLE_ID))
    return reverse(route.name)


def _named_routes_without_ids() -> list[Route]:
    return [r for r in all_routes() if r.name and not r.takes_id]


# --- Coverage: the matrix must know every URL ---------------------------------------------------------


def test_every_url_that_takes_an_object_id_is_in_the_matrix():
    missing = object_routes_missing_from_matrix()

    assert not missing, f"URLs that take an object id but are not in OBJECT_URLS: {sorted(missing)}"


def test_the_matrix_lists_no_url_that_no_longer_exists():
    existing = {r.name for r in all_routes() if r.takes_id}

    assert set(OBJECT_URLS) <= existing, f"stale OBJECT_URLS entries: {sorted(set(OBJECT_URLS) - existing)}"


def test_a_new_url_taking_an_id_that_the_matrix_does_not_cover_is_detected():
    def view(request, pk):
        return HttpResponse()

    with_new_url = URLResolver(
        RegexPattern(r"^/"),
        [*get_resolver().url_patterns, path("reports/<int:pk>/", view, name="report-detail")],
    )

    assert object_routes_missing_from_matrix(with_new_url) == {"report-detail"}


def test_every_portal_url_has_a_name():
    # Unnamed patterns could not be reached by the matrix; allauth's legacy redirects and the admin's
    # catch-all are outside the portal's code.
    unnamed = [r.route for r in all_routes() if r.name is None and r.origin == "portal"]

    assert not unnamed


def test_the_public_lists_name_only_urls_that_exist():
    names = {r.name for r in all_routes()}

    assert set(PUBLIC_URLS) | set(ALLAUTH_PUBLIC_URLS) | set(SAMPLE_KWARGS) <= names


# --- URLs that take an object id ------------------------------------------------------------------------


@pytest.mark.parametrize("url_name", sorted(OBJECT_URLS))
def test_a_person_of_every_role_in_an_unrelated_organisation_is_refused_with_404(url_name, world):
    entry = OBJECT_URLS[url_name]
    target = entry.build(world)
    url = reverse(url_name, kwargs=target.kwargs)
    route = next(r for r in all_routes() if r.name == url_name)
    people = outsiders(excluded=target.owners)

    wrong = []
    for (kind, role), person in people.items():
        expected = entry.allowed.get(role, Expect())
        expected_get = expected.get or (404 if route.accepts_get else 405)
        client = client_for(person)
        got = client.get(url).status_code
        if got != expected_get:
            wrong.append(f"GET as {role} of a {kind}: {got}, expected {expected_get}")
        if route.accepts_post:
            got = client.post(url, {}).status_code
            if got != expected.post:
                wrong.append(f"POST as {role} of a {kind}: {got}, expected {expected.post}")

    assert not wrong, f"{url_name} ({url}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("url_name", sorted(OBJECT_URLS))
def test_anonymous_visitors_are_sent_to_sign_in_and_someone_entitled_gets_the_page(url_name, world, client):
    target = OBJECT_URLS[url_name].build(world)
    url = reverse(url_name, kwargs=target.kwargs)
    route = next(r for r in all_routes() if r.name == url_name)

    anonymous = [client.get(url)] + ([client.post(url, {})] if route.accepts_post else [])
    insider = client_for(target.insider)
    entitled = insider.get(url) if route.accepts_get else insider.post(url, {})

    for response in anonymous:
        assert is_sign_in_redirect(response), (response.status_code, response.get("Location"))
        assert parse_qs(urlparse(response["Location"]).query)["next"] == [url]
    # Without this, a wrong id in the registry would make every refusal pass vacuously.
    assert entitled.status_code == target.insider_status


def test_every_binding_action_has_a_stale_authenticator_column():
    # A view that binds a person uses the re-authentication guard; the column must list it.
    assert binding_view_names() == set(BINDING_URLS)


@pytest.mark.parametrize("url_name", sorted(BINDING_URLS))
def test_a_stale_authenticator_of_the_right_role_is_sent_to_reauthenticate(url_name, world):
    target = BINDING_URLS[url_name](world)
    url = reverse(url_name, kwargs=target.kwargs)
    client = stale_client_for(target.insider)
    before = AuditEvent.objects.count()

    response = client.post(url, {})

    assert response.status_code == 302
    assert urlparse(response["Location"]).path == reverse("mfa_reauthenticate")
    assert AuditEvent.objects.count() == before  # nothing was done, so nothing was recorded


# --- URLs without ids ----------------------------------------------------------------------------------


def test_every_url_without_an_id_sends_anonymous_visitors_to_sign_in_unless_listed_as_public(client, db):
    public = set(PUBLIC_URLS) | set(ALLAUTH_PUBLIC_URLS)
    wrong = []
    for route in _named_routes_without_ids():
        if route.name in public or route.origin == "admin":
            continue
        response = client.get(_reverse(route))
        if not is_sign_in_redirect(response):
            wrong.append(f"{route.name}: {response.status_code} {response.get('Location', '')}")

    assert not wrong, "pages open to anonymous visitors but not listed as public:\n" + "\n".join(wrong)


def test_every_url_listed_as_public_is_open_to_anonymous_visitors(client, db):
    # Keeps the allow-list exact: an entry that no longer needs to be there is removed.
    public = set(PUBLIC_URLS) | set(ALLAUTH_PUBLIC_URLS)
    wrong = []
    for route in all_routes():
        if route.name in public:
            response = client.get(_reverse(route))
            if is_sign_in_redirect(response):
                wrong.append(route.name)

    assert not wrong, f"listed as public but send visitors to sign in: {wrong}"


def test_every_portal_page_without_an_id_opens_for_a_signed_in_member(world):
    # Guards against the anonymous check passing because a page is simply broken.
    person = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    client = client_for(person)
    broken = []
    for route in _named_routes_without_ids():
        if route.origin != "portal":
            continue
        status = client.get(_reverse(route)).status_code
        if status >= 500:
            broken.append(f"{route.name}: {status}")

    assert not broken


@pytest.mark.parametrize("url_name", sorted(NATIONAL_ONLY_URLS))
def test_a_national_only_page_answers_404_to_every_other_role_and_opens_for_national_roles(url_name, db):
    url = reverse(url_name)
    wrong = []
    for (kind, role), person in outsiders(excluded=()).items():
        expected = 200 if role in NATIONAL else 404
        got = client_for(person).get(url).status_code
        if got != expected:
            wrong.append(f"GET as {role} of a {kind}: {got}, expected {expected}")

    assert not wrong, f"{url_name}:\n" + "\n".join(wrong)


# --- The admin: staff only, before anything is looked up --------------------------------------------


def test_the_admin_sends_anonymous_visitors_to_sign_in(client, db):
    wrong = []
    for route in all_routes():
        if route.origin != "admin" or not route.name:
            continue
        response = client.get(_reverse(route))
        if not is_sign_in_redirect(response, allowed_paths=(SIGN_IN_PATH, ADMIN_SIGN_IN_PATH)):
            wrong.append(f"{route.name}: {response.status_code} {response.get('Location', '')}")
    admin_login = client.get(reverse("admin:login"))

    assert not wrong
    assert is_sign_in_redirect(admin_login), "the admin's own login page must hand over to the portal's"


def test_no_role_opens_any_admin_page_that_takes_an_id(db):
    # No role makes anyone staff: every admin page refuses before it looks anything up.
    organisations = {kind: factories.OrganisationFactory(kind=kind, region="") for kind in ROLES_BY_KIND}
    admin_urls = [_reverse(r) for r in all_routes() if r.origin == "admin" and r.name and r.takes_id]
    opened = []
    for kind, role in ROLE_SEATS:
        client = client_for(factories.member(organisations[kind], role))
        for url in admin_urls:
            for response in (client.get(url), client.post(url, {})):
                refused = response.status_code == 403 or is_sign_in_redirect(
                    response, allowed_paths=(ADMIN_SIGN_IN_PATH,)
                )
                if not refused:
                    opened.append(f"{role}: {response.request['REQUEST_METHOD']} {url}: {response.status_code}")

    assert admin_urls
    assert not opened


# --- People inside the organisation who lack the role ----------------------------------------------------

TRUST_ROLES = (Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR, Role.EXECUTIVE_APPROVER, Role.VIEWER)


@dataclass(frozen=True)
class Refused:
    """Members of the object's own organisation who see the object but lack the role: each is
    refused with a 403 that names the role that may act. `get`: the form itself is refused too
    (False where the page is a read page that shows no form to them)."""

    organisation: Callable[..., Organisation]
    roles: tuple[str, ...]
    get: bool = True


def _trust_a_except(*allowed: str) -> Refused:
    return Refused(lambda w: w.trust_a, tuple(r for r in TRUST_ROLES if r not in allowed))


def _supplier_except(*allowed: str) -> Refused:
    return Refused(
        lambda w: w.supplier, tuple(r for r in ROLES_BY_KIND[Organisation.Kind.SUPPLIER] if r not in allowed)
    )


INSIDERS_REFUSED: dict[str, Refused] = {
    "onboarding:deployment-stage": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "onboarding:deployment-framework": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "onboarding:deployment-evidence-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR),
    "onboarding:evidence-revise": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR),
    "onboarding:evidence-submit": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR),
    # Nobody reviews their own organisation's evidence: the page is theirs to read, the decision is not.
    "onboarding:evidence-review": Refused(lambda w: w.trust_a, TRUST_ROLES, get=False),
    "onboarding:evidence-pars-exception": Refused(lambda w: w.trust_a, TRUST_ROLES, get=False),
    "onboarding:product-version-carry-forward": _supplier_except(Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO),
    "accounts:member-invite": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "accounts:membership-role": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "accounts:membership-remove": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "accounts:membership-invitation-resend": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "accounts:membership-authenticator-reset": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "safety:hazard-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "safety:hazard-edit": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "safety:hazard-transfer-decision": _trust_a_except(Role.CSO),
    "safety:control-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "safety:action-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "safety:action-complete": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    # Everyone in the trust reads the sign-off page; only the CSO's POST signs.
    "safety:sign-off": Refused(lambda w: w.trust_a, tuple(r for r in TRUST_ROLES if r != Role.CSO), get=False),
    "safety:go-live": _trust_a_except(Role.EXECUTIVE_APPROVER),
    "safety:incident-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR),
    "safety:incident-journal": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR),
    "safety:supplier-hazard-create": _supplier_except(Role.SUPPLIER_CSO),
    "safety:supplier-hazard-edit": _supplier_except(Role.SUPPLIER_CSO),
    "safety:case-upgrade": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "safety:decommissioning": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "safety:decommissioning-authorise": _trust_a_except(Role.EXECUTIVE_APPROVER),
    "safety:hazard-re-review": _trust_a_except(Role.CSO),
    "safety:incident-escalate": _trust_a_except(Role.CSO),
    "safety:live-case-decision": _trust_a_except(Role.CSO, Role.EXECUTIVE_APPROVER),
    "safety:periodic-review": _trust_a_except(Role.CSO),
    "safety:go-live-record": _trust_a_except(Role.DEPLOYMENT_LEAD),
    "safety:version-publish": _supplier_except(Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO),
    # The trust's own members read its escalated incident; the finding is the supplier's to record.
    "safety:escalation-detail": Refused(lambda w: w.trust_a, TRUST_ROLES, get=False),
    "certificates:deployment-certificate-create": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "certificates:entry-renew": _trust_a_except(Role.CSO, Role.DEPLOYMENT_LEAD),
    "certificates:product-version-certificate-create": _supplier_except(
        Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO
    ),
}
# Members who do not see the object at all, so are refused with a 404 as for an object they may
# not see: a supplier's escalated incidents are seen only by its CSO and assurance lead.
INSIDERS_REFUSED_WITH_404: dict[str, Refused] = {
    "safety:escalation-detail": _supplier_except(Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO),
}
# URLs taking an id and a POST that every member who sees the object may use, or that nobody
# inside sees without the role (so they are refused with a 404 above), with why.
OPEN_TO_EVERY_INSIDER = {
    "onboarding:evidence-comment": "anyone who sees the evidence may join its thread",
    "onboarding:product-version-evidence-create": "every supplier role contributes evidence",
    "onboarding:framework-publish": "drafts are seen by the national admin alone",
    "onboarding:framework-draft": "the framework is curated by the national admin alone",
    "onboarding:requirement-edit": "drafts are seen by the national admin alone",
    "cscr:bundle-request": "members who may not request bundles do not see them either",
    "mfa_edit_webauthn": "a security key is its owner's alone",
    "mfa_remove_webauthn": "a security key is its owner's alone",
}


def test_every_object_url_taking_a_post_says_which_insiders_are_refused():
    posting = {r.name for r in all_routes() if r.takes_id and r.origin != "admin" and r.accepts_post}
    unlisted = posting - set(INSIDERS_REFUSED) - set(INSIDERS_REFUSED_WITH_404) - set(OPEN_TO_EVERY_INSIDER)

    assert not unlisted, f"URLs taking a POST with no INSIDERS_REFUSED entry: {sorted(unlisted)}"
    assert set(INSIDERS_REFUSED) | set(INSIDERS_REFUSED_WITH_404) | set(OPEN_TO_EVERY_INSIDER) <= posting


@pytest.mark.parametrize("url_name", sorted(INSIDERS_REFUSED))
def test_a_member_without_the_role_is_refused_with_403_naming_the_role_and_its_holders(url_name, world):
    entry = INSIDERS_REFUSED[url_name]
    target = OBJECT_URLS[url_name].build(world)
    url = reverse(url_name, kwargs=target.kwargs)
    route = next(r for r in all_routes() if r.name == url_name)
    organisation = entry.organisation(world)

    wrong = []
    for role in entry.roles:
        client = client_for(world.member(organisation, role))
        responses = [("POST", client.post(url, {}))]
        if entry.get and route.accepts_get:
            responses.append(("GET", client.get(url)))
        for method, response in responses:
            body = response.content.decode()
            if response.status_code != 403 or 'data-testid="forbidden-role"' not in body:
                wrong.append(f"{method} as {role}: {response.status_code}")
            elif organisation.name not in body and "Nobody in your organisation" not in body:
                wrong.append(f"{method} as {role}: the 403 names no holder in {organisation.name}")

    assert not wrong, f"{url_name} ({url}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("url_name", sorted(INSIDERS_REFUSED_WITH_404))
def test_a_member_without_the_role_is_refused_with_404(url_name, world):
    entry = INSIDERS_REFUSED_WITH_404[url_name]
    target = OBJECT_URLS[url_name].build(world)
    url = reverse(url_name, kwargs=target.kwargs)
    organisation = entry.organisation(world)
    wrong = []
    for role in entry.roles:
        client = client_for(world.member(organisation, role))
        for method, response in (("POST", client.post(url, {})), ("GET", client.get(url))):
            if response.status_code != 404:
                wrong.append(f"{method} as {role}: {response.status_code}")

    assert not wrong, f"{url_name} ({url}):\n" + "\n".join(wrong)


# --- A password alone, before any authenticator is set up ----------------------------------------------

# What a signed-in person without an authenticator and without an enrolment grant may open, with why.
OPEN_WITHOUT_AN_AUTHENTICATOR = {
    "enrolment_needed": "says to use the emailed link, and sends a new one",
    "enrolment_link": "the emailed link itself",
    "account_reset_password_from_key": "the invitation's set-password link",
    "account_reset_password_from_key_done": "says the password was changed, nothing more",
    "account_logout": "signing out",
    "healthz": "monitoring",
}


def test_a_password_alone_opens_nothing_but_the_way_to_the_emailed_link(db):
    person = factories.member(factories.OrganisationFactory(), Role.VIEWER, mfa=False)
    client = Client()
    client.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    needed = reverse("enrolment_needed")
    opened = []
    for route in _named_routes_without_ids():
        if route.origin == "admin" or route.name in OPEN_WITHOUT_AN_AUTHENTICATOR:
            continue
        url = _reverse(route)
        for response in (client.get(url), client.post(url, {})):
            if not (response.status_code == 302 and response["Location"] == needed):
                opened.append(f"{response.request['REQUEST_METHOD']} {route.name}: {response.status_code}")

    assert not opened, "open to a password alone:\n" + "\n".join(opened)
