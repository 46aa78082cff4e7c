"""The two signatures of a CSCR bundle: PAdES on `cscr.pdf` and a detached CMS signature on
`manifest.json`. With CSCR_TSA_URL set, both carry an RFC 3161 signature timestamp (PAdES-B-T).

The key itself is loaded by `nir_portal.signing` (the audit trail's checkpoints are signed with
it too); its names are re-exported here for the CSCR code that uses them.
"""

import asyncio
import io

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper

from nir_portal.signing import (  # noqa: F401  re-exported for the CSCR code
    DEV_CERT_NAME,
    DEV_COMMON_NAME,
    DEV_KEY_NAME,
    DIGEST_ALGORITHM,
    KEY_BITS,
    NOT_CONFIGURED_MESSAGE,
    TSA_TIMEOUT_SECONDS,
    SigningCredentials,
    SigningNotConfigured,
    _load,
    certificate_fingerprint,
    development_key_create,
    development_key_ensure,
    development_mode,
    signing_credentials,
    timestamper,
    trusted_certificates,
)
from safety.cscr.verification import outside_event_loop

PDF_SIGNATURE_FIELD = "CSCRSignature"


def pdf_sign(
    pdf: bytes, credentials: SigningCredentials, *, reason: str, location: str, tsa: TimeStamper | None = None
) -> bytes:
    """A PAdES baseline signature over the whole PDF (B-B, or B-T with a timestamp authority)."""
    metadata = signers.PdfSignatureMetadata(
        field_name=PDF_SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm=DIGEST_ALGORITHM,
        reason=reason[:200],
        location=location[:200],
    )
    output = io.BytesIO()
    outside_event_loop(
        lambda: signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)),
            metadata,
            signer=credentials.signer,
            timestamper=tsa,
            output=output,
        )
    )
    return output.getvalue()


def detached_sign(data: bytes, credentials: SigningCredentials, *, tsa: TimeStamper | None = None) -> bytes:
    """A detached CMS (CAdES) signature over `data`, DER-encoded: the `.p7s` beside the file."""
    content_info = outside_event_loop(
        lambda: asyncio.run(
            credentials.signer.async_sign_general_data(
                data, DIGEST_ALGORITHM, detached=True, use_cades=True, timestamper=tsa
            )
        )
    )
    return content_info.dump()
