"""Reading certificate files: PEM, DER and PKCS#7 chains are read; a private key, in any form, is
refused before anything is read from the file; the checks find exactly what is wrong."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError

from certificates import parsing
from certificates.parsing import Flag
from tests.certificates.pki import HOST, NOW


def refusal(data: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        parsing.read_certificate_file(data)
    return caught.value.code


# --- formats ------------------------------------------------------------------------------------


def test_a_pem_certificate_is_read_and_described(certs):
    read = parsing.read_certificate_file(certs.valid.pem)

    described = parsing.describe(read.certificate)
    assert read.file_format == "pem"
    assert read.issuers == []
    assert described["subject"] == "CN=valid,O=NIR test"
    assert described["issuer"] == "CN=NIR Test Issuing CA,O=NIR test"
    assert described["serial_number"] == format(certs.valid.certificate.serial_number, "x")
    assert described["subject_alt_names"] == [f"DNS:{HOST}"]
    assert (described["key_type"], described["key_size"]) == ("RSA", 2048)
    assert described["signature_algorithm"] == "sha256WithRSAEncryption"
    assert described["not_before"] == NOW - timedelta(days=30)
    assert described["not_after"] == NOW + timedelta(days=365)
    assert described["fingerprint_sha256"] == certs.valid.fingerprint


def test_a_der_certificate_is_read(certs):
    read = parsing.read_certificate_file(certs.valid.der)

    assert (read.file_format, read.certificate) == ("der", certs.valid.certificate)


@pytest.mark.parametrize("encoding", [serialization.Encoding.DER, serialization.Encoding.PEM])
def test_a_pkcs7_chain_is_read_and_its_leaf_found_whatever_the_order(certs, encoding):
    data = certs.chain_p7b(certs.root, certs.valid, certs.intermediate, encoding=encoding)

    read = parsing.read_certificate_file(data)

    assert read.file_format == "pkcs7"
    assert read.certificate == certs.valid.certificate
    assert {c.subject.rfc4514_string() for c in read.issuers} == {
        "CN=NIR Test Root CA,O=NIR test",
        "CN=NIR Test Issuing CA,O=NIR test",
    }


def test_a_pem_bundle_keeps_the_issuers_that_came_with_the_leaf(certs):
    read = parsing.read_certificate_file(certs.valid.pem + certs.intermediate.pem)

    assert read.certificate == certs.valid.certificate
    assert read.issuers == [certs.intermediate.certificate]


# --- refusals -----------------------------------------------------------------------------------


def _key_forms(issued):
    key = issued.key
    pkcs8 = serialization.PrivateFormat.PKCS8
    return {
        "pem key alone": issued.key_pem,
        "pem certificate with its key": issued.pem + issued.key_pem,
        "pem traditional rsa key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        "pem encrypted key": key.private_bytes(
            serialization.Encoding.PEM, pkcs8, serialization.BestAvailableEncryption(b"secret")
        ),
        "der pkcs8 key": key.private_bytes(serialization.Encoding.DER, pkcs8, serialization.NoEncryption()),
        "der encrypted key": key.private_bytes(
            serialization.Encoding.DER, pkcs8, serialization.BestAvailableEncryption(b"secret")
        ),
    }


def test_every_form_of_private_key_is_refused_with_a_clear_message(certs):
    forms = {**_key_forms(certs.valid), "pkcs12 bundle": certs.pkcs12_with_key(certs.valid)}

    codes = {label: refusal(data) for label, data in forms.items()}

    assert set(codes.values()) == {"private_key"}, codes
    with pytest.raises(ValidationError, match="holds a private key"):
        parsing.read_certificate_file(certs.valid.key_pem)


def test_what_is_not_a_certificate_is_refused(settings):
    settings.CERTIFICATE_MAX_FILE_BYTES = 1024

    assert refusal(b"") == "empty_file"
    assert refusal(b"hello, this is text") == "not_a_certificate"
    assert refusal(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n") == "not_a_certificate"
    assert refusal(b"\x30\x03\x02\x01\x05") == "not_a_certificate"
    assert refusal(b"0" * 1025) == "file_too_large"


# --- checks -------------------------------------------------------------------------------------


def codes(findings) -> set[str]:
    return {f.code for f in findings}


def check(certs, issued, *, hostname=HOST, anchors=None):
    findings, _path = parsing.static_findings(
        issued.certificate,
        hostname=hostname,
        issuers=[certs.intermediate.certificate],
        anchors=[certs.root.certificate] if anchors is None else anchors,
    )
    return codes(findings) | codes(parsing.validity_findings(issued.certificate, NOW))


def test_each_test_certificate_is_flagged_exactly(certs):
    assert check(certs, certs.valid) == set()
    assert check(certs, certs.expiring_in_5_days) == set()
    assert check(certs, certs.expired) == {Flag.EXPIRED}
    assert check(certs, certs.sha1_signed) == {Flag.SHA1_SIGNATURE}
    assert check(certs, certs.weak_1024) == {Flag.WEAK_KEY}
    assert check(certs, certs.wrong_host) == {Flag.HOSTNAME_MISMATCH}
    assert check(certs, certs.not_yet_valid) == {Flag.NOT_YET_VALID}


def test_a_chain_that_reaches_no_anchor_does_not_build(certs):
    chain = parsing.build_chain(certs.valid.certificate, issuers=[certs.intermediate.certificate], anchors=[])

    assert not chain.built
    assert chain.finding.code == Flag.CHAIN_NOT_BUILT
    assert "CN=NIR Test Root CA" in chain.finding.detail
    assert chain.path == ["CN=valid,O=NIR test", "CN=NIR Test Issuing CA,O=NIR test"]


def test_a_root_that_only_came_with_the_upload_is_not_trusted(certs):
    issuers = [certs.intermediate.certificate, certs.root.certificate]

    chain = parsing.build_chain(certs.valid.certificate, issuers=issuers, anchors=[])

    assert not chain.built
    assert "neither in the trust store nor registered" in chain.finding.detail
    assert chain.path[-1] == "CN=NIR Test Root CA,O=NIR test"


def test_a_chain_missing_its_intermediate_does_not_build(certs):
    chain = parsing.build_chain(certs.valid.certificate, issuers=[], anchors=[certs.root.certificate])

    assert not chain.built
    assert "No issuer of CN=valid" in chain.finding.detail


def test_an_issuer_of_the_same_name_but_another_key_does_not_complete_the_chain(certs):
    from tests.certificates.pki import issue, rsa_key

    impostor = issue("NIR Test Issuing CA", issuer=certs.root, key=rsa_key(2048, slot=9), ca=True)

    chain = parsing.build_chain(
        certs.valid.certificate, issuers=[impostor.certificate], anchors=[certs.root.certificate]
    )

    assert not chain.built


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("*.trust-a.nhs.uk", "nir.trust-a.nhs.uk", True),
        ("*.trust-a.nhs.uk", "a.b.trust-a.nhs.uk", False),
        ("*.trust-a.nhs.uk", "trust-a.nhs.uk", False),
        ("NIR.Trust-A.nhs.uk", "nir.trust-a.nhs.uk.", True),
    ],
)
def test_wildcards_stand_for_one_label(pattern, host, matches):
    assert parsing._host_matches(pattern, host) is matches
