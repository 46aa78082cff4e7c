"""Turning an evidence file or a path into the (name, bytes) documents the checker reads. A ZIP
is opened and its JSON, NDJSON and text members are checked one by one."""

import io
import zipfile

SAMPLE_EXTENSIONS = (".json", ".ndjson", ".txt")
# Sample sets are small; the upload checks already refused bombs, this bounds memory regardless.
MAX_MEMBER_BYTES = 50 * 1024 * 1024


def documents_from(name: str, data: bytes) -> list[tuple[str, bytes]]:
    if not data.startswith(b"PK\x03\x04"):
        return [(name, data)]
    documents = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(SAMPLE_EXTENSIONS):
                continue
            member = f"{name}!{info.filename}"
            if info.file_size > MAX_MEMBER_BYTES:
                documents.append((member, b""))  # reported as unreadable (empty) rather than read
                continue
            documents.append((member, archive.read(info)))
    return documents or [(name, b"")]
