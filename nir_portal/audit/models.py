import pgtrigger
from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One append-only, hash-chained record of something a person or the system did."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_email = models.CharField(max_length=254, blank=True)
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        triggers = [
            # TRUNCATE is left to database privileges: test isolation relies on it.
            pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_email or 'system'} {self.action} ({self.outcome})"


class AuditCheckpoint(models.Model):
    """The chain's head (last entry id and hash) at a moment, signed with the portal's key and
    copied to storage outside the database, so a rewrite of the whole chain is still detected."""

    sequence = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=40)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    last_hash = models.CharField(max_length=64)
    payload = models.TextField(help_text="The canonical JSON that is signed.")
    signature = models.TextField(help_text="Base64 signature over the payload.")
    certificate_pem = models.TextField()
    certificate_fingerprint = models.CharField(max_length=64)
    timestamp_token = models.TextField(blank=True, help_text="Base64 RFC 3161 token over the payload, if any.")
    storage_name = models.CharField(max_length=255)

    class Meta:
        ordering = ["-sequence"]
        triggers = [
            pgtrigger.Protect(name="audit_checkpoint_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Audit checkpoint {self.sequence} at entry {self.last_event_id}"
