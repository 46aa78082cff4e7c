"""A deployment lead keeps the deployment's certificate register in a real browser: a file holding a
private key is refused with nothing stored, a weak gateway certificate is added and its findings
shown, and it is renewed as a new revision with its history kept. Every page visited is checked
with axe."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from certificates import services
from certificates.models import CertificateEntry, CertificateRevision
from nir_portal.accounts.models import Role
from tests.browser.axe import assert_accessible
from tests.certificates.pki import HOST, issue, rsa_key

pytestmark = pytest.mark.browser

NAME = "Gateway server"


def pem_file(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "application/x-pem-file", "buffer": data}


@pytest.fixture
def trust_pki():
    """A root registered as the deployment's issuing chain, and gateway certificates it issued,
    dated from now: the live server and the browser run on the real clock."""
    now = timezone.now()
    root = issue(
        "Trust A Test Root CA",
        key=rsa_key(2048, slot=2),
        ca=True,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3650),
    )
    weak = issue(
        "weak gateway",
        issuer=root,
        key=rsa_key(1024),
        hosts=("other-gateway.example.nhs.uk",),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=20, hours=12),
    )
    renewed = issue(
        "renewed gateway",
        issuer=root,
        hosts=(HOST,),
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=365, hours=12),
    )
    return root, weak, renewed


def test_a_lead_adds_a_certificate_sees_its_findings_and_renews_it(
    world, live_server, context, page, sign_in, checked_pages, trust_pki
):
    # Given Trust A's deployment lead, and the trust's root registered as the deployment's issuing chain
    root, weak, renewed = trust_pki
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Alex Lead")
    services.certificate_entry_create(
        actor=lead,
        deployment=world.deployment_a,
        name="Trust root",
        purpose=CertificateEntry.Purpose.ISSUING_CHAIN,
        environment=CertificateEntry.Environment.LIVE,
        owner=lead,
        endpoint_hostname="",
        upload=services.Upload(name="root.pem", data=root.pem),
    )
    sign_in(context, lead)

    # When they open the deployment's certificate register from the deployment's page
    page.goto(live_server.url + world.deployment_a.get_absolute_url())
    assert_accessible(page, checked_pages, label="deployment page, deployment lead")
    page.get_by_role("link", name="Certificate register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Certificate register")
    assert_accessible(page, checked_pages, label="deployment certificate register, issuing chain only")

    # and try to add the gateway's certificate with its private key in the same file
    page.get_by_role("link", name="Add a certificate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a certificate")
    assert_accessible(page, checked_pages, label="add a certificate")
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_label("Gateway server certificate").check()
    page.get_by_label("Live", exact=True).check()
    page.get_by_label("Endpoint host name").fill(HOST)
    page.get_by_label("Owner").select_option(label=f"Alex Lead ({lead.email})")
    page.get_by_label("Certificate file").set_input_files(pem_file("gateway.pem", weak.pem + weak.key_pem))
    page.get_by_role("button", name="Add to the register").click()

    # Then they are told why it was refused, and nothing is stored
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("This file holds a private key")
    expect(summary).to_contain_text("Nothing was stored")
    assert_accessible(page, checked_pages, label="add a certificate, private key refused")
    assert not CertificateEntry.objects.filter(name=NAME).exists()

    # When they choose the certificate alone and add it
    expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    page.get_by_label("Certificate file").set_input_files(pem_file("gateway.pem", weak.pem))
    page.get_by_role("button", name="Add to the register").click()

    # Then its page shows what was read from it, and its findings: a weak key and a host name that
    # does not match the gateway's
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.get_by_role("status")).to_contain_text(f"Certificate {NAME} has been added to the register.")
    findings = page.get_by_test_id("findings")
    expect(findings).to_contain_text("Weak key")
    expect(findings).to_contain_text("RSA key of 1024 bits")
    expect(findings).to_contain_text("Hostname does not match")
    expect(findings).not_to_contain_text("Chain does not build")
    expect(page.get_by_test_id("expires")).to_contain_text("(in 20 days)")
    expect(page.get_by_text(weak.fingerprint)).to_be_visible()
    assert_accessible(page, checked_pages, label="certificate page, weak key and wrong host")

    # and the register lists it first, soonest expiry, with the same findings
    page.get_by_role("link", name="Trust A NIR").click()
    row = page.get_by_test_id("certificates").locator("tbody tr").first
    expect(row).to_contain_text(NAME)
    expect(row).to_contain_text("Weak key")
    expect(row).to_contain_text("Hostname does not match")
    assert_accessible(page, checked_pages, label="deployment certificate register, a flagged certificate")

    # When they renew it with a certificate for the right host and a strong key
    row.get_by_role("link", name=NAME).click()
    page.get_by_role("link", name="Upload a renewed certificate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Renew {NAME}")
    assert_accessible(page, checked_pages, label="renew a certificate")
    page.get_by_label("Certificate file").set_input_files(pem_file("gateway-2027.pem", renewed.pem))
    page.get_by_role("button", name="Upload the renewed certificate").click()

    # Then the renewal is the current revision, with no findings, and the first stays in the history
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.get_by_role("status")).to_contain_text(f"Revision 2 of {NAME} is now the current one.")
    expect(page.get_by_test_id("findings")).to_have_count(0)
    expect(page.get_by_test_id("expires")).to_contain_text("(in 365 days)")
    revisions = page.get_by_test_id("revisions").locator("tbody tr")
    expect(revisions).to_have_count(2)
    expect(revisions.first).to_contain_text("2 (current)")
    expect(revisions.first).to_contain_text("gateway-2027.pem")
    expect(revisions.last).to_contain_text("gateway.pem")
    expect(revisions.last).not_to_contain_text("(current)")
    assert_accessible(page, checked_pages, label="certificate page, renewed")
    entry = CertificateEntry.objects.get(name=NAME)
    assert list(entry.revisions.order_by("number").values_list("fingerprint_sha256", flat=True)) == [
        weak.fingerprint,
        renewed.fingerprint,
    ]
    assert entry.current_revision == CertificateRevision.objects.get(entry=entry, number=2)

    # and the register shows the renewed certificate without findings
    page.goto(live_server.url + reverse("certificates:deployment-certificates", args=[world.deployment_a.pk]))
    row = page.get_by_test_id("certificates").locator("tbody tr").filter(has_text=NAME)
    expect(row).to_contain_text("None")
    assert_accessible(page, checked_pages, label="deployment certificate register, renewed")
