"""Keeping the register: adding certificates (each parsed and flagged exactly), refusing private
keys without storing anything, renewing as a new revision, and who sees and keeps what."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from certificates import selectors, services
from certificates.models import CertificateEntry, CertificateRevision
from certificates.parsing import Flag
from nir_portal.audit.models import AuditEvent
from tests.certificates.conftest import HOST, Environment, Purpose, add, upload
from tests.certificates.pki import NOW

pytestmark = pytest.mark.django_db


def flags_of(entry: CertificateEntry) -> set[str]:
    entry.refresh_from_db()
    return entry.current_revision.flag_codes(NOW)


# --- adding -------------------------------------------------------------------------------------


def test_a_certificate_is_stored_with_everything_read_from_it(world, keepers, certs, registered_chain):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a, owner=keepers.a_cso)

    revision = entry.current_revision
    assert (entry.organisation, entry.owner, entry.endpoint_hostname) == (world.trust_a, keepers.a_cso, HOST)
    assert (revision.number, revision.file_format, revision.uploaded_by) == (1, "pem", keepers.a_lead)
    assert revision.subject == "CN=valid,O=NIR test"
    assert revision.issuer == "CN=NIR Test Issuing CA,O=NIR test"
    assert revision.serial_number == format(certs.valid.certificate.serial_number, "x")
    assert revision.subject_alt_names == [f"DNS:{HOST}"]
    assert (revision.key_type, revision.key_size) == ("RSA", 2048)
    assert revision.signature_algorithm == "sha256WithRSAEncryption"
    assert revision.not_after == certs.valid.certificate.not_valid_after_utc
    assert revision.fingerprint_sha256 == certs.valid.fingerprint
    assert bytes(revision.certificate_der) == certs.valid.der
    # The registered intermediate, whose own chain built to the registered root, anchors it.
    assert revision.chain_path == ["CN=valid,O=NIR test", "CN=NIR Test Issuing CA,O=NIR test"]
    event = AuditEvent.objects.get(action="certificate.add", object_id=str(entry.pk))
    assert (event.actor, event.organisation) == (keepers.a_lead, world.trust_a)
    assert event.changes["fingerprint_sha256"] == certs.valid.fingerprint


def test_each_test_certificate_is_flagged_exactly(world, keepers, certs, registered_chain):
    expected = {
        "valid": (certs.valid, set()),
        "expiring in 5 days": (certs.expiring_in_5_days, set()),
        "expired": (certs.expired, {Flag.EXPIRED}),
        "SHA-1 signed": (certs.sha1_signed, {Flag.SHA1_SIGNATURE}),
        "1024-bit": (certs.weak_1024, {Flag.WEAK_KEY}),
        "wrong hostname": (certs.wrong_host, {Flag.HOSTNAME_MISMATCH}),
        "not yet valid": (certs.not_yet_valid, {Flag.NOT_YET_VALID}),
    }

    found = {
        label: flags_of(add(keepers.a_lead, issued, deployment=world.deployment_a, name=label))
        for label, (issued, _flags) in expected.items()
    }

    assert found == {label: flags for label, (_issued, flags) in expected.items()}
    expiring = CertificateEntry.objects.get(name="expiring in 5 days").current_revision
    assert expiring.days_left(NOW) == 5


def test_without_its_issuers_registered_a_chain_does_not_build(world, keepers, certs):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    assert flags_of(entry) == {Flag.CHAIN_NOT_BUILT}


def test_issuers_uploaded_with_the_certificate_complete_the_chain_to_a_registered_root(world, keepers, certs):
    add(keepers.a_lead, certs.root, deployment=world.deployment_a, purpose=Purpose.ISSUING_CHAIN, hostname="")

    entry = add(keepers.a_lead, certs.chain_p7b(certs.valid, certs.intermediate), deployment=world.deployment_a)

    assert flags_of(entry) == set()
    assert entry.current_revision.file_format == "pkcs7"
    assert len(entry.current_revision.issuers_der) == 1


def test_the_configured_trust_store_anchors_chains(world, keepers, certs, settings, tmp_path):
    store = tmp_path / "trust.pem"
    store.write_bytes(certs.root.pem)
    settings.CERTIFICATE_TRUST_STORE = str(store)

    entry = add(keepers.a_lead, certs.valid.pem + certs.intermediate.pem, deployment=world.deployment_a)

    assert flags_of(entry) == set()


def test_a_registered_intermediate_without_its_root_neither_builds_nor_anchors(world, keepers, certs):
    intermediate = add(
        keepers.a_lead, certs.intermediate, deployment=world.deployment_a, purpose=Purpose.ISSUING_CHAIN, hostname=""
    )

    leaf = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    assert flags_of(intermediate) == {Flag.CHAIN_NOT_BUILT}
    assert flags_of(leaf) == {Flag.CHAIN_NOT_BUILT}


def test_a_file_with_a_private_key_is_refused_and_nothing_is_stored(world, keepers, certs):
    with pytest.raises(ValidationError) as caught:
        add(keepers.a_lead, certs.valid.pem + certs.valid.key_pem, deployment=world.deployment_a)

    assert caught.value.error_dict["file"][0].code == "private_key"
    assert "private key" in caught.value.error_dict["file"][0].message
    assert not CertificateEntry.objects.exists()
    assert not CertificateRevision.objects.exists()
    refusal = AuditEvent.objects.get(action="certificate.add")
    assert refusal.outcome == AuditEvent.Outcome.FAILURE
    assert refusal.changes["refused"] == "private_key"
    assert "PRIVATE" not in str(refusal.changes)


def test_the_owner_must_be_a_member_of_the_holding_organisation(world, keepers, certs):
    with pytest.raises(ValidationError) as caught:
        add(keepers.a_lead, certs.valid, deployment=world.deployment_a, owner=keepers.b_lead)

    assert caught.value.error_dict["owner"][0].code == "owner_not_member"
    assert not CertificateEntry.objects.exists()


def test_a_gateway_certificate_needs_a_valid_endpoint_hostname(world, keepers, certs):
    for hostname, code in (("", "hostname_required"), ("not a host!", "invalid_hostname")):
        with pytest.raises(ValidationError) as caught:
            add(keepers.a_lead, certs.valid, deployment=world.deployment_a, hostname=hostname)
        assert caught.value.error_dict["endpoint_hostname"][0].code == code


def test_only_the_leads_and_cso_of_the_holding_organisation_keep_its_register(world, keepers, certs):
    for person, holder in (
        (keepers.a_viewer, {"deployment": world.deployment_a}),
        (keepers.b_lead, {"deployment": world.deployment_a}),
        (keepers.supplier_lead, {"deployment": world.deployment_a}),
        (keepers.a_lead, {"product_version": world.product_version}),
    ):
        with pytest.raises(PermissionDenied):
            add(person, certs.valid, owner=keepers.a_lead, **holder)

    assert not CertificateEntry.objects.exists()
    assert AuditEvent.objects.filter(action="certificate.add", outcome=AuditEvent.Outcome.DENIED).count() == 4
    supplier_entry = add(
        keepers.supplier_cso, certs.valid, product_version=world.product_version, purpose=Purpose.TLS_CLIENT
    )
    assert supplier_entry.organisation == world.supplier


# --- renewal --------------------------------------------------------------------------------------


def test_renewal_is_a_new_revision_and_the_history_stays(world, keepers, certs, registered_chain):
    entry = add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    first = entry.current_revision

    renewed = services.certificate_entry_renew(actor=keepers.a_cso, entry=entry, upload=upload(certs.valid))

    entry.refresh_from_db()
    assert (renewed.number, entry.current_revision) == (2, renewed)
    assert list(entry.revisions.values_list("number", "fingerprint_sha256")) == [
        (2, certs.valid.fingerprint),
        (1, certs.expiring_in_5_days.fingerprint),
    ]
    first.refresh_from_db()
    assert first.fingerprint_sha256 == certs.expiring_in_5_days.fingerprint
    event = AuditEvent.objects.get(action="certificate.renew")
    assert event.changes["replaces"] == certs.expiring_in_5_days.fingerprint


def test_a_renewal_with_the_same_certificate_or_a_key_changes_nothing(world, keepers, certs):
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    for data, code in ((certs.valid.pem, "same_certificate"), (certs.valid.key_pem, "private_key")):
        with pytest.raises(ValidationError) as caught:
            services.certificate_entry_renew(actor=keepers.a_lead, entry=entry, upload=upload(data))
        assert caught.value.error_dict["file"][0].code == code

    assert entry.revisions.count() == 1


def test_a_revision_cannot_be_changed_in_the_database(world, keepers, certs):
    from django.db import ProgrammingError, transaction

    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)

    with pytest.raises(ProgrammingError, match="Cannot update"), transaction.atomic():
        CertificateRevision.objects.filter(pk=entry.current_revision_id).update(subject="CN=forged")


# --- who sees what ----------------------------------------------------------------------------------


@pytest.fixture
def three_entries(world, keepers, certs):
    return {
        "trust_a": add(keepers.a_lead, certs.valid, deployment=world.deployment_a, name="A gateway"),
        "trust_b": add(keepers.b_lead, certs.valid, deployment=world.deployment_b, name="B gateway"),
        "supplier": add(
            keepers.supplier_lead,
            certs.valid,
            product_version=world.product_version,
            name="Supplier client",
            purpose=Purpose.TLS_CLIENT,
            environment=Environment.TEST,
        ),
    }


def visible(person) -> set[str]:
    return set(selectors.certificate_entries_visible_to(person).values_list("name", flat=True))


def test_an_organisation_sees_its_own_certificates_and_its_suppliers_for_the_version_it_deploys(
    world, keepers, three_entries
):
    other_trust = world.member(world.other_supplier, "supplier_contributor")

    assert visible(keepers.a_viewer) == {"A gateway", "Supplier client"}
    assert visible(keepers.b_lead) == {"B gateway", "Supplier client"}
    assert visible(keepers.supplier_lead) == {"Supplier client"}
    assert visible(other_trust) == set()
    assert visible(world.national_admin) == {"A gateway", "B gateway", "Supplier client"}


def test_a_deployments_register_holds_its_own_and_its_product_versions_certificates(world, keepers, three_entries):
    names = selectors.entries_of_deployment(user=keepers.a_viewer, deployment=world.deployment_a)
    supplier_view = selectors.entries_of_deployment(user=keepers.supplier_lead, deployment=world.deployment_a)

    assert {e.name for e in names} == {"A gateway", "Supplier client"}
    assert {e.name for e in supplier_view} == {"Supplier client"}
