"""The portal's signing key: loaded from settings (a PKCS#12 file, or a PEM private key and
certificate, the passphrase from the CSCR_SIGNING_PASSPHRASE environment variable). Without
either, DEBUG and test runs use a self-signed development key kept in CSCR_SIGNING_DEV_DIR (made
on first use, or by `manage.py create_signing_key`); a production run refuses to sign.

It lives at the portal level because more than CSCR bundles are signed with it: the audit trail's
checkpoints are too. With CSCR_TSA_URL set, signatures carry an RFC 3161 timestamp.
"""

import datetime
import fcntl
import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

DIGEST_ALGORITHM = "sha256"
DEV_KEY_NAME = "cscr-signing-key.pem"
DEV_CERT_NAME = "cscr-signing-cert.pem"
DEV_COMMON_NAME = "NIR portal CSCR signing (development only)"
KEY_BITS = 3072
TSA_TIMEOUT_SECONDS = 10


class SigningNotConfigured(ImproperlyConfigured):
    """No signing key is configured where one is required (production)."""


NOT_CONFIGURED_MESSAGE = (
    "The CSCR signing key is not configured, so the bundle was not signed. Set CSCR_SIGNING_PKCS12_FILE "
    "(or CSCR_SIGNING_KEY_FILE and CSCR_SIGNING_CERT_FILE) to the organisation's signing key, with its "
    "passphrase in the CSCR_SIGNING_PASSPHRASE environment variable, and request the bundle again."
)


@dataclass(frozen=True)
class SigningCredentials:
    signer: signers.SimpleSigner
    certificate: asn1_x509.Certificate
    source: str  # where the key came from, for the job's record and the logs

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly

    @property
    def certificate_pem(self) -> bytes:
        return _pem(self.certificate)


def certificate_fingerprint(certificate: asn1_x509.Certificate) -> str:
    return hashlib.sha256(certificate.dump()).hexdigest()


def _pem(certificate: asn1_x509.Certificate) -> bytes:
    return x509.load_der_x509_certificate(certificate.dump()).public_bytes(serialization.Encoding.PEM)


def _passphrase() -> bytes | None:
    return settings.CSCR_SIGNING_PASSPHRASE.encode() if settings.CSCR_SIGNING_PASSPHRASE else None


def _load(loader, *args, source: str, **kwargs) -> SigningCredentials:
    return _load_once(loader, args, tuple(sorted(kwargs.items())), source, _files_state(args))


def _files_state(args) -> tuple:
    """What identifies the key files' current contents: each path's size, modification time and
    inode, so that a replaced or regenerated key is loaded afresh."""
    state: list[tuple] = []
    for arg in args:
        if isinstance(arg, str | Path):
            try:
                stat = os.stat(arg)
            except OSError:
                state.append((str(arg), None))
            else:
                state.append((str(arg), stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return tuple(state)


class HeldKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner, with its private key parsed once. SimpleSigner keeps the key as DER
    and parses it again for every signature, and parsing an RSA key checks its consistency: about
    0.2 s for a 3072-bit key on a loaded machine, where the signature itself takes a few
    milliseconds. A PAdES signature signs twice (once to size its container) and the manifest once
    more, so a bundle paid for three such checks."""

    def __init__(self, signer: signers.SimpleSigner) -> None:
        super().__init__(
            signing_cert=signer.signing_cert,
            signing_key=signer.signing_key,
            cert_registry=signer.cert_registry,
            signature_mechanism=signer.signature_mechanism,
            prefer_pss=signer.prefer_pss,
            embed_roots=signer.embed_roots,
            attribute_certs=list(signer._attribute_certs) or None,  # no public getter
        )
        self.private_key = serialization.load_der_private_key(signer.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algorithm = mechanism.signature_algo
        except ValueError:
            algorithm = mechanism["algorithm"].native
        key = self.private_key
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if algorithm == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            padding, hash_algorithm = process_pss_params(mechanism["parameters"])
            return key.sign(data, padding, hash_algorithm)
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        return super().sign_raw(data, digest_algorithm)  # rarer key types: pyHanko's own way, slower


@functools.lru_cache(maxsize=8)
def _load_once(loader, args: tuple, kwargs: tuple, source: str, _files: tuple) -> SigningCredentials:
    """The key loaded once per process for each file state and passphrase (the cache key), and
    parsed once (`HeldKeySigner`): parsing checks the RSA key's consistency, which took longer than
    the PAdES signature it was loaded for. A failed load is not cached."""
    loaded = loader(*args, **dict(kwargs))
    if loaded is None:  # pyhanko logs the reason and returns None
        raise SigningNotConfigured(
            f"The CSCR signing key in {source} could not be loaded: check the file and "
            "the CSCR_SIGNING_PASSPHRASE environment variable."
        )
    signer = HeldKeySigner(loaded)
    return SigningCredentials(signer=signer, certificate=signer.signing_cert, source=source)


def development_mode() -> bool:
    return bool(settings.DEBUG or getattr(settings, "TESTING", False))


def signing_credentials() -> SigningCredentials:
    """The configured key; in development and tests only, the development key (made if missing)."""
    if settings.CSCR_SIGNING_PKCS12_FILE:
        path = settings.CSCR_SIGNING_PKCS12_FILE
        return _load(signers.SimpleSigner.load_pkcs12, path, passphrase=_passphrase(), source=f"PKCS#12 file {path}")
    if settings.CSCR_SIGNING_KEY_FILE or settings.CSCR_SIGNING_CERT_FILE:
        if not (settings.CSCR_SIGNING_KEY_FILE and settings.CSCR_SIGNING_CERT_FILE):
            raise SigningNotConfigured("Set both CSCR_SIGNING_KEY_FILE and CSCR_SIGNING_CERT_FILE (PEM files).")
        return _load(
            signers.SimpleSigner.load,
            settings.CSCR_SIGNING_KEY_FILE,
            settings.CSCR_SIGNING_CERT_FILE,
            key_passphrase=_passphrase(),
            source=f"PEM key file {settings.CSCR_SIGNING_KEY_FILE}",
        )
    if not development_mode():
        raise SigningNotConfigured(NOT_CONFIGURED_MESSAGE)
    key_path, cert_path = development_key_ensure(Path(settings.CSCR_SIGNING_DEV_DIR))
    return _load(
        signers.SimpleSigner.load,
        str(key_path),
        str(cert_path),
        key_passphrase=None,
        source=f"development key in {key_path.parent}",
    )


def trusted_certificates() -> list[asn1_x509.Certificate]:
    """The certificates a bundle of this portal is expected to be signed with: the configured
    certificate, or the development one where that is what signs. Empty when none can be found."""
    try:
        if settings.CSCR_SIGNING_PKCS12_FILE or settings.CSCR_SIGNING_CERT_FILE:
            return [signing_credentials().certificate]
        if development_mode():
            cert_path = Path(settings.CSCR_SIGNING_DEV_DIR) / DEV_CERT_NAME
            if cert_path.exists():
                return [
                    asn1_x509.Certificate.load(
                        x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
                    )
                ]
    except (ImproperlyConfigured, OSError, ValueError):
        return []
    return []


# --- the development key -----------------------------------------------------------------------


def _self_signed(common_name: str, days: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NIR onboarding portal"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def development_key_create(
    directory: Path,
    *,
    common_name: str = DEV_COMMON_NAME,
    days: int = 3650,
    force: bool = False,
    pkcs12_passphrase: bytes | None = None,
) -> dict[str, Path]:
    """Write a self-signed certificate and its key (PEM, unencrypted) into `directory`, and, given a
    passphrase, the same pair as a PKCS#12 file. Keeps an existing pair unless `force`."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, cert_path = directory / DEV_KEY_NAME, directory / DEV_CERT_NAME
    paths = {"key": key_path, "certificate": cert_path}
    # One lock for the pair: processes starting together (test workers) must not mix two keys.
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not (key_path.exists() and cert_path.exists()):
            key, certificate = _self_signed(common_name, days)
            _write_atomically(
                key_path,
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
                0o600,
            )
            _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        if pkcs12_passphrase:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            p12 = pkcs12.serialize_key_and_certificates(
                b"cscr-signing",
                key,
                certificate,
                None,  # type: ignore[arg-type]  # an RSA key, as made above
                serialization.BestAvailableEncryption(pkcs12_passphrase),
            )
            paths["pkcs12"] = directory / "cscr-signing.p12"
            _write_atomically(paths["pkcs12"], p12, 0o600)
    return paths


def development_key_ensure(directory: Path) -> tuple[Path, Path]:
    paths = development_key_create(directory)
    return paths["key"], paths["certificate"]


def timestamper() -> TimeStamper | None:
    """The configured RFC 3161 timestamp authority, or None."""
    if not settings.CSCR_TSA_URL:
        return None
    return RequestsHTTPTimeStamper(settings.CSCR_TSA_URL, timeout=TSA_TIMEOUT_SECONDS)
