from django.db import models
from django.utils import timezone


class OutgoingMail(models.Model):
    """One message the portal owes someone: written in the transaction of the action that caused it,
    sent afterwards by a worker, and kept with its delivery state so a failed send can be re-sent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    template = models.CharField(max_length=80, help_text="Under templates/mail/: NAME.txt and NAME.html.")
    to = models.EmailField(help_text="One recipient: each person's copy is sent, retried and re-sent on its own.")
    subject = models.CharField(max_length=200)
    context = models.JSONField(default=dict, blank=True, help_text="What the templates render, as plain data.")
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    resent_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="resends")
    request_id = models.CharField(max_length=36, blank=True, help_text="The request that caused it, as audited.")
    next_attempt_at = models.DateTimeField(default=timezone.now, help_text="When the next attempt is due.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outgoing mail"
        verbose_name_plural = "outgoing mail"
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["status", "next_attempt_at"], name="mail_status_next_attempt"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(to=""), name="mail_has_recipient"),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False), name="mail_sent_has_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to} ({self.get_status_display().lower()})"
