"""Storing an inspected file under a generated name in evidence storage."""

import re
import uuid

from django.core.files import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile

from onboarding.uploads.inspection import InspectedFile
from onboarding.uploads.names import ALLOWED_EXTENSIONS

STORAGE_ALIAS = "evidence"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def storage_name_for(sha256: str, extension: str) -> str:
    """A new, unguessable storage path such as evidence/ab/cd/<uuid4>.pdf; never the user's name."""
    if not _SHA256_RE.match(sha256):
        raise ValueError("sha256 must be 64 lowercase hexadecimal characters")
    if extension not in ALLOWED_EXTENSIONS:
        raise ValueError(f"extension {extension!r} is not allowed")
    return f"evidence/{sha256[:2]}/{sha256[2:4]}/{uuid.uuid4().hex}.{extension}"


def store_upload(uploaded_file: UploadedFile, inspected: InspectedFile) -> str:
    """Write an inspected file to evidence storage under a generated name; return that name.

    Storage never overwrites: FileSystemStorage creates the file exclusively, and the S3
    backend is configured with file_overwrite=False. The file stays quarantined until scanned.

    A received upload is never copied within this machine: FileSystemStorage renames its
    temporary file into place when both are on one filesystem (FILE_UPLOAD_TEMP_DIR), and the
    S3 backend streams it to the bucket in parts.
    """
    storage = storages[STORAGE_ALIAS]
    name = storage_name_for(inspected.sha256, inspected.extension)
    uploaded_file.seek(0)
    # On a (uuid4) collision the storage picks another free name rather than overwrite; the
    # name it returns is the one to record.
    return storage.save(name, uploaded_file)


def open_stored(storage_name: str) -> File:
    """Open a stored evidence file for reading (the caller checks permission and scan status)."""
    return storages[STORAGE_ALIAS].open(storage_name, "rb")
