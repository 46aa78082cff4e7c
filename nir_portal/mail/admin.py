from django.contrib import admin

from nir_portal.admin import ReadOnlyAdmin, run_service
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.services import mail_resend


@admin.register(OutgoingMail)
class OutgoingMailAdmin(ReadOnlyAdmin):
    """Every message the portal has owed someone, and whether it went; a failed one is re-sent here."""

    list_display = ("created_at", "to", "subject", "template", "status", "attempts", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("to", "subject", "request_id", "object_id")
    date_hierarchy = "created_at"
    actions = ["resend"]
    fields = (
        "to",
        "subject",
        "template",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
        "organisation",
        "object_type",
        "object_id",
        "resent_from",
        "request_id",
        "created_at",
        "context",
    )
    readonly_fields = fields

    @admin.action(description="Re-send the selected messages")
    def resend(self, request, queryset):
        for mail in queryset:
            run_service(
                self, request, lambda mail=mail: mail_resend(actor=request.user, mail=mail), f"Re-sent to {mail.to}."
            )
