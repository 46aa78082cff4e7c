"""The signing key is parsed once per load, not once per signature, and what it signs still
verifies: the PAdES signature of a PDF and the detached signature of a manifest, with an RSA key
(PKCS#1 v1.5 or PSS) or an elliptic-curve one."""

import datetime
import io

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from safety.cscr import signature_checks, signing


def _pdf() -> bytes:
    document = pikepdf.new()
    document.add_blank_page()
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


def _elliptic_curve_key(directory) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC seal")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / "ec-key.pem", directory / "ec-cert.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


def _credentials(kind: str, directory) -> signing.SigningCredentials:
    if kind == "ec":
        key, certificate = _elliptic_curve_key(directory)
        return signing._load(signing.signers.SimpleSigner.load, key, certificate, source="test")
    paths = signing.development_key_create(directory)
    return signing._load(
        signing.signers.SimpleSigner.load,
        str(paths["key"]),
        str(paths["certificate"]),
        prefer_pss=kind == "rsa-pss",
        source="test",
    )


@pytest.mark.parametrize("kind", ["rsa", "rsa-pss", "ec"])
def test_signatures_reuse_the_parsed_key_and_verify(kind, tmp_path, monkeypatch):
    credentials = _credentials(kind, tmp_path)
    parsed: list[bytes] = []
    parse = serialization.load_der_private_key

    def counting(data, *args, **kwargs):
        parsed.append(data)
        return parse(data, *args, **kwargs)

    # pyHanko's own signer parses its key for every signature through this function.
    monkeypatch.setattr(serialization, "load_der_private_key", counting)
    signed_pdf = signing.pdf_sign(_pdf(), credentials, reason="test", location="test")
    p7s = signing.detached_sign(b'{"files": []}\n', credentials)
    monkeypatch.undo()

    roots = [credentials.certificate]
    pdf_check = signature_checks.check_pdf_signature(signed_pdf, roots)
    manifest_check = signature_checks.check_manifest_signature(b'{"files": []}\n', p7s, roots)
    assert parsed == []
    assert pdf_check.intact and pdf_check.valid and pdf_check.covers_whole_file, pdf_check
    assert manifest_check.intact and manifest_check.valid, manifest_check
    assert signature_checks.check_manifest_signature(b'{"files": [1]}\n', p7s, roots).intact is False
