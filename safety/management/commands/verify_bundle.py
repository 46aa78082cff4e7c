"""python manage.py verify_bundle PATH: check a CSCR bundle; exit status 1 when it is not valid."""

from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError

from safety.cscr import signing, verification


def _certificate(path: str) -> asn1_x509.Certificate:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(data)


class Command(BaseCommand):
    help = (
        "Check a CSCR bundle: both signatures, every file's SHA-256 against the signed manifest, and the "
        "sign-off's snapshot hash. Prints a report; exits with status 1 when the bundle is not valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the bundle's .zip file")
        parser.add_argument(
            "--trust",
            action="append",
            default=[],
            metavar="CERT",
            help="a certificate (PEM or DER) to trust; by default, this portal's signing certificate",
        )
        parser.add_argument(
            "--no-trust-check",
            action="store_true",
            help="check the signatures' integrity only, trusting whatever certificate made them",
        )

    def handle(self, *args, path: str, trust: list[str], no_trust_check: bool, **options):
        try:
            roots = [] if no_trust_check else ([_certificate(p) for p in trust] or signing.trusted_certificates())
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the certificate to trust: {error}") from error
        try:
            report = verification.verify_bundle(Path(path), trust_roots=roots)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except verification.BundleUnreadable as error:
            raise CommandError(f"{path}: {error}") from error
        self.stdout.write(verification.format_report(report))
        if not roots:
            self.stdout.write("\nNote: no certificate to trust was given, so the signer was not checked.")
        if not report.valid:
            raise CommandError(f"The bundle is NOT valid; failing: {', '.join(report.failing_files)}", returncode=1)
