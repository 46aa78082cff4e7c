import pgtrigger
from django.conf import settings
from django.db import models

# The one update an entry may receive: its chain fields, from unset to set, and nothing else. Every
# other update, and every delete, is refused. "Nothing else" compares whole rows (every column,
# including any added later) with the chain fields blanked: a row comparison, several times
# cheaper per chained entry than comparing the rows as jsonb.
CHAIN_ONCE_OR_REFUSE = """
IF TG_OP = 'UPDATE'
   AND OLD.chain_seq IS NULL AND OLD.previous_hash IS NULL AND OLD.entry_hash IS NULL
   AND NEW.chain_seq IS NOT NULL AND NEW.previous_hash IS NOT NULL AND NEW.entry_hash IS NOT NULL
THEN
    unchained := NEW;
    unchained.chain_seq := NULL;
    unchained.previous_hash := NULL;
    unchained.entry_hash := NULL;
    IF unchained IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
END IF;
RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;
"""


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
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    request_id = models.CharField(max_length=36, blank=True)
    # Set once, after the writing transaction commits, by the chainer (services.audit_chain_extend):
    # the entry's position in the chain (1, 2, 3... without gaps) and its hashes. NULL until then.
    # NULL, not "", for "not yet chained": the trigger and the check constraint test for it.
    chain_seq = models.PositiveBigIntegerField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    entry_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-id"]
        indexes = [
            # A plain index: `db_index` would add a second (pattern) index, for LIKE queries nothing
            # makes, that every audited write would pay for.
            models.Index(fields=["action"], name="audit_action_idx"),
            models.Index(fields=["object_type", "object_id"]),
            # The chainer's queue: entries written but not yet chained, in id order.
            models.Index(fields=["id"], condition=models.Q(chain_seq__isnull=True), name="audit_unchained_idx"),
        ]
        constraints = [
            # Partial, so that writing an entry adds nothing to these indexes until it is chained.
            models.UniqueConstraint(
                fields=["chain_seq"], condition=models.Q(chain_seq__isnull=False), name="audit_chain_seq_unique"
            ),
            models.UniqueConstraint(
                fields=["entry_hash"], condition=models.Q(entry_hash__isnull=False), name="audit_entry_hash_unique"
            ),
            models.CheckConstraint(
                name="audit_chain_fields_together",
                condition=(
                    models.Q(chain_seq__isnull=True, previous_hash__isnull=True, entry_hash__isnull=True)
                    | models.Q(chain_seq__gte=1, previous_hash__isnull=False, entry_hash__isnull=False)
                ),
            ),
        ]
        triggers = [
            # TRUNCATE is left to database privileges: test isolation relies on it.
            pgtrigger.Trigger(
                name="audit_append_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                declare=[("unchained", "audit_auditevent")],
                func=CHAIN_ONCE_OR_REFUSE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_email or 'system'} {self.action} ({self.outcome})"

    @property
    def is_chained(self) -> bool:
        return self.chain_seq is not None


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
