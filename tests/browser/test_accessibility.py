"""Every page of the portal, as each kind of person sees it, checked with axe-core in a browser.

The pages are enumerated from the URLconf, so a new page is checked without anyone remembering
to add it: a URL that nobody in the roster reaches with GET and that is not in EXCLUDED fails.
"""

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import date

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from playwright.sync_api import Page

from certificates import services as certificate_services
from certificates.models import CertificateEntry
from nir_portal.accounts import enrolment
from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import ROLES_BY_KIND, CSOProfile, Membership, Organisation, Role
from onboarding import services as onboarding_services
from onboarding.models import EvidenceLink, Requirement
from onboarding.services import framework as framework_services
from safety.lifecycle.models import IncidentEscalation
from safety.models import CSCRBundleJob, DeploymentHazard, SafetyIncident, SignOff
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.accounts.test_sign_in import give_enrolment_grant
from tests.browser.axe import assert_accessible, horizontal_overflow
from tests.certificates.pki import HOST, pki
from tests.onboarding import evidence_fixtures as fx
from tests.safety.conftest import score_all

pytestmark = pytest.mark.browser

# URLs that are not pages a person reaches with a plain GET, each with the reason. An entry that
# matches no URL any more fails the test, so the list cannot go stale.
EXCLUDED = {
    # Not HTML pages.
    "healthz": "JSON health check for the load balancer",
    "mfa_download_recovery_codes": "downloads a text file",
    "onboarding:evidence-file-download": "downloads an evidence file",
    "safety:hazard-log-export-csv": "downloads the hazard log as CSV",
    "safety:hazard-log-export-xlsx": "downloads the hazard log as a spreadsheet",
    "dashboards:national-export-csv": "downloads the national view as CSV",
    "dashboards:national-export-xlsx": "downloads the national view as a spreadsheet",
    "cscr:job-download": "downloads a CSCR bundle (ZIP)",
    "audit:export-json": "downloads the audit trail as a FHIR Bundle",
    "audit:export-ndjson": "downloads the audit trail as NDJSON",
    "cscr:job-progress": "an HTML fragment the job page polls (checked within cscr:job-detail)",
    "certificates:register-export-csv": "downloads the certificate register as CSV",
    "certificates:register-export-xlsx": "downloads the certificate register as a spreadsheet",
    # POST only.
    "accounts:active-organisation": "POST only: the header's organisation switcher, on every page checked",
    "accounts:membership-invitation-resend": "POST only: a button on the organisation page",
    "mfa_login_webauthn": "POST only: passkey sign-in from the sign-in page",
    "onboarding:evidence-submit": "POST only: a button on the evidence page",
    "onboarding:evidence-comment": "POST only: the comment form on the review page",
    "onboarding:evidence-pars-exception": "POST only: the PARS exception form on the review page",
    "onboarding:framework-publish": "POST only: a button on the framework page",
    "onboarding:framework-draft": "POST only: a button on the framework page",
    "safety:action-complete": "POST only: a button on the hazard page",
    "safety:incident-journal": "POST only: the journal form on the incident page",
    "cscr:bundle-request": "POST only: the button on the sign-off and bundles pages",
    # Reached only part-way through a flow that a GET cannot start.
    "mfa_authenticate": "only mid-sign-in; checked by test_keyboard's sign-in journey",
    "socialaccount_signup": "needs a pending CIS2 sign-in in the session (and sign-up is closed)",
    "openid_connect_login": "needs a configured CIS2 provider (CIS2_SERVER_URL)",
    "openid_connect_callback": "needs a CIS2 provider's redirect with a code",
    "account_confirm_email": "needs an emailed key; email verification is off (ACCOUNT_EMAIL_VERIFICATION)",
    "account_confirm_login_code": "sign-in by emailed code is off (ACCOUNT_LOGIN_BY_CODE_ENABLED)",
    "account_request_reauthentication_code": "re-authentication by emailed code is off",
    "account_confirm_reauthentication_code": "re-authentication by emailed code is off",
    "mfa_reauthenticate_webauthn": "needs a registered passkey, which headless chromium cannot make",
    "mfa_edit_webauthn": "needs a registered passkey, which headless chromium cannot make",
    "mfa_remove_webauthn": "needs a registered passkey, which headless chromium cannot make",
    # allauth's old unnamed addresses, kept only as redirects to /accounts/3rdparty/.
    "accounts/social/login/cancelled/": "redirects to socialaccount_login_cancelled",
    "accounts/social/login/error/": "redirects to socialaccount_login_error",
    "accounts/social/signup/": "redirects to socialaccount_signup",
    "accounts/social/connections/": "redirects to socialaccount_connections",
}
# Django's admin site is staff tooling outside the NHS.UK-styled service: axe would be judging
# Django's own stylesheet, not the portal.
EXCLUDED_NAMESPACES = {"admin": "Django's admin site, for staff; not part of the NHS.UK service"}

# allauth's account and security pages are alike for every role (only the header differs), so they
# are checked once per kind of visitor rather than once per role.
SHARED_PAGE_PREFIXES = ("account_", "mfa_", "socialaccount_")


@dataclass
class Persona:
    label: str
    kind: str  # anonymous | not_enrolled | enrolled | passwordless: what allauth's pages vary by
    user: object = None
    organisation: Organisation | None = None
    deployment: object = None
    colleague: Membership | None = None  # someone else's membership in their organisation
    shared_only: bool = False  # a variant visitor for allauth's pages only


@dataclass
class Things:
    """Objects the pages are about, shared by the roster; each URL tries the ones that fit."""

    framework: object
    draft_requirement: object
    version: object
    next_version: object
    trust_evidence: object
    supplier_evidence: object
    new_person: object  # invited, has not set a password: follows the emailed link
    supplier_hazard: object
    certificate: object  # Trust A's gateway certificate, with findings to show
    escalation: object


def _pk(*objects) -> list[dict]:
    return [{"pk": o.pk} for o in objects if o is not None]


def _links(things: Things, persona: Persona) -> list[dict]:
    evidence = [things.trust_evidence, things.supplier_evidence]
    return _pk(*EvidenceLink.objects.filter(evidence__in=evidence, deployment=persona.deployment).order_by("pk"))


def _hazards(things: Things, persona: Persona) -> list[dict]:
    # The supplier's transferred hazard first (it awaits the trust's decision), then the library's.
    hazards = DeploymentHazard.objects.filter(deployment=persona.deployment).order_by("number")
    supplier = DeploymentHazard.Source.SUPPLIER
    return _pk(hazards.filter(source=supplier).first(), hazards.exclude(source=supplier).first())


def _of_deployment(model):
    return lambda things, persona: _pk(*model.objects.filter(deployment=persona.deployment).order_by("pk")[:1])


def _token(user) -> dict:
    return {"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)}


def _enrolment_token(user) -> str:
    return enrolment.link_token(account_services.enrolment_link_for_bootstrap(user=user))


# For each URL taking arguments: the argument sets to try for a person; the first they reach is
# checked, so the richer variant comes first (a draft framework, which only the admin sees).
ARGUMENTS = {
    "cscr:bundle-list": lambda t, p: _pk(p.deployment),
    "cscr:job-detail": _of_deployment(CSCRBundleJob),
    "accounts:organisation-detail": lambda t, p: _pk(p.organisation),
    "accounts:member-invite": lambda t, p: _pk(p.organisation),
    "accounts:membership-role": lambda t, p: _pk(p.colleague),
    "accounts:membership-remove": lambda t, p: _pk(p.colleague),
    "accounts:membership-authenticator-reset": lambda t, p: _pk(p.colleague),
    "enrolment_link": lambda t, p: [{"token": _enrolment_token(t.new_person)}] if p.user is None else [],
    "onboarding:deployment-detail": lambda t, p: _pk(p.deployment),
    "onboarding:deployment-stage": lambda t, p: _pk(p.deployment),
    "onboarding:deployment-checklist": lambda t, p: _pk(p.deployment),
    "onboarding:deployment-framework": lambda t, p: _pk(p.deployment),
    "onboarding:deployment-evidence-create": lambda t, p: [{"deployment_pk": p.deployment.pk}] if p.deployment else [],
    "onboarding:evidence-detail": lambda t, p: _pk(t.trust_evidence, t.supplier_evidence),
    "onboarding:evidence-revise": lambda t, p: _pk(t.trust_evidence, t.supplier_evidence),
    "onboarding:evidence-review": _links,
    "onboarding:product-version-evidence": lambda t, p: _pk(t.version),
    "onboarding:product-version-evidence-create": lambda t, p: [{"version_pk": t.version.pk}],
    "onboarding:product-version-carry-forward": lambda t, p: _pk(t.next_version),
    "onboarding:framework-detail": lambda t, p: _pk(t.draft_requirement.framework, t.framework),
    "onboarding:requirement-edit": lambda t, p: _pk(t.draft_requirement),
    "account_reset_password_from_key": lambda t, p: [_token(t.new_person)] if p.user is None else [],
    "safety:hazard-log": lambda t, p: _pk(p.deployment),
    "safety:hazard-create": lambda t, p: _pk(p.deployment),
    "safety:sign-off": lambda t, p: _pk(p.deployment),
    "safety:go-live": lambda t, p: _pk(p.deployment),
    "safety:go-live-record": lambda t, p: _pk(p.deployment),
    "safety:incident-list": lambda t, p: _pk(p.deployment),
    "safety:incident-create": lambda t, p: _pk(p.deployment),
    "safety:hazard-detail": _hazards,
    "safety:hazard-edit": _hazards,
    "safety:hazard-transfer-decision": _hazards,
    "safety:control-create": _hazards,
    "safety:action-create": _hazards,
    "safety:sign-off-detail": _of_deployment(SignOff),
    "safety:incident-detail": _of_deployment(SafetyIncident),
    "safety:supplier-hazard-list": lambda t, p: _pk(t.version),
    "safety:supplier-hazard-create": lambda t, p: _pk(t.version),
    "safety:supplier-hazard-edit": lambda t, p: _pk(t.supplier_hazard),
    "certificates:deployment-certificates": lambda t, p: _pk(p.deployment),
    "certificates:deployment-certificate-create": lambda t, p: (
        [{"deployment_pk": p.deployment.pk}] if p.deployment else []
    ),
    "certificates:product-version-certificates": lambda t, p: _pk(t.version),
    "certificates:product-version-certificate-create": lambda t, p: [{"version_pk": t.version.pk}],
    "certificates:entry-detail": lambda t, p: _pk(t.certificate),
    "certificates:entry-renew": lambda t, p: _pk(t.certificate),
    "safety:version-publish": lambda t, p: _pk(t.next_version),
    "safety:case-versions": lambda t, p: _pk(p.deployment),
    "safety:case-upgrade": lambda t, p: _pk(p.deployment),
    "safety:hazard-re-review": _hazards,
    "safety:live-case-decision": lambda t, p: _pk(p.deployment),
    "safety:incident-escalate": _of_deployment(SafetyIncident),
    "safety:escalation-detail": lambda t, p: _pk(t.escalation),
    "safety:periodic-review": lambda t, p: _pk(p.deployment),
    "safety:decommissioning": lambda t, p: _pk(p.deployment),
    "safety:decommissioning-authorise": lambda t, p: _pk(p.deployment),
}

# Parts of a page that differ between people and requests without changing what axe judges:
# tokens, nonces, and the signed-in person's name and role labels in the header.
VOLATILE_MARKUP = [
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'nonce="[^"]*"'),
    re.compile(r'<nav class="nhsuk-header__account".*?</nav>', re.DOTALL),
]


def markup_signature(html: str) -> str:
    for pattern in VOLATILE_MARKUP:
        html = pattern.sub("", html)
    return hashlib.sha256(html.encode()).hexdigest()


REFLOW_WIDTH = 320  # CSS pixels: 1280px at 400% zoom (WCAG 1.4.10)

# Pages shown with an error status on purpose.
EXPECTED_STATUS = {"socialaccount_login_error": 401}

FIRST_TABBABLE_JS = """() => {
  const candidates = document.querySelectorAll(
    'a[href], area[href], button, input:not([type=hidden]), select, textarea, summary, iframe, '
    + '[tabindex], [contenteditable]'
  );
  const tabbable = [...candidates].filter((el) => !el.disabled && el.tabIndex >= 0 && !el.closest('[inert]')
    && getComputedStyle(el).visibility !== 'hidden' && el.getClientRects().length > 0);
  const positive = tabbable.filter((el) => el.tabIndex > 0).sort((a, b) => a.tabIndex - b.tabIndex);
  const first = positive[0] || tabbable[0];
  return {
    isSkipLink: !!first && first.classList.contains('nhsuk-skip-link') && first.getAttribute('href') === '#maincontent',
    first: first ? first.outerHTML.slice(0, 100) : null,
    positiveTabindex: positive.map((el) => el.outerHTML.slice(0, 80)),
  };
}"""


@dataclass(frozen=True)
class Route:
    key: str  # namespaced URL name, or the route of an unnamed pattern
    name: str | None
    params: tuple[str, ...]
    namespace: str

    @property
    def shared(self) -> bool:
        return self.key.startswith(SHARED_PAGE_PREFIXES)


def portal_routes() -> list[Route]:
    """Every URL pattern in the URLconf, named by its namespaced name (or route, when unnamed)."""
    routes: dict[str, Route] = {}

    def walk(resolver: URLResolver, namespace: str, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern, namespace + (f"{pattern.namespace}:" if pattern.namespace else ""), route)
            elif isinstance(pattern, URLPattern):
                params = tuple(pattern.pattern.regex.groupindex) or tuple(getattr(pattern.pattern, "converters", ()))
                name = f"{namespace}{pattern.name}" if pattern.name else None
                key = name or route
                routes.setdefault(key, Route(key=key, name=name, params=params, namespace=namespace.rstrip(":")))

    walk(get_resolver(), "", "")
    return list(routes.values())


def exclusion_reason(route: Route) -> str | None:
    return EXCLUDED.get(route.key) or EXCLUDED_NAMESPACES.get(route.namespace.split(":", 1)[0])


def build_roster(world) -> tuple[list[Persona], Things]:
    """One person for every role, in an organisation of the kind that holds it (a trust's roles at
    Trust A, plus an imaging network's lead), and the visitors allauth's pages differ for:
    anonymous, signed in but not yet enrolled in MFA, and signing in without a password."""
    network = factories.OrganisationFactory(kind=Organisation.Kind.IMAGING_NETWORK, name="Network N")
    network_deployment = onboarding_services.deployment_create(
        actor=world.national_admin,
        organisation=network,
        product_version=world.product_version,
        name="Network N NIR",
        sites=["N1"],
    )
    places = {
        Organisation.Kind.TRUST: (world.trust_a, world.deployment_a),
        Organisation.Kind.SUPPLIER: (world.supplier, world.deployment_a),
        Organisation.Kind.NATIONAL: (world.national, world.deployment_a),
    }
    roster = []
    for kind, (organisation, deployment) in places.items():
        for role in ROLES_BY_KIND[kind]:
            user = world.national_admin if role == Role.NATIONAL_ADMIN else world.member(organisation, role)
            roster.append(
                Persona(f"{Role(role).label}, {organisation.name}", "enrolled", user, organisation, deployment)
            )
    network_lead = world.member(network, Role.DEPLOYMENT_LEAD)
    world.member(network, Role.VIEWER)
    roster.append(Persona("Deployment lead, Network N", "enrolled", network_lead, network, network_deployment))
    for persona in roster:
        RecoveryCodes.activate(persona.user)  # as every enrolment through the portal makes them
        persona.colleague = (
            Membership.objects.filter(organisation=persona.organisation).exclude(user=persona.user).first()
        )
    not_enrolled = world.member(world.trust_a, Role.VIEWER, mfa=False)
    password_only = world.member(world.trust_a, Role.VIEWER, mfa=False)
    passwordless = world.member(world.trust_b, Role.VIEWER)
    passwordless.set_unusable_password()
    passwordless.save()
    roster += [
        Persona("Anonymous visitor", "anonymous"),
        Persona(
            "Viewer, Trust A, no authenticator yet", "not_enrolled", not_enrolled, world.trust_a, world.deployment_a
        ),
        # Signed in with a password, but without the emailed link: sent to use it.
        Persona("Viewer, Trust A, password only", "password_only", password_only, world.trust_a, world.deployment_a),
        Persona(
            "Viewer, Trust B, no password (CIS2 only)", "passwordless", passwordless, world.trust_b, shared_only=True
        ),
    ]
    return roster, _things(world, roster)


def _things(world, roster: list[Persona]) -> Things:
    by_role = {m.role: p.user for p in roster if p.user for m in p.user.memberships.all()}
    framework = world.deployment_a.framework
    assert framework is not None, "the default framework must be published before the world is made"
    draft = framework_services.framework_draft_create(actor=world.national_admin, source=framework)
    supplier_lead = by_role[Role.SUPPLIER_ASSURANCE_LEAD]
    version = world.product_version
    supplier_codes = [r.code for r in framework.requirements.filter(provided_by=Requirement.ProvidedBy.SUPPLIER)][:1]
    trust_codes = [r.code for r in framework.requirements.filter(provided_by=Requirement.ProvidedBy.DEPLOYING)][:1]
    cso = by_role[Role.CSO]
    deployment = world.deployment_a
    # A signed-off hazard log (later superseded by the supplier's transfer), and an incident.
    CSOProfile.objects.create(
        user=cso,
        professional_body="GMC",
        registration_number="7654321",
        registration_checked_on=factories.recent_registration_check(),
    )
    score_all(deployment)
    sign_off_create(
        actor=cso, deployment=deployment, statement="Acceptably safe.", conditions=[], mfa_verified_at=time.time()
    )
    # A bundle job row made directly: bundle_request would queue a message on the real broker.
    CSCRBundleJob.objects.create(
        deployment=deployment, sign_off=SignOff.objects.get(deployment=deployment), requested_by=cso, version=1
    )
    supplier_hazard = supplier_hazard_save(
        actor=by_role[Role.SUPPLIER_CSO],
        product_version=version,
        code="SH-01",
        name="Images filed against the wrong patient",
        description="A mismatched identifier files a study to another record.",
        clinical_impact="Wrong diagnosis.",
        causes="Manual entry.",
        supplier_controls="Identifier check on import.",
        is_transferred=True,
    )
    incident = incident_report(
        actor=cso, deployment=deployment, reference="INC-001", reported_on=date(2026, 11, 2), summary="Misfiled study."
    )
    # Made directly: incident_escalate would queue its notices on the real broker.
    escalation = IncidentEscalation.objects.create(
        incident=incident, supplier=version.product.supplier, note="Please check the import.", escalated_by=cso
    )
    # A gateway certificate with findings (a 1024-bit key), so its page shows them. (by_role's
    # deployment lead is Network N's, the last in the roster.)
    trust_lead = Membership.objects.filter(organisation=world.trust_a, role=Role.DEPLOYMENT_LEAD).first().user
    certificate = certificate_services.certificate_entry_create(
        actor=trust_lead,
        deployment=deployment,
        name="Gateway server",
        purpose=CertificateEntry.Purpose.GATEWAY_SERVER,
        environment=CertificateEntry.Environment.LIVE,
        owner=trust_lead,
        endpoint_hostname=HOST,
        upload=certificate_services.Upload(name="gateway.pem", data=pki().weak_1024.pem),
    )
    return Things(
        escalation=escalation,
        supplier_hazard=supplier_hazard,
        certificate=certificate,
        framework=framework,
        draft_requirement=draft.requirements.order_by("pk").first(),
        version=version,
        next_version=onboarding_services.product_version_create(
            actor=supplier_lead, product=version.product, version="1.1", previous_version=version
        ),
        trust_evidence=fx.trust_evidence(by_role[Role.EVIDENCE_CONTRIBUTOR], world.deployment_a, trust_codes),
        supplier_evidence=fx.supplier_evidence(supplier_lead, version, supplier_codes),
        new_person=next(p.user for p in roster if p.kind == "not_enrolled"),
    )


def reachable_url(client: Client, route: Route, persona: Persona, things: Things) -> tuple[str, str] | None:
    """A URL of `route` this person reaches, and the HTML they get there: a GET (following
    redirects) that ends on the same URL name with the expected status. None if they cannot."""
    if route.name is None:
        return None
    candidates = ARGUMENTS[route.key](things, persona) if route.params else [None]
    for kwargs in candidates:
        url = reverse(route.name, kwargs=kwargs)
        response = client.get(url, follow=True)
        if response.status_code != EXPECTED_STATUS.get(route.key, 200):
            continue
        final = response.redirect_chain[-1][0] if response.redirect_chain else url
        try:
            landed = resolve(final.split("?", 1)[0]).view_name
        except Resolver404:
            continue
        if landed == route.name:
            return url, response.content.decode()
    return None


def structure_problems(page: Page) -> list[str]:
    """One h1, a title naming the page then the service, and the skip link first in tab order."""
    problems = []
    h1_count = page.locator("h1").count()
    if h1_count != 1:
        problems.append(f"{h1_count} h1 elements, not exactly 1")
    title = page.title()
    suffix = f" - {settings.PORTAL_SERVICE_NAME} - NHS"
    page_part = title.removesuffix(suffix).removeprefix("Error: ").strip()
    if not title.endswith(suffix) or not page_part:
        problems.append(f"title {title!r} does not name the page and end with {suffix!r}")
    tabbing = page.evaluate(FIRST_TABBABLE_JS)
    if not tabbing["isSkipLink"]:
        problems.append(f"the first focusable element is not the skip link but {tabbing['first']}")
    if tabbing["positiveTabindex"]:
        problems.append(f"positive tabindex breaks the focus order: {tabbing['positiveTabindex']}")
    return problems


def reflow_problems(page: Page) -> list[str]:
    """test_reflow checks the key pages closely; every other page gets this quick look too."""
    size = page.viewport_size
    page.set_viewport_size({"width": REFLOW_WIDTH, "height": size["height"]})
    try:
        overflow = horizontal_overflow(page)
    finally:
        page.set_viewport_size(size)
    if overflow["scrollWidth"] <= REFLOW_WIDTH:
        return []
    return [f"scrolls sideways at {REFLOW_WIDTH}px, {overflow['scrollWidth']}px wide: {overflow['sticking']}"]


@pytest.fixture
def roster(framework, safety_reference_data, world) -> tuple[list[Persona], Things]:
    return build_roster(world)


def test_every_url_is_named_and_either_has_its_arguments_built_or_is_excluded_with_a_reason():
    # The quick half of "no page escapes" (no browser, no data); the browser test below then fails
    # for any page that nobody in the roster reaches.
    routes = portal_routes()
    stale = sorted(set(EXCLUDED) - {route.key for route in routes})
    assert not stale, f"EXCLUDED lists URLs that no longer exist: {stale}"
    unchecked = []
    for route in routes:
        if exclusion_reason(route):
            continue
        if route.name is None:
            unchecked.append(f"{route.key}: unnamed; name it, or exclude it with a reason")
        elif route.params and route.key not in ARGUMENTS:
            unchecked.append(f"{route.key}: takes {route.params}; add a builder to ARGUMENTS")
    assert not unchecked, "Pages the accessibility test cannot visit:\n" + "\n".join(unchecked)


def test_every_page_each_person_can_reach_passes_axe_has_one_h1_a_title_a_skip_link_first_and_reflows(
    roster, live_server, context, page, sign_in, checked_pages
):
    people, things = roster
    routes = [route for route in portal_routes() if not exclusion_reason(route) and route.name]
    titles: dict[str, set[str]] = {}
    shared_checked: set[tuple[str, str]] = set()
    markup_checked: set[str] = set()
    covered: set[str] = set()
    failures: list[str] = []

    for persona in people:
        if persona.user is None:
            context.clear_cookies()
            client = Client()
        else:
            client = sign_in(context, persona.user)
            if persona.kind == "not_enrolled":
                give_enrolment_grant(client, persona.user)  # as their invitation's link leaves it
        for route in routes:
            if persona.shared_only and not route.shared:
                continue
            if route.shared and (route.key, persona.kind) in shared_checked:
                continue
            reached = reachable_url(client, route, persona, things)
            if reached is None:
                continue
            url, html = reached
            covered.add(route.key)
            shared_checked.add((route.key, persona.kind))
            # The same markup, already checked for someone else, would give the same results.
            signature = markup_signature(html)
            if signature in markup_checked:
                continue
            markup_checked.add(signature)

            page.goto(live_server.url + url)
            where = f"{route.key} as {persona.label} ({page.url})"
            try:
                assert_accessible(page, checked_pages, label=f"{route.key}, {persona.label}")
            except AssertionError as error:
                failures.append(f"{where}:\n{error}")
            failures += [f"{where}: {problem}" for problem in structure_problems(page)]
            failures += [f"{where}: {problem}" for problem in reflow_problems(page)]
            titles.setdefault(page.title(), set()).add(route.key)

    # No page escapes: each one is reached by someone, or excluded with a reason.
    failures += [f"{r.key}: nobody in the roster reaches it with GET" for r in routes if r.key not in covered]
    # Titles tell pages apart: two different pages may not share one.
    failures += [f"pages {sorted(keys)} share the title {title!r}" for title, keys in titles.items() if len(keys) > 1]
    assert not failures, f"{len(failures)} problems:\n\n" + "\n\n".join(failures)


def test_the_live_server_serves_the_nhs_frontend_assets(live_server, page):
    # Static files through the staticfiles handler, and the images the NHS.UK stylesheet asks for
    # from the site root through WhiteNoise (WHITENOISE_ROOT).
    for path in (
        "/static/nhsuk/nhsuk-frontend.min.css",
        "/static/nhsuk/nhsuk-frontend.min.js",
        "/static/css/portal.css",
        "/assets/images/nhsuk-icon-arrow-right-circle.svg",
    ):
        response = page.request.get(live_server.url + path)
        assert response.ok, f"{path}: {response.status}"


def test_the_checks_fail_on_a_page_with_known_problems(live_server, page):
    # Given a real page, broken the ways the checks above look for: an image without a text
    # alternative, an unlabelled input, a second h1, content wider than 320px, and an inline
    # script without the CSP nonce
    page.goto(live_server.url + reverse("accessibility-statement"))
    page.evaluate(
        """() => {
          document.querySelector('main').insertAdjacentHTML('beforeend',
            '<img src="/static/none.png"><input type="text"><h1>Second</h1><div id="wide">wide</div>');
          document.getElementById('wide').style.width = '600px';  // CSSOM: CSP blocks only style attributes
          const script = document.createElement('script');
          script.textContent = 'window.inlineRan = true';
          document.body.append(script);
        }"""
    )

    # Then axe fails the page, naming the rules and where
    with pytest.raises(AssertionError, match=r"(?s)image-alt \(critical\).*label \(critical\)"):
        assert_accessible(page, [], label="deliberately broken")
    # and the structure and reflow checks say what is wrong
    assert "2 h1 elements, not exactly 1" in structure_problems(page)
    assert reflow_problems(page), "a 600px-wide element did not register as scrolling sideways"
    # and the console watch reports the blocked inline script
    with pytest.raises(AssertionError, match="Content Security Policy"):
        page.console_watch.assert_none()


# Form states that no GET reaches: each is sent as a person would send it, then checked.
DATE_ERROR_STATES = [
    # (label, URL name, kwargs builder, the boxes filled in, the box the error summary must link to)
    (
        "evidence effective date without a month",
        "onboarding:product-version-evidence-create",
        lambda world: {"version_pk": world.product_version.pk},
        {"effective_date_day": "3", "effective_date_month": "", "effective_date_year": "2026"},
        "id_effective_date_month",
    ),
    (
        "incident date that is not a real date",
        "safety:incident-create",
        lambda world: {"pk": world.deployment_a.pk},
        {"reported_on_day": "31", "reported_on_month": "2", "reported_on_year": "2026"},
        "id_reported_on_day",
    ),
]


@pytest.mark.parametrize(
    ("label", "url_name", "kwargs", "boxes", "linked"), DATE_ERROR_STATES, ids=[s[0] for s in DATE_ERROR_STATES]
)
def test_a_date_input_in_its_error_state_passes_axe_and_the_summary_links_to_the_box_at_fault(
    label,
    url_name,
    kwargs,
    boxes,
    linked,
    framework,
    safety_reference_data,
    world,
    live_server,
    context,
    page,
    sign_in,
    checked_pages,
):
    # Given someone who may use the form, on it
    person = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    if url_name.startswith("safety:"):
        person = world.member(world.trust_a, Role.CSO)
    sign_in(context, person)
    page.goto(live_server.url + reverse(url_name, kwargs=kwargs(world)))

    # When they send it with the date as typed
    for name, value in boxes.items():
        page.locator(f"input[name={name}]").fill(value)
    page.locator("main form button[type=submit]").first.click()

    # Then the page is in its error state, passes axe, and the summary links to the box at fault,
    # the only box marked
    page.locator(".nhsuk-error-summary").wait_for()
    assert page.locator(f'.nhsuk-error-summary a[href="#{linked}"]').count() == 1
    assert page.locator(".nhsuk-date-input .nhsuk-input--error").evaluate_all("(els) => els.map((e) => e.id)") == [
        linked
    ]
    assert_accessible(page, checked_pages, label=f"date input error state: {label}")
    assert not structure_problems(page)
