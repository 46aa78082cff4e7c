"""Writes to the certificate register: adding an entry, renewing it, and the daily expiry alerts.

A file is read and checked before any transaction starts, so a refused file (a private key above
all) leaves nothing behind but the audit row that records the refusal, which names the reason and
never the file's content."""

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from certificates import parsing, permissions, selectors
from certificates.events import CertificateExpired
from certificates.models import ALERT_THRESHOLDS, CertificateAlert, CertificateEntry, CertificateRevision
from nir_portal import events
from nir_portal.accounts.models import Membership, Role
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages
from onboarding.models import Deployment, ProductVersion

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
ALERT_ROLES_DEPLOYING = (Role.DEPLOYMENT_LEAD, Role.CSO)
ALERT_ROLES_SUPPLIER = (Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO)


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def _read(*, actor, upload: Upload, organisation, action: str, target=None) -> parsing.ReadFile:
    """Read the file; a refusal is audited (reason only) and raised."""
    try:
        return parsing.read_certificate_file(upload.data)
    except ValidationError as error:
        audit_event_record(
            action=action,
            actor=actor,
            organisation=organisation,
            target=target,
            object_type="" if target else "certificates.certificateentry",
            outcome=AuditEvent.Outcome.FAILURE,
            changes={"refused": error.code, "file_name": upload.name[:255], "size": len(upload.data)},
        )
        raise refused("file", " ".join(error.messages), error.code) from None


def _clean_hostname(purpose: str, hostname: str) -> str:
    hostname = hostname.strip().lower().rstrip(".")
    if purpose == CertificateEntry.Purpose.GATEWAY_SERVER and not hostname:
        raise refused(
            "endpoint_hostname",
            "Give the host name the gateway answers on, to check it against the certificate.",
            "hostname_required",
        )
    if hostname and not HOSTNAME.match(hostname):
        raise refused("endpoint_hostname", "Enter a host name like nir-gateway.example.nhs.uk.", "invalid_hostname")
    return hostname


def _revision_build(
    *, entry: CertificateEntry, read: parsing.ReadFile, number: int, actor, original_name: str
) -> CertificateRevision:
    scope = {
        "deployment": entry.deployment,
        "product_version": entry.product_version,
        "organisation": entry.organisation,
    }
    registered, trusted = [], []
    for issuer in selectors.registered_issuers(scope, exclude_entry_id=entry.pk):
        certificate = parsing.load_der(bytes(issuer.certificate_der))
        registered.append(certificate)
        # A registered issuer is an anchor only once its own chain has built.
        if parsing.Flag.CHAIN_NOT_BUILT not in {f["code"] for f in issuer.findings}:
            trusted.append(certificate)
    anchors = [*parsing.trust_store(), *trusted]
    if entry.purpose == CertificateEntry.Purpose.ISSUING_CHAIN and read.certificate.issuer == read.certificate.subject:
        # Registering a root as the issuing chain is the decision to trust it.
        anchors.append(read.certificate)
    findings, path = parsing.static_findings(
        read.certificate, hostname=entry.endpoint_hostname, issuers=[*read.issuers, *registered], anchors=anchors
    )
    revision = CertificateRevision(
        entry=entry,
        number=number,
        uploaded_by=actor,
        original_name=original_name[:255],
        file_format=read.file_format,
        file_sha256=read.sha256,
        certificate_der=parsing.to_der(read.certificate),
        issuers_der=[base64.b64encode(parsing.to_der(c)).decode("ascii") for c in read.issuers],
        findings=[{"code": f.code, "detail": f.detail} for f in findings],
        chain_path=path,
        **parsing.describe(read.certificate),
    )
    revision.full_clean(exclude=["entry"])
    revision.save()
    entry.current_revision = revision
    entry.save(update_fields=["current_revision", "updated_at"])
    return revision


def certificate_entry_create(
    *,
    actor,
    deployment: Deployment | None = None,
    product_version: ProductVersion | None = None,
    name: str,
    purpose: str,
    environment: str,
    owner,
    endpoint_hostname: str = "",
    upload: Upload,
) -> CertificateEntry:
    """Register a certificate for a deployment, or (by its supplier) for a product version."""
    if (deployment is None) == (product_version is None):
        raise ValueError("A certificate belongs to a deployment or to a product version, not both.")
    organisation = permissions.holder_organisation(deployment=deployment, product_version=product_version)
    if not permissions.can_keep_certificates(actor, deployment=deployment, product_version=product_version):
        audit_event_record(
            action="certificate.add",
            actor=actor,
            organisation=organisation,
            target=deployment or product_version,
            outcome=AuditEvent.Outcome.DENIED,
        )
        raise PermissionDenied("Only the organisation's leads and CSO keep its certificate register.")
    read = _read(actor=actor, upload=upload, organisation=organisation, action="certificate.add")
    return _entry_record(
        actor=actor,
        deployment=deployment,
        product_version=product_version,
        organisation=organisation,
        name=name,
        purpose=purpose,
        environment=environment,
        owner=owner,
        endpoint_hostname=endpoint_hostname,
        read=read,
        original_name=upload.name,
    )


@transaction.atomic
def _entry_record(*, actor, organisation, read: parsing.ReadFile, original_name: str, **fields) -> CertificateEntry:
    if not Membership.objects.filter(user=fields["owner"], organisation=organisation).exists():
        raise refused("owner", f"The owner must be a member of {organisation.name}.", "owner_not_member")
    if not fields["name"].strip():
        raise refused("name", "Give the certificate a name.", "name_required")
    hostname = _clean_hostname(fields["purpose"], fields.pop("endpoint_hostname"))
    entry = CertificateEntry(organisation=organisation, created_by=actor, endpoint_hostname=hostname, **fields)
    entry.name = entry.name.strip()
    entry.full_clean(exclude=["current_revision"])
    entry.save()
    revision = _revision_build(entry=entry, read=read, number=1, actor=actor, original_name=original_name)
    audit_event_record(
        action="certificate.add",
        actor=actor,
        organisation=organisation,
        target=entry,
        changes=_revision_facts(revision),
    )
    return entry


def _revision_facts(revision: CertificateRevision) -> dict:
    return {
        "revision": revision.number,
        "fingerprint_sha256": revision.fingerprint_sha256,
        "not_after": revision.not_after,
        "findings": sorted(f["code"] for f in revision.findings),
    }


def certificate_entry_renew(*, actor, entry: CertificateEntry, upload: Upload) -> CertificateRevision:
    """A renewal: the new certificate becomes a new revision; earlier ones stay as they were."""
    if not permissions.can_keep_entry(actor, entry):
        audit_event_record(
            action="certificate.renew",
            actor=actor,
            organisation=entry.organisation,
            target=entry,
            outcome=AuditEvent.Outcome.DENIED,
        )
        raise PermissionDenied("Only the organisation's leads and CSO keep its certificate register.")
    read = _read(actor=actor, upload=upload, organisation=entry.organisation, action="certificate.renew", target=entry)
    return _renewal_record(actor=actor, entry=entry, read=read, original_name=upload.name)


@transaction.atomic
def _renewal_record(
    *, actor, entry: CertificateEntry, read: parsing.ReadFile, original_name: str
) -> CertificateRevision:
    # Row lock: two renewals at once would otherwise take the same revision number.
    entry = CertificateEntry.objects.select_for_update(of=("self",)).select_related("current_revision").get(pk=entry.pk)
    current = entry.current_revision
    if current is not None and current.fingerprint_sha256 == parsing.fingerprint(read.certificate):
        raise refused("file", "This is the certificate already registered: upload the renewed one.", "same_certificate")
    number = (current.number if current else 0) + 1
    revision = _revision_build(entry=entry, read=read, number=number, actor=actor, original_name=original_name)
    audit_event_record(
        action="certificate.renew",
        actor=actor,
        organisation=entry.organisation,
        target=entry,
        changes={**_revision_facts(revision), "replaces": current.fingerprint_sha256 if current else None},
    )
    return revision


# --- expiry alerts ------------------------------------------------------------------------------


def due_threshold(revision: CertificateRevision, now: datetime) -> int | None:
    """The most urgent threshold reached: 0 once expired, else the smallest of 90/30/14/7 days
    that the time left is within; None while more than 90 days remain."""
    if revision.not_after <= now:
        return 0
    days_left = (revision.not_after - now).days
    reached = [t for t in ALERT_THRESHOLDS if t and days_left <= t]
    return min(reached) if reached else None


def alert_recipients(entry: CertificateEntry) -> list[str]:
    """The owner, and the leads and CSOs of every organisation relying on the certificate."""
    condition = Q(pk__in=[])
    if entry.deployment_id:
        condition |= Q(organisation=entry.deployment.organisation_id, role__in=ALERT_ROLES_DEPLOYING)
    else:
        deploying = Deployment.objects.filter(product_version=entry.product_version_id).values("organisation")
        condition |= Q(organisation=entry.organisation_id, role__in=ALERT_ROLES_SUPPLIER)
        condition |= Q(organisation__in=deploying, role__in=ALERT_ROLES_DEPLOYING)
    emails = set(Membership.objects.filter(condition, user__is_active=True).values_list("user__email", flat=True))
    return sorted(emails | {entry.owner.email})


def affected_deployment_ids(entry: CertificateEntry) -> list[int]:
    if entry.deployment_id:
        return [entry.deployment_id]
    return list(
        Deployment.objects.filter(product_version=entry.product_version_id)
        .exclude(stage=Deployment.Stage.DECOMMISSIONED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def certificate_alert_send(*, entry_id: int, now: datetime) -> CertificateAlert | None:
    """Alert once for the most urgent threshold the entry's current certificate has reached, if no
    alert at that threshold (or a more urgent one) has gone out for it yet."""
    # Row lock: a second run of the daily check at the same moment waits, then finds the alert.
    entry = (
        CertificateEntry.objects.select_for_update(of=("self",))
        .select_related("current_revision", "owner", "deployment", "product_version__product")
        .get(pk=entry_id)
    )
    revision = entry.current_revision
    threshold = due_threshold(revision, now) if revision else None
    if threshold is None or CertificateAlert.objects.filter(revision=revision, threshold_days__lte=threshold).exists():
        return None
    recipients = alert_recipients(entry)
    alert = CertificateAlert.objects.create(
        revision=revision, threshold_days=threshold, sent_at=now, recipients=recipients
    )
    # Queued in this transaction: the alert row and its messages commit together, and a mail server
    # that is down delays the messages without losing them or sending the alert twice.
    messages.certificate_expiry(entry=entry, revision=revision, threshold_days=threshold, to=recipients)
    audit_event_record(
        action="certificate.alert",
        organisation=entry.organisation,
        target=entry,
        changes={
            "revision": revision.number,
            "threshold_days": threshold,
            "recipients": recipients,
        },
    )
    return alert


def certificate_alerts_send(*, now: datetime | None = None) -> dict:
    """The daily check: one transaction per certificate, so one failure stops no other alert.
    Then every expired live certificate is announced again; listeners act once per revision, so
    an announcement lost to a failure on one day is made good the next."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(ALERT_THRESHOLDS))
    entry_ids = list(
        CertificateEntry.objects.filter(current_revision__not_after__lte=horizon)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = [alert for entry_id in entry_ids if (alert := certificate_alert_send(entry_id=entry_id, now=now))]
    announced = certificates_expired_announce(now=now)
    return {"checked": len(entry_ids), "alerts": len(sent), "expired_live": announced}


def certificates_expired_announce(*, now: datetime) -> int:
    """Tell the layers above (a `CertificateExpired` event each) of every live certificate whose
    current revision has expired, with the deployments relying on it."""
    entries = (
        CertificateEntry.objects.filter(
            environment=CertificateEntry.Environment.LIVE, current_revision__not_after__lte=now
        )
        .select_related("current_revision")
        .order_by("pk")
    )
    count = 0
    for entry in entries:
        deployment_ids = affected_deployment_ids(entry)
        if not deployment_ids:
            continue
        revision = entry.current_revision
        expired_on = f"{timezone.localtime(revision.not_after):%d %B %Y %H:%M}"
        reason = (
            f"The live certificate {entry.name} ({entry.get_purpose_display().lower()}, SHA-256 "
            f"{revision.fingerprint_sha256[:16]}...) expired on {expired_on} and has not been renewed."
        )
        events.publish(
            CertificateExpired(
                entry_id=entry.pk, revision_id=revision.pk, deployment_ids=tuple(deployment_ids), reason=reason
            )
        )
        count += 1
    return count
