"""`manage.py create_signing_key`: a self-signed development certificate and key, kept unless
replaced on purpose, and a PKCS#12 copy protected by the passphrase from the environment."""

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
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
