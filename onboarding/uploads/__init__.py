"""Receiving, checking and storing uploaded evidence files.

Nothing here trusts the browser. A file's type is decided by its bytes and must agree with its
name; containers (ZIP, DOCX, XLSX) and PDFs are opened and refused when they could harm whoever
opens them; the stored name is generated, never derived from the user's file name. Malware
scanning happens after storage (`onboarding.scanning`), and a file stays quarantined until then.

Every refusal is a `ValidationError` with a stable `code` and a message that says what is wrong
with the file, so a form can show it as it is.

The modules, in the order a file meets them: `streaming` (the upload handler), `inspection` (the
whole check: `names`, then `detection`, then `zips`, or `pdfs` with its byte scan `pdf_bytes` and
its structure check `pdf_structure`), `storing`.
"""

from onboarding.uploads.inspection import InspectedFile, inspect_upload
from onboarding.uploads.names import ACCEPT_ATTRIBUTE, ALLOWED_EXTENSIONS, EXTENSIONS_BY_TYPE, sanitize_filename
from onboarding.uploads.storing import STORAGE_ALIAS, open_stored, storage_name_for, store_upload
from onboarding.uploads.streaming import (
    CHUNK_BYTES,
    HashedTemporaryUploadedFile,
    HashingUploadHandler,
    too_large_error,
)

__all__ = [
    "ACCEPT_ATTRIBUTE",
    "ALLOWED_EXTENSIONS",
    "CHUNK_BYTES",
    "EXTENSIONS_BY_TYPE",
    "STORAGE_ALIAS",
    "HashedTemporaryUploadedFile",
    "HashingUploadHandler",
    "InspectedFile",
    "inspect_upload",
    "open_stored",
    "sanitize_filename",
    "storage_name_for",
    "store_upload",
    "too_large_error",
]
