from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from nir_portal.admin import ReadOnlyAdmin, ReadOnlyInline
from onboarding.models import Area, Framework, Requirement


class AreaInline(ReadOnlyInline):
    model = Area
    fields = ("order", "code", "name", "description")
    readonly_fields = fields


class RequirementInline(ReadOnlyInline):
    model = Requirement
    fields = ("code", "title", "area", "stage", "provided_by", "reviewed_by", "mandatory", "expiry_rule")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("area")


@admin.register(Framework)
class FrameworkAdmin(ReadOnlyAdmin):
    """Onboarding framework versions, to read. Drafts are edited and published on the portal's
    framework pages, which keep a published version unchanged."""

    list_display = ("__str__", "status", "requirement_count", "published_at", "portal_page")
    list_filter = ("status",)
    fields = ("version", "name", "status", "published_at", "notes", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [AreaInline, RequirementInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(requirement_total=Count("requirements"))

    @admin.display(description="Requirements", ordering="requirement_total")
    def requirement_count(self, obj) -> int:
        return obj.requirement_total

    @admin.display(description="Curate")
    def portal_page(self, obj) -> str:
        return format_html('<a href="{}">Open in the portal</a>', reverse("onboarding:framework-detail", args=[obj.pk]))
