"""Verifying a bundle without the database: `manage.py verify_bundle` and the public page. A valid
bundle passes; any altered byte, an edited manifest, a replaced or removed or added file is found
and the file named by both; uploads that are not bundles are refused with a clear message."""

import io
import json
import zipfile
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from safety.cscr import signing, verification
from safety.snapshots import snapshot_sha256
from tests.cscr.conftest import bundle_path

VERIFY_URL = "cscr:verify"


def rewrite(
    source: Path,
    target: Path,
    *,
    replace: dict[str, bytes] | None = None,
    remove: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of the bundle with members replaced, removed or added: what someone tampering does."""
    replace = replace or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            if info.filename in remove:
                continue
            copy.writestr(info, replace.get(info.filename, original.read(info.filename)))
        for name, data in (add or {}).items():
            copy.writestr(name, data)
    return target


def _flip_byte(data: bytes, at: float = 0.5) -> bytes:
    changed = bytearray(data)
    changed[int(len(changed) * at)] ^= 0x01
    return bytes(changed)


def _member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def _edited_manifest(path: Path) -> bytes:
    manifest = json.loads(_member(path, "manifest.json"))
    manifest["cscr"]["version"] = 99
    return json.dumps(manifest, indent=2).encode()


TAMPERING = {
    # name: (how, the file that must be named)
    "one flipped byte in the PDF": (
        lambda p, t: rewrite(p, t, replace={"cscr.pdf": _flip_byte(_member(p, "cscr.pdf"))}),
        "cscr.pdf",
    ),
    "an edited manifest.json": (
        lambda p, t: rewrite(p, t, replace={"manifest.json": _edited_manifest(p)}),
        "manifest.json",
    ),
    "a replaced hazard-log.csv": (
        lambda p, t: rewrite(p, t, replace={"hazard-log.csv": b"Hazard number\nH001\n"}),
        "hazard-log.csv",
    ),
    "a removed file": (lambda p, t: rewrite(p, t, remove=("sign-off.json",)), "sign-off.json"),
    "an added file": (
        lambda p, t: rewrite(p, t, add={"extra-evidence.pdf": b"%PDF-1.7 planted"}),
        "extra-evidence.pdf",
    ),
    "a removed manifest signature": (lambda p, t: rewrite(p, t, remove=("manifest.json.p7s",)), "manifest.json.p7s"),
}


def _run_command(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_bundle", str(path), stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def _upload(client, path: Path, name: str = "bundle.zip"):
    with path.open("rb") as file:
        return client.post(reverse(VERIFY_URL), {"bundle": file}, format="multipart")


# --- a valid bundle ------------------------------------------------------------------------------------


def test_the_command_reports_a_valid_bundle_and_exits_zero(built):
    status, output = _run_command(bundle_path(built))

    assert status == 0
    assert output.startswith("Bundle: VALID")
    assert "PDF signature (cscr.pdf, PAdES): valid" in output
    assert "Manifest signature (manifest.json.p7s, CMS): valid" in output
    assert built.signer_fingerprint in output
    assert "recomputed: matches" in output and "Dr Ada Clinician, GMC 7654321" in output


def test_anyone_can_check_a_bundle_on_the_public_page_without_signing_in(built, client):
    page = client.get(reverse(VERIFY_URL))
    response = _upload(client, bundle_path(built))

    assert page.status_code == 200 and b"Check a Clinical Safety Case Report bundle" in page.content
    assert response.status_code == 200
    report = response.context["report"]
    assert report.valid and report.trust_checked
    html = response.content.decode()
    assert "The bundle is signed and unchanged" in html
    assert built.signer_fingerprint in html  # the signer certificate's fingerprint
    assert "Dr Ada Clinician" in html and "7654321" in html and built.sign_off.snapshot_sha256 in html
    assert html.count("Matches</strong>") == len(report.files) == 5


def test_the_snapshot_hash_is_recomputed_exactly_as_the_portal_computes_it(built):
    sign_off = json.loads(_member(bundle_path(built), "sign-off.json"))

    assert verification.snapshot_sha256(sign_off["snapshot"]) == snapshot_sha256(built.sign_off.snapshot)
    assert verification.canonical_json(sign_off["snapshot"]) == verification.canonical_json(built.sign_off.snapshot)


# --- tampering --------------------------------------------------------------------------------------------


def test_tampering_is_detected_and_the_file_named_by_the_command_and_the_page(built, client, tmp_path):
    # One bundle for every kind of tampering: building it is the slow part.
    for tampering, (make, culprit) in sorted(TAMPERING.items()):
        tampered = make(bundle_path(built), tmp_path / f"{culprit}.zip")

        status, output = _run_command(tampered)
        response = _upload(client, tampered)

        assert status == 1, tampering
        assert output.startswith("Bundle: NOT VALID"), tampering
        assert f"  {culprit}: " in output, f"{tampering}: the command did not name {culprit}:\n{output}"
        assert culprit in output.rsplit("failing: ", 1)[1], tampering
        report = response.context["report"]
        assert not report.valid and culprit in report.failing_files, tampering
        html = response.content.decode()
        problems = html.split('data-testid="problems"', 1)[1].split("</ul>", 1)[0]
        assert f"<strong>{culprit}</strong>" in problems, f"{tampering}: the page did not name {culprit}"
        assert "Not valid: do not rely on this bundle" in html, tampering


def test_a_flipped_byte_in_the_pdf_fails_its_signature_as_well_as_its_hash(built, tmp_path):
    tampered = TAMPERING["one flipped byte in the PDF"][0](bundle_path(built), tmp_path / "t.zip")

    report = verification.verify_bundle(tampered, trust_roots=signing.trusted_certificates())

    assert not report.pdf_signature.ok
    assert [c.status for c in report.files if c.name == "cscr.pdf"] == ["changed"]


def test_a_byte_flipped_in_the_zip_itself_names_the_damaged_file(built, tmp_path):
    raw = bundle_path(built).read_bytes()
    with zipfile.ZipFile(bundle_path(built)) as archive:
        info = archive.getinfo("cscr.pdf")  # stored, not compressed: its bytes sit in the ZIP as they are
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    tampered = tmp_path / "damaged.zip"
    tampered.write_bytes(raw[:offset] + bytes([raw[offset] ^ 0x01]) + raw[offset + 1 :])

    status, output = _run_command(tampered)

    assert status == 1 and "cscr.pdf: is damaged inside the ZIP file" in output


def test_a_bundle_signed_with_another_key_is_not_trusted(built, tmp_path, settings):
    other = signing.development_key_create(tmp_path / "other", common_name="Someone else")
    stranger = signing._load(
        signing.signers.SimpleSigner.load, str(other["key"]), str(other["certificate"]), source="test"
    )
    manifest = _member(bundle_path(built), "manifest.json")
    forged = rewrite(
        bundle_path(built),
        tmp_path / "forged.zip",
        replace={"manifest.json.p7s": signing.detached_sign(manifest, stranger)},
    )

    report = verification.verify_bundle(forged, trust_roots=signing.trusted_certificates())
    integrity_only = verification.verify_bundle(forged)

    assert not report.valid and report.manifest_signature.trusted is False
    assert "manifest.json" in report.failing_files
    assert integrity_only.manifest_signature.intact and integrity_only.manifest_signature.trusted is None


# --- uploads that are not bundles ---------------------------------------------------------------------------


def test_a_file_that_is_not_a_zip_gets_a_clear_message(client, db, tmp_path):
    not_zip = tmp_path / "report.pdf"
    not_zip.write_bytes(b"%PDF-1.7 a report, not a bundle")

    response = _upload(client, not_zip)

    assert response.status_code == 200
    assert "This is not a ZIP file" in response.context["form"].errors["bundle"][0]
    assert "There is a problem" in response.content.decode()


def test_a_file_over_the_size_limit_gets_a_clear_message(client, db, tmp_path, settings):
    settings.CSCR_VERIFY_MAX_UPLOAD_BYTES = 10_000
    big = tmp_path / "big.zip"
    big.write_bytes(b"PK" + b"\0" * 20_000)

    response = _upload(client, big)

    assert response.status_code == 200
    assert response.context["form"].errors["bundle"] == ["The file must be smaller than 9 KB"]


def test_a_zip_bomb_gets_a_clear_message(client, db, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b"\0" * (64 * 1024 * 1024))

    response = _upload(client, bomb)

    assert bomb.stat().st_size < 200_000
    assert "zip bomb" in response.context["form"].errors["bundle"][0]


def test_a_zip_that_lies_about_its_sizes_is_read_no_further_than_it_declares(tmp_path):
    archive_path = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b"\0" * (4 * 1024 * 1024))
    data = bytearray(archive_path.read_bytes())
    # Declare 1 KiB uncompressed in the central directory: the reader must not believe it.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (1024).to_bytes(4, "little")
    archive_path.write_bytes(bytes(data))

    report = verification.verify_bundle(archive_path)

    assert not report.valid and "manifest.json" in report.failing_files


def test_no_file_chosen_asks_for_one(client, db):
    response = client.post(reverse(VERIFY_URL), {})

    assert response.context["form"].errors["bundle"] == ["Choose the bundle's .zip file to check."]
