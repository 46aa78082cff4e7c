"""The register's screens, exports and command: adding a certificate by upload, refusing a key
with a clear message, the register filtered by expiry, scoped exports, and `certificates_check`."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from certificates.models import CertificateEntry
from nir_portal.audit.models import AuditEvent
from tests.certificates.conftest import HOST, Environment, Purpose, add
from tests.certificates.pki import NOW

pytestmark = pytest.mark.django_db


def form_data(owner, file: bytes, name="certificate.pem", **overrides):
    return {
        "name": "Gateway server",
        "purpose": Purpose.GATEWAY_SERVER,
        "environment": Environment.LIVE,
        "endpoint_hostname": HOST,
        "owner": owner.pk,
        "file": SimpleUploadedFile(name, file),
        **overrides,
    }


def test_the_deployment_page_links_to_its_register(world, keepers, signed_in):
    page = signed_in(keepers.a_viewer).get(world.deployment_a.get_absolute_url())

    assert reverse("certificates:deployment-certificates", args=[world.deployment_a.pk]) in page.content.decode()


def test_a_lead_adds_a_certificate_by_upload_and_sees_what_was_read(world, keepers, certs, signed_in):
    client = signed_in(keepers.a_lead)
    url = reverse("certificates:deployment-certificate-create", args=[world.deployment_a.pk])

    response = client.post(url, form_data(keepers.a_cso, certs.weak_1024.der, "gateway.der"))

    entry = CertificateEntry.objects.get()
    assert response.status_code == 302 and response["Location"] == entry.get_absolute_url()
    page = client.get(entry.get_absolute_url()).content.decode()
    assert certs.weak_1024.fingerprint in page
    assert "Weak key" in page and "RSA key of 1024 bits" in page
    listing = client.get(reverse("certificates:deployment-certificates", args=[world.deployment_a.pk]))
    assert "Gateway server" in listing.content.decode()


def test_uploading_a_private_key_shows_why_and_stores_nothing(world, keepers, certs, signed_in):
    client = signed_in(keepers.a_lead)
    url = reverse("certificates:deployment-certificate-create", args=[world.deployment_a.pk])

    response = client.post(url, form_data(keepers.a_lead, certs.valid.pem + certs.valid.key_pem))

    assert response.status_code == 200
    assert "This file holds a private key" in response.content.decode()
    assert not CertificateEntry.objects.exists()


def test_an_oversized_file_is_refused_without_reading_it_whole(world, keepers, signed_in, settings):
    settings.CERTIFICATE_MAX_FILE_BYTES = 2048
    client = signed_in(keepers.a_lead)
    url = reverse("certificates:deployment-certificate-create", args=[world.deployment_a.pk])

    response = client.post(url, form_data(keepers.a_lead, b"0" * 100_000))

    assert "larger than 2 KiB" in response.content.decode()
    assert not CertificateEntry.objects.exists()


def test_the_owner_can_only_be_chosen_from_the_holding_organisation(world, keepers, certs, signed_in):
    client = signed_in(keepers.a_lead)
    url = reverse("certificates:deployment-certificate-create", args=[world.deployment_a.pk])

    response = client.post(url, form_data(keepers.b_lead, certs.valid.pem))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not CertificateEntry.objects.exists()


def test_a_renewal_is_uploaded_as_a_new_revision(world, keepers, certs, signed_in, registered_chain):
    entry = add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    client = signed_in(keepers.a_cso)

    response = client.post(
        reverse("certificates:entry-renew", args=[entry.pk]), {"file": SimpleUploadedFile("new.pem", certs.valid.pem)}
    )

    assert response.status_code == 302
    page = client.get(entry.get_absolute_url()).content.decode()
    assert "2 (current)" in page and certs.valid.fingerprint in page


@pytest.fixture
def two_trusts(world, keepers, certs):
    return (
        add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a, name="A soon"),
        add(keepers.a_lead, certs.valid, deployment=world.deployment_a, name="A later"),
        add(keepers.b_lead, certs.expired, deployment=world.deployment_b, name="B expired"),
    )


def exported(client, fmt: str, query: str = "") -> list[list[str]]:
    response = client.get(reverse(f"certificates:register-export-{fmt}") + query)
    assert response.status_code == 200
    if fmt == "csv":
        return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [[str(c) if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]


def test_the_register_filters_certificates_expiring_within_n_days(world, keepers, signed_in, two_trusts):
    with time_machine.travel(NOW, tick=False):
        # Signed in at the frozen moment: a session from today's clock would be long expired then.
        client = signed_in(world.national_admin)
        within_30 = client.get(reverse("certificates:register") + "?days=30").content.decode()
        everything = client.get(reverse("certificates:register")).content.decode()

    assert "A soon" in within_30 and "B expired" in within_30 and "A later" not in within_30
    assert "A later" in everything


def test_the_national_team_exports_every_certificate_and_a_trust_only_its_own(world, keepers, signed_in, two_trusts):
    with time_machine.travel(NOW, tick=False):
        national = exported(signed_in(world.national_admin), "xlsx", "?days=30")
        trust_b = exported(signed_in(keepers.b_lead), "csv")

    assert national[0][:2] == ["Certificate", "Held by"]
    assert sorted(row[0] for row in national[1:]) == ["A soon", "B expired"]
    assert [row[0] for row in trust_b[1:]] == ["B expired"]
    assert trust_b[1][national[0].index("Findings")] == "Chain does not build; Expired"
    assert AuditEvent.objects.filter(action="certificates.export").count() == 2


def test_certificates_check_lists_what_expires_and_exits_1(world, keepers, two_trusts, capsys):
    with time_machine.travel(NOW, tick=False), pytest.raises(SystemExit) as exit_code:
        call_command("certificates_check", "--days", "30")

    out = capsys.readouterr().out
    assert exit_code.value.code == 1
    assert [line.split("\t")[4] for line in out.splitlines()] == ["B expired", "A soon"]
    assert out.startswith("EXPIRED")
    assert "expires in 5 days" in out


def test_certificates_check_exits_0_when_nothing_expires_soon(world, keepers, two_trusts, capsys):
    with time_machine.travel(NOW - timedelta(days=400), tick=False):
        call_command("certificates_check")

    assert "No certificate expired or expiring within 30 days." in capsys.readouterr().out
