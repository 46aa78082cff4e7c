"""The two signatures of a CSCR bundle, checked with pyHanko: the manifest's detached CMS signature
and the PDF's PAdES signature. No Django, as verification."""

import asyncio
import contextlib
import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_detached_cms, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from safety.cscr.verification_report import MANIFEST, PDF, SignatureCheck, VerificationReport


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


def check_manifest_signature(manifest: bytes, p7s: bytes, roots: list) -> SignatureCheck:
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


def check_pdf_signature(pdf: bytes, roots: list) -> SignatureCheck:
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


def signature_problems(report: VerificationReport, check: SignatureCheck, label: str, file: str) -> None:
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
