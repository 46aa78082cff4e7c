"""Verify a CSCR bundle from its bytes alone: no database, no network.

A bundle is valid when the manifest's detached CMS signature matches `manifest.json`; every file
the manifest lists is present with the SHA-256 it states, and no other file is; `cscr.pdf` carries
an intact PAdES signature over the whole file; both signatures come from the same certificate,
the one the manifest names (and, given trust anchors, one of them or issued by one); and
`sign-off.json` holds a snapshot whose SHA-256, recomputed, is the one signed off. Every failure is
reported against the file it concerns.

This module imports nothing from Django, so it runs wherever pyHanko does.
"""

import contextlib
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from asn1crypto import x509 as asn1_x509

from safety.cscr.signature_checks import (
    check_manifest_signature,
    check_pdf_signature,
    outside_event_loop,
    signature_problems,
)
from safety.cscr.verification_report import (
    BUNDLE_FORMAT,
    CHUNK,
    EVIDENCE_MANIFEST,
    HAZARD_LOG_CSV,
    HAZARD_LOG_JSON,
    MANIFEST,
    MANIFEST_SIGNATURE,
    PDF,
    REQUIRED_FILES,
    SIGN_OFF,
    FileCheck,
    Problem,
    SignatureCheck,
    VerificationReport,
    format_report,
)

# The report's names and the signature helpers stay importable from here, where callers look.
__all__ = [
    "BUNDLE_FORMAT",
    "EVIDENCE_MANIFEST",
    "HAZARD_LOG_CSV",
    "HAZARD_LOG_JSON",
    "MANIFEST",
    "MANIFEST_SIGNATURE",
    "PDF",
    "REQUIRED_FILES",
    "SIGN_OFF",
    "BundleUnreadable",
    "FileCheck",
    "Limits",
    "Problem",
    "SignatureCheck",
    "VerificationReport",
    "canonical_json",
    "format_report",
    "outside_event_loop",
    "snapshot_sha256",
    "verify_bundle",
]


class BundleUnreadable(Exception):
    """The upload is not a bundle that can be checked at all (not a ZIP, too large, a ZIP bomb)."""


@dataclass(frozen=True)
class Limits:
    """What a checker will read, whatever the archive claims about itself."""

    max_entries: int = 2000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: int = 200  # uncompressed / compressed, for entries over 1 MiB
    max_kept_bytes: int = 200 * 1024**2  # the PDF and JSON files, held in memory to check


# --- the snapshot hash, exactly as safety.snapshots computes it -------------------------------------


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def snapshot_sha256(snapshot: dict) -> str:
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


# --- reading the archive --------------------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    sha256: str
    size: int
    data: bytes | None  # kept for the files checked beyond their hash
    damaged: str = ""


def _kept(name: str) -> bool:
    return name in (MANIFEST, MANIFEST_SIGNATURE, PDF, SIGN_OFF)


def _unsafe(name: str) -> bool:
    normal = name.replace("\\", "/")
    return normal.startswith("/") or ".." in normal.split("/") or any(ord(ch) < 32 for ch in normal)


def _read_entries(source: IO[bytes], limits: Limits) -> Iterator[_Entry]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise BundleUnreadable(
            "This is not a ZIP file, or it is damaged: a CSCR bundle is the .zip file the portal produced."
        ) from error
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > limits.max_entries:
            raise BundleUnreadable(
                f"The ZIP file holds {len(infos):,} files, more than a CSCR bundle can ({limits.max_entries:,})."
            )
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_total_bytes:
            raise BundleUnreadable("The ZIP file's contents add up to more than a CSCR bundle can when extracted.")
        for info in infos:
            if _unsafe(info.filename):
                raise BundleUnreadable(f"The ZIP file contains an item with an unsafe path ({info.filename[:100]!r}).")
            if info.flag_bits & 0x1:
                raise BundleUnreadable("The ZIP file contains password-protected items: a CSCR bundle has none.")
            if info.file_size > CHUNK and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise BundleUnreadable(
                    f"The ZIP file contains {info.filename[:100]!r}, which expands to over "
                    f"{limits.max_ratio} times its compressed size (a 'zip bomb')."
                )
        budget = limits.max_total_bytes
        for info in infos:
            hasher, size, kept = hashlib.sha256(), 0, io.BytesIO() if _kept(info.filename) else None
            damaged = ""
            try:
                with archive.open(info) as member:
                    while chunk := member.read(CHUNK):
                        size += len(chunk)
                        budget -= len(chunk)
                        if size > info.file_size or budget < 0:
                            raise BundleUnreadable("The ZIP file expands to more than it declares (a 'zip bomb').")
                        hasher.update(chunk)
                        if kept is not None:
                            if size > limits.max_kept_bytes:
                                raise BundleUnreadable(f"{info.filename} is larger than a CSCR bundle's can be.")
                            kept.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
                damaged = str(error) or type(error).__name__
            except NotImplementedError:
                damaged = "compressed with a method this checker does not read"
            yield _Entry(
                info.filename, hasher.hexdigest(), size, kept.getvalue() if kept is not None else None, damaged
            )


# --- the check --------------------------------------------------------------------------------------


def _open(source: str | Path | bytes | IO[bytes]) -> contextlib.AbstractContextManager[IO[bytes]]:
    if isinstance(source, (str, Path)):
        return Path(source).open("rb")
    if isinstance(source, bytes):
        return contextlib.nullcontext(io.BytesIO(source))
    return contextlib.nullcontext(source)


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def verify_bundle(
    source: str | Path | bytes | IO[bytes],
    *,
    trust_roots: Iterable[asn1_x509.Certificate] = (),
    limits: Limits | None = None,
) -> VerificationReport:
    """Check a bundle. Raises BundleUnreadable when it cannot be checked at all."""
    roots = list(trust_roots)
    report = VerificationReport(trust_checked=bool(roots))
    with _open(source) as file:
        entries: dict[str, _Entry] = {}
        for entry in _read_entries(file, limits or Limits()):
            if entry.name in entries:
                report.add(entry.name, "appears more than once in the ZIP file, so which copy is meant is unclear.")
                report.files.append(FileCheck(entry.name, status="duplicated"))
            entries[entry.name] = entry

    manifest_entry, p7s_entry = entries.get(MANIFEST), entries.get(MANIFEST_SIGNATURE)
    manifest = _json(manifest_entry.data) if manifest_entry else None
    report.manifest = manifest if isinstance(manifest, dict) else None
    if manifest_entry is None:
        report.add(MANIFEST, "is missing, so nothing in the bundle can be checked against it.")
    elif manifest_entry.damaged:
        report.add(MANIFEST, f"is damaged inside the ZIP file ({manifest_entry.damaged}).")
        report.manifest = None
    elif report.manifest is None or not isinstance(report.manifest.get("files"), list):
        report.add(MANIFEST, "is not a readable bundle manifest.")
    elif report.manifest.get("format") != BUNDLE_FORMAT:
        report.add(MANIFEST, f"is of an unknown format ({report.manifest.get('format')!r}).")

    if p7s_entry is None:
        report.add(MANIFEST_SIGNATURE, "is missing: the manifest is not signed.")
    elif p7s_entry.damaged:
        report.add(MANIFEST_SIGNATURE, f"is damaged inside the ZIP file ({p7s_entry.damaged}).")
    elif manifest_entry is not None and manifest_entry.data is not None and not manifest_entry.damaged:
        report.manifest_signature = check_manifest_signature(manifest_entry.data, p7s_entry.data or b"", roots)
        signature_problems(report, report.manifest_signature, "The manifest's signature", MANIFEST)

    listed: dict[str, dict] = {}
    for item in (report.manifest or {}).get("files") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            listed[item["name"]] = item
    if report.manifest is not None:
        for name in REQUIRED_FILES:
            if name not in listed:
                report.add(name, "is not listed in the manifest, which every bundle's is.")
    for name, item in listed.items():
        entry = entries.get(name)
        expected = str(item.get("sha256", ""))
        if entry is None:
            report.files.append(FileCheck(name, expected_sha256=expected, status="missing"))
            report.add(name, "is listed in the signed manifest but missing from the bundle.")
        elif entry.damaged:
            report.files.append(FileCheck(name, expected, entry.sha256, entry.size, status="damaged"))
            report.add(name, f"is damaged inside the ZIP file ({entry.damaged}).")
        elif entry.sha256 != expected:
            report.files.append(FileCheck(name, expected, entry.sha256, entry.size, status="changed"))
            report.add(name, "does not match the SHA-256 in the signed manifest: it was changed or replaced.")
        else:
            report.files.append(FileCheck(name, expected, entry.sha256, entry.size))
    for name, entry in entries.items():
        if name not in listed and name not in (MANIFEST, MANIFEST_SIGNATURE) and report.manifest is not None:
            report.files.append(FileCheck(name, actual_sha256=entry.sha256, size=entry.size, status="not listed"))
            report.add(name, "is not listed in the signed manifest: it was added to the bundle.")

    pdf_entry = entries.get(PDF)
    if pdf_entry is not None and pdf_entry.data is not None and not pdf_entry.damaged:
        report.pdf_signature = check_pdf_signature(pdf_entry.data, roots)
        signature_problems(report, report.pdf_signature, "The PDF's signature", PDF)
    _check_signers(report)
    _check_sign_off(report, entries.get(SIGN_OFF))
    return report


def _check_signers(report: VerificationReport) -> None:
    named = str(((report.manifest or {}).get("signing") or {}).get("certificate_sha256", ""))
    pdf, manifest = report.pdf_signature, report.manifest_signature
    if pdf.signer_fingerprint and manifest.signer_fingerprint and pdf.signer_fingerprint != manifest.signer_fingerprint:
        report.add(PDF, "is signed with a different certificate from the manifest.")
    if named and manifest.signer_fingerprint and named != manifest.signer_fingerprint:
        report.add(MANIFEST, "names a signing certificate other than the one that signed it.")


def _check_sign_off(report: VerificationReport, entry: _Entry | None) -> None:
    if entry is None or entry.data is None or entry.damaged:
        return  # already reported as missing or damaged
    data = _json(entry.data)
    if not isinstance(data, dict) or not isinstance(data.get("snapshot"), dict):
        report.add(SIGN_OFF, "is not a readable sign-off record.")
        return
    report.sign_off = data.get("sign_off") if isinstance(data.get("sign_off"), dict) else {}
    report.snapshot_sha256_stated = str(data.get("snapshot_sha256", ""))
    report.snapshot_sha256_computed = snapshot_sha256(data["snapshot"])
    if not report.snapshot_hash_ok:
        report.add(SIGN_OFF, "holds a snapshot whose SHA-256 is not the one signed off.")
    signed = str(((report.manifest or {}).get("sign_off") or {}).get("snapshot_sha256", ""))
    if report.manifest is not None and signed != report.snapshot_sha256_stated:
        report.add(SIGN_OFF, "names a snapshot other than the one in the signed manifest.")
