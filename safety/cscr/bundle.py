"""The bundle: a ZIP of the signed CSCR, the hazard log as CSV and JSON, the evidence manifest, the
sign-off with its snapshot, optionally the evidence files, and `manifest.json` (every file's
SHA-256) with its detached signature. Written to a temporary file beside its final name and moved
into place with os.replace, so a reader never sees half a bundle, and a second build of the same
job replaces the first instead of adding another.
"""

import csv
import hashlib
import io
import json
import os
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import Storage, storages

from safety.cscr.signing import SigningCredentials, detached_sign
from safety.cscr.verification import (
    BUNDLE_FORMAT,
    EVIDENCE_MANIFEST,
    HAZARD_LOG_CSV,
    HAZARD_LOG_JSON,
    MANIFEST,
    MANIFEST_SIGNATURE,
    PDF,
    SIGN_OFF,
)
from safety.exports import FORMULA_PREFIXES, HAZARD_LOG_COLUMNS

CHUNK = 1024 * 1024
STORAGE_ALIAS = "cscr"


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


# --- the files -------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet programs run a cell that starts like a formula; a quote keeps it as text.
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def hazard_log_csv(hazards: list[dict]) -> bytes:
    """The signed hazard log in the NHS column layout of the portal's own export (one row each).
    `hazards` are the document's hazard views (labels resolved)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HAZARD_LOG_COLUMNS)
    for h in hazards:
        initial, residual = h["initial_view"], h["residual_view"]
        controls = "\n".join(
            f"{c['kind_label']}: {c['description']} (owner: {c['owner_name']}; "
            f"{'verified' if c.get('verified') else 'not verified'})"
            for c in h["controls_view"]
        )
        actions = "\n".join(
            f"{a['description']} (owner: {a['owner_name']}; "
            f"{'complete' if a.get('completed') else 'due ' + str(a['due_on'])})"
            for a in h["actions_view"]
        )
        status = h["status_label"] + (
            "" if h.get("applicable", True) else f" (not applicable: {h.get('applicability_justification', '')})"
        )
        writer.writerow(
            [
                _cell(v)
                for v in (
                    h["reference"],
                    h["name"],
                    h["description"],
                    h.get("clinical_impact"),
                    h.get("causes"),
                    h.get("existing_controls"),
                    initial["severity"],
                    initial["likelihood"],
                    initial["rating"],
                    controls,
                    residual["severity"],
                    residual["likelihood"],
                    residual["rating"],
                    actions,
                    status,
                )
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes spreadsheet programs read UTF-8


def hazard_log_json(snapshot: dict, snapshot_sha256: str) -> bytes:
    return _json_bytes(
        {
            "snapshot_sha256": snapshot_sha256,
            "deployment": snapshot.get("deployment"),
            "product_version": snapshot.get("product_version"),
            "risk_matrix": snapshot.get("risk_matrix"),
            "hazards": snapshot.get("hazards", []),
        }
    )


def sign_off_json(sign_off, *, status_at_issue: str) -> bytes:
    """The sign-off and the exact snapshot it signed; the hash is recomputable from `snapshot`."""
    return _json_bytes(
        {
            "snapshot_sha256": sign_off.snapshot_sha256,
            "snapshot": sign_off.snapshot,
            "sign_off": {
                "id": sign_off.pk,
                "cso_name": sign_off.cso_name,
                "professional_body": sign_off.professional_body,
                "registration_number": sign_off.registration_number,
                "registration_checked_on": sign_off.registration_checked_on.isoformat(),
                "signed_at": sign_off.signed_at.isoformat(),
                "statement": sign_off.statement,
                "conditions": sign_off.conditions,
                "status_at_issue": status_at_issue,
            },
            "hash_algorithm": "SHA-256 of the snapshot as JSON with sorted keys, separators ',' and ':', UTF-8",
        }
    )


# --- evidence files --------------------------------------------------------------------------------


@dataclass
class EvidencePlan:
    """Which evidence files go into the bundle, within the size cap."""

    included: list[tuple[str, str, str, int]] = field(default_factory=list)  # storage name, path, sha256, size
    total: int = 0


def evidence_plan(index: list[dict], *, include: bool, max_bytes: int) -> EvidencePlan:
    """Mark each file of the evidence index as included (`included_as`) or why not (`not_included`)."""
    plan = EvidencePlan()
    used: set[str] = set()
    for item in index:
        for file in item["files"]:
            file["included_as"] = None
            if not include:
                file["not_included"] = "Evidence files were not requested in this bundle."
            elif not file.get("storage_name") or file.get("scan_status") != "clean":
                file["not_included"] = "Not released: the file has no clean malware scan."
            elif plan.total + file["size"] > max_bytes:
                file["not_included"] = f"Over the bundle's evidence size cap of {max_bytes:,} bytes."
            else:
                path = f"evidence/{item['evidence_id']}-r{item['revision']}/{Path(file['name']).name}"
                while path in used:
                    path = f"{path.rsplit('.', 1)[0]}-{file['sha256'][:8]}.{path.rsplit('.', 1)[-1]}"
                used.add(path)
                file["included_as"], file["not_included"] = path, None
                plan.included.append((file["storage_name"], path, file["sha256"], file["size"]))
                plan.total += file["size"]
    return plan


def evidence_manifest_json(index: list[dict], snapshot_sha256: str) -> bytes:
    public = [
        {
            **item,
            "files": [{k: v for k, v in f.items() if k not in ("storage_name", "scan_status")} for f in item["files"]],
        }
        for item in index
    ]
    return _json_bytes({"snapshot_sha256": snapshot_sha256, "evidence": public})


class EvidenceChanged(Exception):
    """A stored evidence file no longer has the SHA-256 the sign-off recorded."""


# --- writing the ZIP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenBundle:
    storage_name: str
    sha256: str
    size: int
    files: list[dict]


def _hash_into(zf: zipfile.ZipFile, arcname: str, source: IO[bytes], *, compress: bool) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    with zf.open(info, "w", force_zip64=True) as entry:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
            entry.write(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _temporary_path(storage: Storage, name: str, job_id: int) -> tuple[Path, Path | None]:
    """Where to write: beside the final file for a filesystem storage (so the move is atomic)."""
    try:
        final = Path(storage.path(name))
    except NotImplementedError:
        return Path(tempfile.gettempdir()) / f".cscr-{job_id}-{uuid.uuid4().hex}.part", None
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    return final.parent / f".cscr-{job_id}-{uuid.uuid4().hex}.part", final


def stale_parts_remove(name: str, job_id: int) -> int:
    """Remove temporary files a crashed attempt of this job left beside its final name."""
    storage = storages[STORAGE_ALIAS]
    try:
        folder = Path(storage.path(name)).parent
    except NotImplementedError:
        return 0
    removed = 0
    for part in folder.glob(f".cscr-{job_id}-*.part") if folder.is_dir() else []:
        part.unlink(missing_ok=True)
        removed += 1
    return removed


def bundle_write(
    *,
    name: str,
    job_id: int,
    members: list[tuple[str, bytes]],
    evidence: EvidencePlan,
    manifest: Callable[[list[dict]], dict],
    credentials: SigningCredentials,
    tsa=None,
) -> WrittenBundle:
    """Write the ZIP: `members` as given, the planned evidence files (checked against their signed
    SHA-256 on the way), then manifest.json built by `manifest(files)` and its signature."""
    storage = storages[STORAGE_ALIAS]
    temporary, final = _temporary_path(storage, name, job_id)
    files: list[dict] = []
    try:
        with temporary.open("wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
            for arcname, data in members:
                digest, size = _hash_into(zf, arcname, io.BytesIO(data), compress=arcname != PDF)
                files.append({"name": arcname, "sha256": digest, "size": size})
            evidence_storage = storages["evidence"]
            for storage_name, arcname, expected, _size in evidence.included:
                with evidence_storage.open(storage_name, "rb") as source:
                    digest, size = _hash_into(zf, arcname, source, compress=False)
                if digest != expected:
                    raise EvidenceChanged(
                        f"The stored file for {arcname} no longer has the SHA-256 the sign-off "
                        "recorded; the bundle was not issued."
                    )
                files.append({"name": arcname, "sha256": digest, "size": size})
            manifest_bytes = _json_bytes(manifest(files))
            _hash_into(zf, MANIFEST, io.BytesIO(manifest_bytes), compress=True)
            signature = detached_sign(manifest_bytes, credentials, tsa=tsa)
            _hash_into(zf, MANIFEST_SIGNATURE, io.BytesIO(signature), compress=False)
        hasher, size = hashlib.sha256(), 0
        with temporary.open("rb") as written:
            while chunk := written.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        if final is not None:
            os.chmod(temporary, 0o640)
            os.replace(temporary, final)
        else:
            # Object storage replaces an object in one request: readers see the old or the new one.
            if storage.exists(name):
                storage.delete(name)
            with temporary.open("rb") as written:
                storage.save(name, File(written))
    finally:
        temporary.unlink(missing_ok=True)
    return WrittenBundle(storage_name=name, sha256=hasher.hexdigest(), size=size, files=files)


def manifest_document(
    *,
    files: list[dict],
    generated_at: datetime,
    job,
    snapshot: dict,
    snapshot_sha256: str,
    credentials: SigningCredentials,
    timestamped: bool,
) -> dict:
    return {
        "format": BUNDLE_FORMAT,
        "generated_at": generated_at.isoformat(),
        "deployment": {**snapshot.get("deployment", {}), "organisation_name": job.deployment.organisation.name},
        "product_version": snapshot.get("product_version"),
        "cscr": {
            "version": job.version,
            "lifecycle_phase": job.lifecycle_phase,
            "job": job.pk,
            "previous_version": job.previous.version if job.previous_id else None,
            "previous_bundle_sha256": job.previous.bundle_sha256 if job.previous_id else None,
        },
        "sign_off": {
            "snapshot_sha256": snapshot_sha256,
            "signed_at": job.sign_off.signed_at.isoformat(),
            "cso_name": job.sign_off.cso_name,
        },
        "signing": {
            "certificate_sha256": credentials.fingerprint,
            "certificate_subject": credentials.subject,
            "certificate_pem": credentials.certificate_pem.decode("ascii"),
            "rfc3161_timestamps": timestamped,
        },
        "files": files,
        "required_files": [PDF, HAZARD_LOG_CSV, HAZARD_LOG_JSON, EVIDENCE_MANIFEST, SIGN_OFF],
    }
