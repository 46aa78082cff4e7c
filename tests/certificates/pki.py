"""A small PKI made in the test with `cryptography`: a root CA, an intermediate and leaf
certificates, each dated relative to a fixed moment."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
HOST = "nir-gateway.trust-a.nhs.uk"
SHA256_WITH_RSA = bytes.fromhex("2a864886f70d01010b")
SHA1_WITH_RSA = bytes.fromhex("2a864886f70d010105")


@cache
def rsa_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NIR test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    key: rsa.RSAPrivateKey | None = None,
    ca: bool = False,
    hosts: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    serial: int | None = None,
) -> Issued:
    key = key or rsa_key(2048, slot=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(issuer.certificate.subject if issuer else name(common_name))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        encoded = bytes([length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        encoded = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + encoded + body


def resign_with_sha1(issued: Issued, issuer: Issued) -> Issued:
    """The same certificate signed with SHA-1. `cryptography` no longer signs certificates with
    SHA-1, so the to-be-signed part is re-labelled and signed by hand, as old CAs did."""
    tbs = issued.certificate.tbs_certificate_bytes
    assert tbs.count(SHA256_WITH_RSA) == 1
    tbs = tbs.replace(SHA256_WITH_RSA, SHA1_WITH_RSA)
    signature = issuer.key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303  the point of the test
    algorithm = _tlv(0x30, _tlv(0x06, SHA1_WITH_RSA) + b"\x05\x00")
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return Issued(x509.load_der_x509_certificate(der), issued.key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    intermediate: Issued
    valid: Issued
    expiring_in_5_days: Issued
    expired: Issued
    sha1_signed: Issued
    weak_1024: Issued
    wrong_host: Issued
    not_yet_valid: Issued

    def chain_p7b(self, *certificates: Issued, encoding=serialization.Encoding.DER) -> bytes:
        return pkcs7.serialize_certificates([c.certificate for c in certificates], encoding)

    def pkcs12_with_key(self, issued: Issued) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            b"leaf", issued.key, issued.certificate, None, serialization.NoEncryption()
        )


@cache
def pki() -> Pki:
    root = issue("NIR Test Root CA", key=rsa_key(2048, slot=2), ca=True, not_after=NOW + timedelta(days=3650))
    intermediate = issue("NIR Test Issuing CA", issuer=root, key=rsa_key(2048, slot=3), ca=True)
    host = (HOST,)
    valid = issue("valid", issuer=intermediate, hosts=host)
    return Pki(
        root=root,
        intermediate=intermediate,
        valid=valid,
        expiring_in_5_days=issue("expiring", issuer=intermediate, hosts=host, not_after=NOW + timedelta(days=5)),
        expired=issue(
            "expired",
            issuer=intermediate,
            hosts=host,
            not_before=NOW - timedelta(days=400),
            not_after=NOW - timedelta(days=1),
        ),
        sha1_signed=resign_with_sha1(issue("sha1", issuer=intermediate, hosts=host), intermediate),
        weak_1024=issue("weak", issuer=intermediate, key=rsa_key(1024), hosts=host),
        wrong_host=issue("wrong host", issuer=intermediate, hosts=("other-gateway.example.nhs.uk",)),
        not_yet_valid=issue("future", issuer=intermediate, hosts=host, not_before=NOW + timedelta(days=2)),
    )
