from django.contrib import admin

from nir_portal.admin import ReadOnlyAdmin
from nir_portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, to read: nothing here adds, changes or deletes an entry (the database
    refuses updates and deletes in any case, but for the one update that chains an entry)."""

    list_display = ("occurred_at", "actor_email", "organisation", "action", "object_repr", "outcome", "ip_address")
    list_filter = ("outcome", "action", "organisation")
    search_fields = ("actor_email", "action", "object_type", "object_id", "object_repr", "request_id", "ip_address")
    date_hierarchy = "occurred_at"
    list_select_related = ("organisation",)
    show_full_result_count = False  # counting millions of rows on every page is slow
    fields = (
        "occurred_at",
        "actor",
        "actor_email",
        "organisation",
        "action",
        "outcome",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "ip_address",
        "user_agent",
        "request_id",
        "chain_seq",  # empty for the moment between an entry's commit and its chaining
        "previous_hash",
        "entry_hash",
    )
    readonly_fields = fields
