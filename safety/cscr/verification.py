"""Verify a CSCR bundle from its bytes alone: no database, no network.

A bundle is valid when the manifest's detached CMS signature matches `manifest.json`; every file
the manifest lists is present with the SHA-256 it states, and no other file is; `cscr.pdf` carries
an intact PAdES signature over the whole file; both signatures come from the same certificate,
the one the manifest names (and, given trust anchors, one of them or issued by one); and
`sign-off.json` holds a snapshot whose SHA-256, recomputed, is the one signed off. Every failure is
reported against the file it concerns.

This module imports nothing from Django, so it runs wherever pyHanko does.
"""

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import threading
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_detached_cms, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

BUNDLE_FORMAT = "nir-cscr-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.json.p7s"
PDF = "cscr.pdf"
SIGN_OFF = "sign-off.json"
HAZARD_LOG_CSV = "hazard-log.csv"
HAZARD_LOG_JSON = "hazard-log.json"
EVIDENCE_MANIFEST = "evidence-manifest.json"
# Every bundle has these, listed in its manifest; included evidence files come under evidence/.
REQUIRED_FILES = (PDF, HAZARD_LOG_CSV, HAZARD_LOG_JSON, EVIDENCE_MANIFEST, SIGN_OFF)
CHUNK = 1024 * 1024


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


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class FileCheck:
    name: str
    expected_sha256: str = ""
    actual_sha256: str = ""
    size: int | None = None
    status: str = "ok"  # ok, changed, missing, not listed, damaged, duplicated

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class SignatureCheck:
    file: str
    present: bool = False
    intact: bool = False
    valid: bool = False
    trusted: bool | None = None  # None: no trust anchor was given
    covers_whole_file: bool | None = None  # the PDF only
    signer_subject: str = ""
    signer_fingerprint: str = ""
    signed_at: datetime | None = None  # as the signer reported it
    timestamp: datetime | None = None  # from an RFC 3161 timestamp token
    timestamp_valid: bool | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.present
            and self.intact
            and self.valid
            and self.trusted is not False
            and self.covers_whole_file is not False
        )


@dataclass
class VerificationReport:
    files: list[FileCheck] = field(default_factory=list)
    pdf_signature: SignatureCheck = field(default_factory=lambda: SignatureCheck(PDF))
    manifest_signature: SignatureCheck = field(default_factory=lambda: SignatureCheck(MANIFEST))
    manifest: dict | None = None
    sign_off: dict | None = None
    snapshot_sha256_stated: str = ""
    snapshot_sha256_computed: str = ""
    trust_checked: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def failing_files(self) -> list[str]:
        return sorted({problem.file for problem in self.problems})

    @property
    def snapshot_hash_ok(self) -> bool | None:
        if not self.snapshot_sha256_stated:
            return None
        return self.snapshot_sha256_stated == self.snapshot_sha256_computed

    def add(self, file: str, message: str) -> None:
        self.problems.append(Problem(file, message))


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


# --- signatures -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_validation_logs() -> Iterator[None]:
    # pyHanko logs a traceback for every untrusted certificate; the report says it once, plainly.
    loggers = [logging.getLogger(name) for name in ("pyhanko", "pyhanko_certvalidator")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def outside_event_loop(function):
    """Call `function` (which runs its own asyncio loop, as pyHanko's validation does) in a thread of
    its own when this thread already runs a loop (an async server, a browser-driving test)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001  re-raised in the calling thread below
            result["error"] = error

    thread = threading.Thread(target=run, name="cscr-verification")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _context(roots: list[asn1_x509.Certificate], own: asn1_x509.Certificate | None) -> ValidationContext:
    # Without trust anchors, the signer's own certificate stands in, so that the check is of the
    # signature's integrity alone; the report then says trust was not checked.
    anchors = roots or ([own] if own is not None else [])
    return ValidationContext(trust_roots=anchors, allow_fetching=False)


def _fill(check: SignatureCheck, status: Any, roots: list) -> None:
    check.intact, check.valid = bool(status.intact), bool(status.valid)
    check.trusted = bool(status.trusted) if roots else None
    certificate = status.signing_cert
    check.signer_subject = certificate.subject.human_friendly
    check.signer_fingerprint = hashlib.sha256(certificate.dump()).hexdigest()
    check.signed_at = status.signer_reported_dt
    if status.timestamp_validity is not None:
        check.timestamp = status.timestamp_validity.timestamp
        check.timestamp_valid = bool(status.timestamp_validity.intact and status.timestamp_validity.valid)


def _signer_certificate(signed_data: cms.SignedData) -> asn1_x509.Certificate | None:
    signer_info = signed_data["signer_infos"][0]
    sid = signer_info["sid"]
    for choice in signed_data["certificates"]:
        certificate = choice.chosen
        if not isinstance(certificate, asn1_x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            if (
                certificate.issuer == sid.chosen["issuer"]
                and certificate.serial_number == sid.chosen["serial_number"].native
            ):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    return None


def _check_manifest_signature(manifest: bytes, p7s: bytes, roots: list) -> SignatureCheck:
    check = SignatureCheck(MANIFEST, present=True)
    try:
        content_info = cms.ContentInfo.load(p7s)
        if content_info["content_type"].native != "signed_data":
            raise ValueError("not a CMS signed-data object")
        signed_data = content_info["content"]
        own = _signer_certificate(signed_data)
        with _quiet_validation_logs():
            status = outside_event_loop(
                lambda: asyncio.run(
                    async_validate_detached_cms(manifest, signed_data, signer_validation_context=_context(roots, own))
                )
            )
        _fill(check, status, roots)
    except Exception as error:  # noqa: BLE001  a damaged signature is a finding of the report, not a crash
        check.error = f"the signature could not be read ({type(error).__name__}: {error})"[:300]
    return check


def _check_pdf_signature(pdf: bytes, roots: list) -> SignatureCheck:
    check = SignatureCheck(PDF)
    try:
        signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
        if not signatures:
            check.error = "the PDF is not signed"
            return check
        check.present = True
        signature = signatures[-1]
        with _quiet_validation_logs():
            status = outside_event_loop(
                lambda: validate_pdf_signature(signature, _context(roots, signature.signer_cert))
            )
        _fill(check, status, roots)
        check.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(signatures) == 1
    except Exception as error:  # noqa: BLE001  a damaged PDF is a finding of the report, not a crash
        check.error = f"the PDF or its signature could not be read ({type(error).__name__}: {error})"[:300]
    return check


def _signature_problems(report: VerificationReport, check: SignatureCheck, label: str, file: str) -> None:
    if check.error:
        report.add(file, f"{label}: {check.error}.")
    elif not check.present:
        report.add(file, f"{label} is missing.")
    elif not check.intact:
        report.add(file, f"{label} does not match the file: it was changed after it was signed.")
    elif not check.valid:
        report.add(file, f"{label} is not cryptographically valid.")
    if check.covers_whole_file is False:
        report.add(file, f"{label} does not cover the whole file: something was added after signing.")
    if check.trusted is False:
        report.add(file, f"{label} was made with a certificate you do not trust ({check.signer_subject}).")


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
        report.manifest_signature = _check_manifest_signature(manifest_entry.data, p7s_entry.data or b"", roots)
        _signature_problems(report, report.manifest_signature, "The manifest's signature", MANIFEST)

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
        report.pdf_signature = _check_pdf_signature(pdf_entry.data, roots)
        _signature_problems(report, report.pdf_signature, "The PDF's signature", PDF)
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


# --- a plain-text report, for the command line -------------------------------------------------------


def _yes_no(value: bool | None, unknown: str = "not checked") -> str:
    return unknown if value is None else ("yes" if value else "NO")


def _signature_lines(check: SignatureCheck, label: str) -> list[str]:
    if not check.present:
        return [f"{label}: MISSING{f' ({check.error})' if check.error else ''}"]
    lines = [
        f"{label}: {'valid' if check.ok else 'NOT VALID'}",
        f"  intact: {_yes_no(check.intact)}; cryptographically valid: {_yes_no(check.valid)}; "
        f"trusted: {_yes_no(check.trusted, 'not checked (no trust anchor)')}"
        + (
            f"; covers the whole file: {_yes_no(check.covers_whole_file)}"
            if check.covers_whole_file is not None
            else ""
        ),
        f"  signer: {check.signer_subject}",
        f"  certificate SHA-256: {check.signer_fingerprint}",
        f"  signing time (as the signer reported it): {check.signed_at.isoformat() if check.signed_at else '-'}",
    ]
    if check.timestamp is not None:
        lines.append(
            f"  RFC 3161 timestamp: {check.timestamp.isoformat()} "
            f"({'token valid' if check.timestamp_valid else 'TOKEN NOT VALID'})"
        )
    else:
        lines.append("  RFC 3161 timestamp: none")
    if check.error:
        lines.append(f"  error: {check.error}")
    return lines


def format_report(report: VerificationReport) -> str:
    lines = [f"Bundle: {'VALID' if report.valid else 'NOT VALID'}"]
    manifest = report.manifest or {}
    cscr = manifest.get("cscr") or {}
    deployment = manifest.get("deployment") or {}
    if cscr or deployment:
        lines.append(
            f"CSCR version {cscr.get('version', '?')} ({cscr.get('lifecycle_phase', '?')} phase) of "
            f"{deployment.get('name', '?')} ({deployment.get('organisation', '?')}), "
            f"issued {manifest.get('generated_at', '?')}"
        )
    lines += [
        "",
        *_signature_lines(report.pdf_signature, "PDF signature (cscr.pdf, PAdES)"),
        *_signature_lines(report.manifest_signature, "Manifest signature (manifest.json.p7s, CMS)"),
        "",
        "Files:",
    ]
    for check in report.files:
        lines.append(f"  {'ok' if check.ok else check.status.upper():<11} {check.name}  {check.actual_sha256 or '-'}")
    sign_off = report.sign_off or {}
    lines += ["", "Sign-off:"]
    if sign_off:
        lines += [
            f"  CSO: {sign_off.get('cso_name', '?')}, {sign_off.get('professional_body', '?')} "
            f"{sign_off.get('registration_number', '?')}",
            f"  signed: {sign_off.get('signed_at', '?')}",
            f"  snapshot SHA-256: {report.snapshot_sha256_stated} "
            f"({'recomputed: matches' if report.snapshot_hash_ok else 'recomputed: DOES NOT MATCH'})",
        ]
    else:
        lines.append("  (not readable)")
    if report.problems:
        lines += ["", "Problems:", *[f"  {problem}" for problem in report.problems]]
    return "\n".join(lines)
