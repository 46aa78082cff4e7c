"""What a CSCR bundle check found: per file, per signature, and the problems, each against the
file it concerns; and the plain-text form of it for the command line. No Django, as verification."""

from dataclasses import dataclass, field
from datetime import datetime

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
