"""`manage.py create_signing_key`: a self-signed development certificate and key, kept unless
replaced on purpose, and a PKCS#12 copy protected by the passphrase from the environment."""

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from django.core.management import call_command
from django.core.management.base import CommandError

from safety.cscr import signing


def test_it_writes_a_key_and_a_self_signed_certificate_and_keeps_them(tmp_path):
    out = io.StringIO()
    call_command("create_signing_key", "--dir", str(tmp_path), "--common-name", "Dev seal", stdout=out)
    certificate = (tmp_path / signing.DEV_CERT_NAME).read_bytes()

    call_command("create_signing_key", "--dir", str(tmp_path), stdout=io.StringIO())

    parsed = x509.load_pem_x509_certificate(certificate)
    assert parsed.subject == parsed.issuer and "Dev seal" in parsed.subject.rfc4514_string()
    assert (tmp_path / signing.DEV_CERT_NAME).read_bytes() == certificate  # kept, not replaced
    assert oct((tmp_path / signing.DEV_KEY_NAME).stat().st_mode & 0o777) == "0o600"
    assert "Development use only" in out.getvalue()


def test_force_replaces_the_key_and_pkcs12_takes_the_passphrase_from_the_environment(tmp_path, monkeypatch):
    call_command("create_signing_key", "--dir", str(tmp_path), stdout=io.StringIO())
    before = (tmp_path / signing.DEV_CERT_NAME).read_bytes()
    monkeypatch.setenv("CSCR_SIGNING_PASSPHRASE", "s3cret passphrase")

    call_command("create_signing_key", "--dir", str(tmp_path), "--force", "--pkcs12", stdout=io.StringIO())

    assert (tmp_path / signing.DEV_CERT_NAME).read_bytes() != before
    key, certificate, _ = pkcs12.load_key_and_certificates(
        (tmp_path / "cscr-signing.p12").read_bytes(), b"s3cret passphrase"
    )
    assert key is not None and certificate is not None


def test_pkcs12_without_a_passphrase_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CSCR_SIGNING_PASSPHRASE", raising=False)
    with pytest.raises(CommandError, match="Set CSCR_SIGNING_PASSPHRASE"):
        call_command("create_signing_key", "--dir", str(tmp_path), "--pkcs12", stdout=io.StringIO())

    assert not (tmp_path / "cscr-signing.p12").exists()


def test_the_key_is_loaded_once_per_process_and_again_when_its_file_is_replaced(tmp_path, settings):
    """Loading a 3072-bit key (which checks it) cost more than the PAdES signature it was loaded
    for, so a process keeps the loaded key; replacing the file (a new key) is seen at once."""
    settings.CSCR_SIGNING_DEV_DIR = tmp_path
    settings.CSCR_SIGNING_PKCS12_FILE = settings.CSCR_SIGNING_KEY_FILE = settings.CSCR_SIGNING_CERT_FILE = ""
    first = signing.signing_credentials()

    assert signing.signing_credentials() is first

    call_command("create_signing_key", "--dir", str(tmp_path), "--force", stdout=io.StringIO())
    replaced = signing.signing_credentials()
    certificate = x509.load_pem_x509_certificate((tmp_path / signing.DEV_CERT_NAME).read_bytes())
    assert replaced is not first and replaced.fingerprint != first.fingerprint
    assert replaced.certificate.dump() == certificate.public_bytes(Encoding.DER)
