from django.contrib import admin
from django.db.models import Count

from nir_portal.admin import NationalAdminMixin, ReadOnlyAdmin, may_curate, run_service
from safety import library_services
from safety.models import HazardLibrary, LibraryHazard, RiskMatrix


class LibraryHazardInline(NationalAdminMixin, admin.StackedInline):
    """A version's hazards: editable while it is a draft, never once published."""

    model = LibraryHazard
    extra = 0
    fields = ("code", "name", "description", "clinical_impact", "causes", "example_controls", "order")

    def _draft(self, obj) -> bool:
        return obj is not None and obj.status == HazardLibrary.Status.DRAFT

    def has_add_permission(self, request, obj=None) -> bool:
        return may_curate(request) and self._draft(obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return may_curate(request) and self._draft(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return may_curate(request) and self._draft(obj)


@admin.register(HazardLibrary)
class HazardLibraryAdmin(NationalAdminMixin, admin.ModelAdmin):
    """The national hazard library by version. To change it: select the latest version, start a new
    draft from it, edit the draft's hazards, then publish the draft."""

    list_display = ("__str__", "status", "hazard_count", "published_at", "created_at")
    list_filter = ("status",)
    fields = ("version", "status", "published_at", "created_at")
    readonly_fields = fields
    inlines = [LibraryHazardInline]
    actions = ["start_draft", "publish"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(hazard_total=Count("hazards"))

    @admin.display(description="Hazards", ordering="hazard_total")
    def hazard_count(self, obj) -> int:
        return obj.hazard_total

    def has_change_permission(self, request, obj=None) -> bool:
        # Only a draft's page saves anything (its hazards); a published version is shown read-only.
        return may_curate(request) and (obj is None or obj.status == HazardLibrary.Status.DRAFT)

    def save_model(self, request, obj, form, change) -> None:
        pass  # the version's own fields are read-only; its hazards are saved with the formset

    def save_formset(self, request, form, formset, change) -> None:
        saved = formset.save(commit=False)
        library_services.library_hazards_save(
            actor=request.user, library=form.instance, saved=saved, deleted=formset.deleted_objects
        )

    @admin.action(description="Start a new draft from the selected version")
    def start_draft(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select one version to start the draft from.", level="error")
            return
        source = queryset.get()
        run_service(
            self,
            request,
            lambda: library_services.hazard_library_draft_create(actor=request.user, source=source),
            f"A new draft has been started from version {source.version}.",
        )

    @admin.action(description="Publish the selected draft")
    def publish(self, request, queryset):
        for library in queryset:
            run_service(
                self,
                request,
                lambda library=library: library_services.hazard_library_publish(actor=request.user, library=library),
                f"Version {library.version} is published; new hazard logs start from it.",
            )


@admin.register(RiskMatrix)
class RiskMatrixAdmin(ReadOnlyAdmin):
    """Risk matrix versions, to read: a version never changes once made (the database refuses it)."""

    list_display = ("__str__", "version", "is_default", "created_at")
    fields = ("version", "name", "is_default", "severities", "likelihoods", "ratings", "acceptability", "created_at")
    readonly_fields = fields
