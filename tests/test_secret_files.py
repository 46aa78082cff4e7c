"""Secrets from files (Compose and Kubernetes secrets): the settings read NAME_FILE instead of NAME,
and a PKCS#12 signing key with its passphrase in a secret file really signs."""

import secrets

from tests.test_settings import PRODUCTION, _no_dotenv, run, settings_values  # noqa: F401  fixture by name


def test_the_signing_passphrase_and_secret_key_are_read_from_their_files(tmp_path):
    passphrase, key = tmp_path / "passphrase", tmp_path / "secret-key"
    passphrase.write_text("correct horse battery staple\n")
    secret_key = secrets.token_urlsafe(60)
    key.write_text(secret_key)
    environment = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}

    values = settings_values(
        "CSCR_SIGNING_PASSPHRASE",
        "SECRET_KEY",
        **environment,
        SECRET_KEY_FILE=str(key),
        CSCR_SIGNING_PASSPHRASE_FILE=str(passphrase),
    )

    assert values == {"CSCR_SIGNING_PASSPHRASE": "correct horse battery staple", "SECRET_KEY": secret_key}


def test_a_secret_file_that_cannot_be_read_stops_the_start_naming_it(tmp_path):
    result = run(
        ["-c", "import django; django.setup()"], **PRODUCTION, CSCR_SIGNING_PASSPHRASE_FILE=str(tmp_path / "missing")
    )

    assert result.returncode != 0
    assert "CSCR_SIGNING_PASSPHRASE_FILE names" in result.stderr and "cannot be read" in result.stderr


def test_a_pkcs12_key_and_a_passphrase_file_sign_in_production_mode(tmp_path):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    made = run(
        ["manage.py", "create_signing_key", "--pkcs12", "--dir", str(tmp_path)],
        DEBUG="true",
        CSCR_SIGNING_PASSPHRASE="correct horse battery staple",
    )
    assert made.returncode == 0, made.stderr
    code = (
        "import django; django.setup(); from safety.cscr import signing; "
        "c = signing.signing_credentials(); print(c.fingerprint); "
        "print(len(signing.detached_sign(b'manifest', c)))"
    )

    result = run(
        ["-c", code],
        **PRODUCTION,
        CSCR_SIGNING_PKCS12_FILE=str(tmp_path / "cscr-signing.p12"),
        CSCR_SIGNING_PASSPHRASE_FILE=str(passphrase),
    )

    assert result.returncode == 0, result.stderr
    fingerprint, signature_length = result.stdout.split()[-2:]
    assert len(fingerprint) == 64 and int(signature_length) > 0
