"""Reading certificate files and checking what they hold, with `cryptography`.

An upload is PEM (one or more certificates), DER (one certificate) or a PKCS#7 chain, PEM or DER.
A file that holds a private key, in any of the forms a key travels in, is refused before anything
else is read from it, so no key is ever parsed into a stored field. Every refusal is a
`ValidationError` with a stable `code` and a message that says what is wrong with the file.

The checks are pure: they take the certificate, the issuers that may complete its chain, the trust
anchors and the moment to judge validity at, and return findings. Nothing here touches the database.
"""

import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MIN_RSA_BITS = 2048
MIN_DSA_BITS = 2048
MIN_EC_BITS = 224
BROKEN_SIGNATURE_HASHES = ("sha1", "md5")
MAX_CHAIN_LENGTH = 10
MAX_CERTIFICATES_PER_FILE = 20

logger = logging.getLogger(__name__)

_PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PEM_PKCS7 = (b"-----BEGIN PKCS7-----", b"-----BEGIN CMS-----")


class Flag:
    """The findings a certificate can carry; the codes are stored and tested, the labels shown."""

    WEAK_KEY = "weak_key"
    SHA1_SIGNATURE = "sha1_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    CHAIN_NOT_BUILT = "chain_not_built"

    LABELS = {
        WEAK_KEY: "Weak key",
        SHA1_SIGNATURE: "SHA-1 signature",
        NOT_YET_VALID: "Not yet valid",
        EXPIRED: "Expired",
        HOSTNAME_MISMATCH: "Hostname does not match",
        CHAIN_NOT_BUILT: "Chain does not build",
    }


@dataclass(frozen=True)
class Finding:
    code: str
    detail: str

    @property
    def label(self) -> str:
        return Flag.LABELS[self.code]


@dataclass
class ReadFile:
    """What an upload held: the certificate it is about, and any issuers that came with it."""

    file_format: str  # "pem", "der" or "pkcs7"
    certificate: x509.Certificate
    issuers: list[x509.Certificate] = field(default_factory=list)
    sha256: str = ""


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _der_header(data: bytes) -> tuple[int, int] | None:
    """(length of the outer SEQUENCE's header, its content length), or None if not a DER SEQUENCE."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count, int.from_bytes(data[2 : 2 + count], "big")


def _holds_private_key(data: bytes) -> bool:
    if _PEM_PRIVATE_KEY.search(data):
        return True
    header = _der_header(data)
    if header is None:
        return False
    # PKCS#12 (.p12, .pfx): a SEQUENCE whose first element is the version, INTEGER 3. It is made
    # to carry a key, and it cannot be opened without its password to prove it does not.
    if data[header[0] : header[0] + 3] == b"\x02\x01\x03":
        return True
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True  # an encrypted key: cryptography asks for its password
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def read_certificate_file(data: bytes) -> ReadFile:
    """Read an uploaded file. Refuses a private key, anything that is not a certificate, and an
    empty or oversized file, before any of it is kept."""
    limit = settings.CERTIFICATE_MAX_FILE_BYTES
    if not data:
        raise _refuse(_("The file is empty."), "empty_file")
    if len(data) > limit:
        raise _refuse(
            _("The file is larger than %(kib)d KiB: a certificate or chain is far smaller.") % {"kib": limit // 1024},
            "file_too_large",
        )
    if _holds_private_key(data):
        raise _refuse(
            _(
                "This file holds a private key. Never upload a private key: export only the certificate "
                "(PEM, DER or a PKCS#7 chain) and keep the key where it is. Nothing was stored."
            ),
            "private_key",
        )
    certificates, file_format = _load(data)
    if not certificates:
        raise _refuse(_("The file holds no certificate."), "no_certificate")
    if len(certificates) > MAX_CERTIFICATES_PER_FILE:
        raise _refuse(_("The file holds more than %(n)d certificates.") % {"n": MAX_CERTIFICATES_PER_FILE}, "too_many")
    leaf = _leaf_of(certificates)
    return ReadFile(
        file_format=file_format,
        certificate=leaf,
        issuers=[c for c in certificates if c is not leaf],
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _load(data: bytes) -> tuple[list[x509.Certificate], str]:
    not_a_certificate = _refuse(
        _("The file is not a certificate: upload a PEM or DER certificate, or a PKCS#7 chain (.p7b)."),
        "not_a_certificate",
    )
    try:
        if any(marker in data for marker in _PEM_PKCS7):
            return pkcs7.load_pem_pkcs7_certificates(data), "pkcs7"
        if _PEM_CERTIFICATE in data:
            return x509.load_pem_x509_certificates(data), "pem"
        if _der_header(data) is None:
            raise not_a_certificate
        try:
            return [x509.load_der_x509_certificate(data)], "der"
        except ValueError:
            return pkcs7.load_der_pkcs7_certificates(data), "pkcs7"
    except (ValueError, UnsupportedAlgorithm):
        raise not_a_certificate from None


def _leaf_of(certificates: list[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued none of the others; the first one when that is ambiguous."""
    issuing = {c.issuer.public_bytes() for c in certificates if c.issuer != c.subject}
    candidates = [c for c in certificates if c.subject.public_bytes() not in issuing]
    return candidates[0] if len(candidates) == 1 else certificates[0]


# --- description --------------------------------------------------------------------------------


def key_description(certificate: x509.Certificate) -> tuple[str, int | None]:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def subject_alt_names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = [f"DNS:{name}" for name in extension.value.get_values_for_type(x509.DNSName)]
    names += [f"IP:{address}" for address in extension.value.get_values_for_type(x509.IPAddress)]
    names += [f"URI:{uri}" for uri in extension.value.get_values_for_type(x509.UniformResourceIdentifier)]
    names += [f"email:{email}" for email in extension.value.get_values_for_type(x509.RFC822Name)]
    return names


def signature_algorithm(certificate: x509.Certificate) -> str:
    name = getattr(certificate.signature_algorithm_oid, "_name", "")
    return name if name and name != "Unknown OID" else certificate.signature_algorithm_oid.dotted_string


def signature_hash_name(certificate: x509.Certificate) -> str:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return ""
    return algorithm.name if algorithm is not None else ""


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def describe(certificate: x509.Certificate) -> dict:
    """The stored description of a certificate."""
    key_type, key_size = key_description(certificate)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial_number": format(certificate.serial_number, "x"),
        "subject_alt_names": subject_alt_names(certificate),
        "key_type": key_type,
        "key_size": key_size,
        "signature_algorithm": signature_algorithm(certificate),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "fingerprint_sha256": fingerprint(certificate),
    }


# --- checks -------------------------------------------------------------------------------------


def key_finding(certificate: x509.Certificate) -> Finding | None:
    key_type, size = key_description(certificate)
    minimum = {"RSA": MIN_RSA_BITS, "DSA": MIN_DSA_BITS}.get(key_type, MIN_EC_BITS if key_type.startswith("EC") else 0)
    if size is not None and size < minimum:
        return Finding(
            Flag.WEAK_KEY,
            _("%(type)s key of %(size)d bits (at least %(min)d needed).")
            % {"type": key_type, "size": size, "min": minimum},
        )
    return None


def signature_finding(certificate: x509.Certificate) -> Finding | None:
    name = signature_hash_name(certificate)
    if name in BROKEN_SIGNATURE_HASHES:
        return Finding(Flag.SHA1_SIGNATURE, _("Signed with %(name)s, which can be forged.") % {"name": name.upper()})
    return None


def validity_findings(certificate: x509.Certificate, now: datetime) -> list[Finding]:
    if now < certificate.not_valid_before_utc:
        return [
            Finding(
                Flag.NOT_YET_VALID,
                _("Valid only from %(when)s.") % {"when": f"{certificate.not_valid_before_utc:%d %B %Y %H:%M} UTC"},
            )
        ]
    if now >= certificate.not_valid_after_utc:
        return [
            Finding(
                Flag.EXPIRED,
                _("Expired on %(when)s.") % {"when": f"{certificate.not_valid_after_utc:%d %B %Y %H:%M} UTC"},
            )
        ]
    return []


def _host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        # A wildcard stands for exactly one leftmost label (RFC 6125 6.4.3).
        head, _dot, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def hostname_finding(certificate: x509.Certificate, hostname: str) -> Finding | None:
    hostname = hostname.strip()
    if not hostname:
        return None
    names = subject_alt_names(certificate)
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        address = None
    if address is not None:
        matched = f"IP:{address}" in names
    else:
        matched = any(_host_matches(name[4:], hostname) for name in names if name.startswith("DNS:"))
    if matched:
        return None
    listed = ", ".join(n.split(":", 1)[1] for n in names if n.startswith(("DNS:", "IP:"))) or _("no host names")
    return Finding(
        Flag.HOSTNAME_MISMATCH,
        _("The recorded endpoint %(host)s is not among the certificate's names (%(names)s).")
        % {"host": hostname, "names": listed},
    )


def signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` issued `certificate`: its name and a signature that verifies with its key.
    Verified here rather than with `verify_directly_issued_by`, which refuses SHA-1 outright: a
    SHA-1 certificate is flagged for its hash, and its chain judged on its own."""
    if certificate.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    data, signature = certificate.tbs_certificate_bytes, certificate.signature
    try:
        parameters = certificate.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, parameters, certificate.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, parameters)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, certificate.signature_hash_algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject and signed_by(certificate, certificate)


@dataclass
class ChainResult:
    built: bool
    path: list[str]  # subjects, from the certificate up to where the chain ends
    finding: Finding | None


def build_chain(
    certificate: x509.Certificate, *, issuers: list[x509.Certificate], anchors: list[x509.Certificate]
) -> ChainResult:
    """Walk from the certificate up through `issuers` and `anchors` by name and signature. The chain
    builds when it reaches an anchor: a certificate of the trust store or one registered as an
    issuing chain. A root that merely came in the same file is no anchor: trust is configured or
    registered on purpose, never taken from the upload itself."""
    anchor_prints = {fingerprint(a) for a in anchors}
    pool = [*issuers, *anchors]
    path = [certificate.subject.rfc4514_string()]
    current = certificate
    for _step in range(MAX_CHAIN_LENGTH):
        if fingerprint(current) in anchor_prints:
            return ChainResult(True, path, None)
        if _self_signed(current):
            detail = _("It ends at %(root)s, which is neither in the trust store nor registered as an issuing chain.")
            return ChainResult(False, path, Finding(Flag.CHAIN_NOT_BUILT, detail % {"root": path[-1]}))
        parent = next((c for c in pool if fingerprint(c) != fingerprint(current) and signed_by(current, c)), None)
        if parent is None:
            detail = _("No issuer of %(subject)s (issued by %(issuer)s) is registered or in the trust store.")
            return ChainResult(
                False,
                path,
                Finding(
                    Flag.CHAIN_NOT_BUILT,
                    detail % {"subject": path[-1], "issuer": current.issuer.rfc4514_string()},
                ),
            )
        path.append(parent.subject.rfc4514_string())
        current = parent
    return ChainResult(
        False,
        path,
        Finding(Flag.CHAIN_NOT_BUILT, _("The chain is longer than %(n)d certificates.") % {"n": MAX_CHAIN_LENGTH}),
    )


def static_findings(
    certificate: x509.Certificate,
    *,
    hostname: str,
    issuers: list[x509.Certificate],
    anchors: list[x509.Certificate],
) -> tuple[list[Finding], list[str]]:
    """The findings that do not move with time, and the chain's path."""
    chain = build_chain(certificate, issuers=issuers, anchors=anchors)
    findings = [
        key_finding(certificate),
        signature_finding(certificate),
        hostname_finding(certificate, hostname),
        chain.finding,
    ]
    return [f for f in findings if f is not None], chain.path


# --- the configured trust store --------------------------------------------------------------------


def trust_store() -> list[x509.Certificate]:
    """The certificates of CERTIFICATE_TRUST_STORE: a PEM file, or a folder of .pem/.crt files."""
    configured = settings.CERTIFICATE_TRUST_STORE
    if not configured:
        return []
    path = Path(configured)
    if not path.exists():
        logger.warning("CERTIFICATE_TRUST_STORE %s does not exist: no certificate is trusted through it.", path)
        return []
    files = sorted(p for p in path.iterdir() if p.suffix in (".pem", ".crt")) if path.is_dir() else [path]
    return list(_read_store(tuple((str(p), p.stat().st_mtime_ns) for p in files if p.is_file())))


@lru_cache(maxsize=4)
def _read_store(files: tuple[tuple[str, int], ...]) -> tuple[x509.Certificate, ...]:
    # Keyed on each file's modification time, so a replaced store is read again.
    certificates: list[x509.Certificate] = []
    for name, _mtime in files:
        certificates += x509.load_pem_x509_certificates(Path(name).read_bytes())
    return tuple(certificates)


def load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def to_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)
