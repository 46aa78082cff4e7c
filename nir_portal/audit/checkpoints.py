"""Checkpoints of the audit chain. A database superuser can disable the append-only trigger and
rewrite every entry with freshly computed hashes, leaving a chain that checks out internally; a
checkpoint signed with the portal's key (and timestamped by a TSA when one is configured) and
copied to storage outside the database is out of that person's reach.
"""

import asyncio
import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from nir_portal import signing
from nir_portal.audit.models import AuditCheckpoint
from nir_portal.audit.services import GENESIS_HASH, audit_chain_extend, audit_event_record, chain_tail

# The task that takes a checkpoint, by name (nir_portal.tasks), for services to enqueue after commit.
AUDIT_CHECKPOINT_TAKE = "nir_portal.tasks.audit_checkpoint_take"
STORAGE_ALIAS = "cscr"  # the bundle storage: a local folder, or the S3 bucket's cscr/ prefix
STORAGE_PREFIX = "audit-checkpoints/"


class CheckpointExists(Exception):
    """Storage already holds an object under the checkpoint's name; it is never overwritten."""


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _run(coroutine_factory):
    """Run a coroutine to completion from sync code, also where an event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine_factory())
    result: dict[str, Any] = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine_factory())
        except BaseException as error:  # noqa: BLE001  re-raised in the caller's thread below
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _private_key(credentials: signing.SigningCredentials):
    return serialization.load_der_private_key(credentials.signer.signing_key.dump(), password=None)


def sign_bytes(data: bytes, credentials: signing.SigningCredentials) -> bytes:
    key = _private_key(credentials)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise signing.SigningNotConfigured("The signing key must be RSA or elliptic-curve.")


def signature_valid(data: bytes, signature: bytes, certificate_pem: str) -> bool:
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def timestamp_covers(token: bytes, data: bytes) -> bool:
    """Whether an RFC 3161 token's message imprint is the SHA-256 of `data`."""
    content = cms.ContentInfo.load(token)
    encapsulated = content["content"]["encap_content_info"]["content"].parsed
    info = encapsulated if isinstance(encapsulated, tsp.TSTInfo) else tsp.TSTInfo.load(encapsulated.native)
    imprint = info["message_imprint"]
    return (
        imprint["hash_algorithm"]["algorithm"].native == "sha256"
        and imprint["hashed_message"].native == hashlib.sha256(data).digest()
    )


@dataclass(frozen=True)
class Head:
    last_event_id: int | None
    last_hash: str


def chain_head() -> Head:
    """The last chained entry. Positions are given under the chain lock, in one transaction per
    batch, so the chained entries always form an unbroken prefix of the chain."""
    last = chain_tail()
    return Head(last.pk, last.entry_hash) if last else Head(None, GENESIS_HASH)


def storage_document(checkpoint: AuditCheckpoint) -> bytes:
    return (
        json.dumps(
            {
                "payload": json.loads(checkpoint.payload),
                "signature": checkpoint.signature,
                "certificate_pem": checkpoint.certificate_pem,
                "timestamp_token": checkpoint.timestamp_token,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    ).encode()


def stored_checkpoint_names() -> list[tuple[int, str]]:
    """(sequence, name) of every checkpoint object in storage, in order."""
    storage = storages[STORAGE_ALIAS]
    try:
        _, names = storage.listdir(STORAGE_PREFIX.rstrip("/"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        stem = name.removeprefix("checkpoint-").removesuffix(".json")
        if name.startswith("checkpoint-") and name.endswith(".json") and stem.isdigit():
            found.append((int(stem), STORAGE_PREFIX + name))
    return sorted(found)


def _storage_name(sequence: int) -> str:
    return f"{STORAGE_PREFIX}checkpoint-{sequence:08d}.json"


def _write_once(name: str, data: bytes) -> str:
    storage = storages[STORAGE_ALIAS]
    if storage.exists(name):
        raise CheckpointExists(f"{name} already exists in checkpoint storage; it is never overwritten.")
    saved = storage.save(name, ContentFile(data))
    if saved != name:  # the storage chose another name rather than overwrite: a race, refuse it
        raise CheckpointExists(f"{name} was created by another writer at the same moment.")
    return saved


def audit_checkpoint_create(*, reason: str, context: dict[str, Any] | None = None) -> AuditCheckpoint:
    """Chain what is pending, sign the chain head, copy the checkpoint to storage, then record it
    (and an audit entry)."""
    audit_chain_extend()
    head = chain_head()
    credentials = signing.signing_credentials()
    with transaction.atomic():
        # Row lock on the newest checkpoint: two checkpoints at once must not take one sequence number.
        AuditCheckpoint.objects.select_for_update().order_by("-sequence").first()
        # A copy left in storage by an attempt that failed before its row was saved keeps its number.
        stored = max((number for number, _ in stored_checkpoint_names()), default=0)
        sequence = max(AuditCheckpoint.objects.aggregate(m=Max("sequence"))["m"] or 0, stored) + 1
        created_at = timezone.now()
        payload = _canonical(
            {
                "type": "nir-portal-audit-checkpoint",
                "sequence": sequence,
                "created_at": created_at.isoformat(),
                "reason": reason,
                "last_event_id": head.last_event_id,
                "last_hash": head.last_hash,
            }
        )
        signature = sign_bytes(payload, credentials)
        token = b""
        tsa = signing.timestamper()
        if tsa is not None:
            token = _run(lambda: tsa.async_timestamp(hashlib.sha256(payload).digest(), "sha256")).dump()
        checkpoint = AuditCheckpoint(
            sequence=sequence,
            created_at=created_at,
            reason=reason[:40],
            last_event_id=head.last_event_id,
            last_hash=head.last_hash,
            payload=payload.decode(),
            signature=base64.b64encode(signature).decode(),
            certificate_pem=credentials.certificate_pem.decode(),
            certificate_fingerprint=credentials.fingerprint,
            timestamp_token=base64.b64encode(token).decode(),
            storage_name=_storage_name(sequence),
        )
        _write_once(checkpoint.storage_name, storage_document(checkpoint))
        checkpoint.save(force_insert=True)
        audit_event_record(
            action="audit.checkpoint",
            target=checkpoint,
            changes={
                "sequence": sequence,
                "reason": reason,
                "last_event_id": head.last_event_id,
                "last_hash": head.last_hash,
                "timestamped": bool(token),
                **(context or {}),
            },
        )
    return checkpoint


def parse_payload(payload: str) -> dict[str, Any]:
    data = json.loads(payload)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return data
