"""python manage.py create_signing_key: a self-signed certificate and key for signing CSCR bundles
in development and tests. Never for production: there the organisation's own key is configured."""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from safety.cscr import signing


class Command(BaseCommand):
    help = (
        "Create a self-signed development certificate and RSA key for CSCR signing (PEM; with --pkcs12, "
        "also a PKCS#12 file protected by the CSCR_SIGNING_PASSPHRASE environment variable)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            default=str(settings.CSCR_SIGNING_DEV_DIR),
            help="where to write the files (default: .data/signing)",
        )
        parser.add_argument("--common-name", default=signing.DEV_COMMON_NAME)
        parser.add_argument("--days", type=int, default=3650)
        parser.add_argument("--force", action="store_true", help="replace an existing key")
        parser.add_argument("--pkcs12", action="store_true", help="also write cscr-signing.p12")

    def handle(self, *args, dir: str, common_name: str, days: int, force: bool, pkcs12: bool, **options):
        passphrase = os.environ.get("CSCR_SIGNING_PASSPHRASE", "").encode() or None
        if pkcs12 and not passphrase:
            raise CommandError("Set CSCR_SIGNING_PASSPHRASE to protect the PKCS#12 file.")
        paths = signing.development_key_create(
            Path(dir), common_name=common_name, days=days, force=force, pkcs12_passphrase=passphrase if pkcs12 else None
        )
        for kind, path in paths.items():
            self.stdout.write(f"{kind}: {path}")
        self.stdout.write(
            "Development use only: configure the organisation's own key in production "
            "(CSCR_SIGNING_PKCS12_FILE or CSCR_SIGNING_KEY_FILE and CSCR_SIGNING_CERT_FILE)."
        )
