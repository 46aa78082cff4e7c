"""Curating the national hazard library. A published version never changes: the national admin
starts a draft from it, edits the draft's hazards, and publishes the draft as the next version,
which new hazard logs then start from. Every step is audited."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from nir_portal.accounts.permissions import is_national_admin
from nir_portal.audit.services import audit_event_record
from safety.models import HazardLibrary, LibraryHazard

HAZARD_FIELDS = ("code", "name", "description", "clinical_impact", "causes", "example_controls", "order")


def _check_admin(actor) -> None:
    if not is_national_admin(actor):
        raise PermissionDenied("Only the national admin curates the hazard library.")


def _lock_draft(library: HazardLibrary) -> HazardLibrary:
    # Row lock: an edit and a publish of the same draft at once must not interleave.
    library = HazardLibrary.objects.select_for_update().get(pk=library.pk)
    if library.status != HazardLibrary.Status.DRAFT:
        raise ValidationError(
            f"Version {library.version} is published and never changes: start a new draft from it.",
            code="library_published",
        )
    return library


@transaction.atomic
def hazard_library_draft_create(*, actor, source: HazardLibrary) -> HazardLibrary:
    """A new draft version holding a copy of the source version's hazards."""
    _check_admin(actor)
    HazardLibrary.objects.select_for_update().filter(pk=source.pk).get()
    if HazardLibrary.objects.filter(status=HazardLibrary.Status.DRAFT).exists():
        raise ValidationError("A draft of the hazard library already exists: edit or publish it.", code="draft_exists")
    version = (HazardLibrary.objects.aggregate(latest=Max("version"))["latest"] or 0) + 1
    draft = HazardLibrary.objects.create(version=version, status=HazardLibrary.Status.DRAFT)
    LibraryHazard.objects.bulk_create(
        [
            LibraryHazard(library=draft, **{field: getattr(hazard, field) for field in HAZARD_FIELDS})
            for hazard in source.hazards.order_by("order", "code")
        ]
    )
    audit_event_record(
        action="hazard_library.draft", actor=actor, target=draft, changes={"from_version": source.version}
    )
    return draft


@transaction.atomic
def library_hazards_save(
    *, actor, library: HazardLibrary, saved: list[LibraryHazard], deleted: list[LibraryHazard]
) -> HazardLibrary:
    """Add, change and remove hazards of a draft version."""
    _check_admin(actor)
    library = _lock_draft(library)
    changes: dict[str, list[str]] = {"saved": [], "removed": []}
    for hazard in deleted:
        if hazard.library_id != library.pk:
            raise ValidationError("That hazard belongs to another version.", code="other_library")
        changes["removed"].append(hazard.code)
        hazard.delete()
    for hazard in saved:
        if hazard.library_id not in (None, library.pk):
            raise ValidationError("That hazard belongs to another version.", code="other_library")
        hazard.library = library
        hazard.full_clean()
        hazard.save()
        changes["saved"].append(hazard.code)
    if changes["saved"] or changes["removed"]:
        audit_event_record(action="hazard_library.edit", actor=actor, target=library, changes=changes)
    return library


@transaction.atomic
def hazard_library_publish(*, actor, library: HazardLibrary) -> HazardLibrary:
    """Publish a draft: from now on it never changes, and new hazard logs start from it."""
    _check_admin(actor)
    library = _lock_draft(library)
    if not library.hazards.exists():
        raise ValidationError("A library version needs at least one hazard.", code="library_empty")
    library.status = HazardLibrary.Status.PUBLISHED
    library.published_at = timezone.now()
    library.save(update_fields=["status", "published_at"])
    audit_event_record(
        action="hazard_library.publish",
        actor=actor,
        target=library,
        changes={"hazards": list(library.hazards.order_by("order", "code").values_list("code", flat=True))},
    )
    return library
