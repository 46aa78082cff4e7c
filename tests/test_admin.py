"""The admin site: the national admin reads the audit trail (and can change nothing in it), looks
at the framework and risk matrix versions, and curates the hazard library without editing JSON,
while a published library version never changes."""

import pytest
from django.core.exceptions import ValidationError
from django.db import ProgrammingError, transaction
from django.urls import reverse

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_chain_extend, audit_event_record
from safety import library_services
from safety.models import HazardLibrary, LibraryHazard
from safety.services.reference import safety_reference_data_load
from tests import factories
from tests.onboarding.evidence_fixtures import default_framework  # noqa: F401  the fixture, by name


@pytest.fixture
def national_admin(world):
    user = world.national_admin
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def admin_client(signed_in, national_admin):
    return signed_in(national_admin)


@pytest.fixture
def published(db) -> HazardLibrary:
    _, library = safety_reference_data_load()
    return library


# --- Who gets in ----------------------------------------------------------------------------------------


def test_staff_without_the_national_admin_role_see_none_of_the_portals_records(world, signed_in):
    reviewer = factories.member(world.national, Role.NATIONAL_REVIEWER)
    reviewer.is_staff = True
    reviewer.save(update_fields=["is_staff"])
    client = signed_in(reviewer)

    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:safety_hazardlibrary_changelist")).status_code == 403
    assert b"auditevent" not in client.get(reverse("admin:index")).content


def test_a_national_admin_without_staff_access_is_sent_to_the_admin_sign_in(world, signed_in):
    response = signed_in(world.national_admin).get(reverse("admin:audit_auditevent_changelist"))

    assert response.status_code == 302 and "/login/" in response.url


# --- The audit viewer -------------------------------------------------------------------------------------


def test_the_audit_trail_is_listed_and_searchable_by_request_id(admin_client, world):
    audit_event_record(action="organisation.create", actor=world.national_admin, organisation=world.trust_a)
    audit_chain_extend()  # entries are chained after their transaction commits
    event = AuditEvent.objects.filter(action="organisation.create").latest("id")

    listing = admin_client.get(reverse("admin:audit_auditevent_changelist"), {"q": "organisation.create"})
    detail = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))

    assert listing.status_code == 200 and b"organisation.create" in listing.content
    assert detail.status_code == 200 and event.entry_hash.encode() in detail.content
    assert b'name="_save"' not in detail.content  # shown, not editable


def test_nothing_in_the_audit_trail_can_be_added_changed_or_deleted_from_the_admin(admin_client, world):
    audit_event_record(action="organisation.create", actor=world.national_admin)
    event = AuditEvent.objects.latest("id")
    before = (AuditEvent.objects.count(), event.entry_hash, event.action)

    add = admin_client.post(reverse("admin:audit_auditevent_add"), {"action": "forged"})
    change = admin_client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"action": "forged"})
    delete = admin_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"})
    bulk = admin_client.post(
        reverse("admin:audit_auditevent_changelist"), {"action": "delete_selected", "_selected_action": [event.pk]}
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk.status_code in (200, 302)
    event.refresh_from_db()
    assert (AuditEvent.objects.count(), event.entry_hash, event.action) == before


# --- What the national team curates -------------------------------------------------------------------------


def test_the_framework_risk_matrix_and_library_versions_are_listed(
    admin_client,
    published,
    default_framework,  # noqa: F811  the fixture imported above
):
    for name in ("onboarding_framework", "safety_riskmatrix", "safety_hazardlibrary", "mail_outgoingmail"):
        response = admin_client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
    listing = admin_client.get(reverse("admin:safety_hazardlibrary_changelist")).content.decode()
    assert f"National hazard library v{published.version}" in listing


def inline_data(library: HazardLibrary, **changed_by_code) -> dict:
    hazards = list(library.hazards.order_by("order", "code"))
    data = {
        "hazards-TOTAL_FORMS": str(len(hazards) + 1),
        "hazards-INITIAL_FORMS": str(len(hazards)),
        "hazards-MIN_NUM_FORMS": "0",
        "hazards-MAX_NUM_FORMS": "1000",
    }
    fields = ("code", "name", "description", "clinical_impact", "causes", "example_controls", "order")
    for index, hazard in enumerate(hazards):
        data[f"hazards-{index}-id"] = str(hazard.pk)
        data[f"hazards-{index}-library"] = str(library.pk)
        for field in fields:
            data[f"hazards-{index}-{field}"] = str(getattr(hazard, field))
        for field, value in changed_by_code.get(hazard.code, {}).items():
            data[f"hazards-{index}-{field}"] = value
    new = len(hazards)
    data.update(
        {
            f"hazards-{new}-library": str(library.pk),
            f"hazards-{new}-code": "NIR-H99",
            f"hazards-{new}-name": "Prior studies shown for the wrong patient after a merge",
            f"hazards-{new}-description": "A patient merge in the PAS is not propagated to the registry.",
            f"hazards-{new}-clinical_impact": "Decisions taken on another patient's imaging.",
            f"hazards-{new}-causes": "Merge messages not processed.",
            f"hazards-{new}-example_controls": "Reconcile merges daily.",
            f"hazards-{new}-order": "99",
        }
    )
    return data


def test_the_national_admin_curates_a_new_library_version_without_editing_json(admin_client, published, world):
    changelist = reverse("admin:safety_hazardlibrary_changelist")
    admin_client.post(changelist, {"action": "start_draft", "_selected_action": [published.pk]})
    draft = HazardLibrary.objects.get(status=HazardLibrary.Status.DRAFT)
    assert draft.version == published.version + 1
    assert draft.hazards.count() == published.hazards.count()
    first = draft.hazards.order_by("order", "code").first()

    response = admin_client.post(
        reverse("admin:safety_hazardlibrary_change", args=[draft.pk]),
        inline_data(draft, **{first.code: {"name": "Incomplete imaging history shown as complete"}}),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    admin_client.post(changelist, {"action": "publish", "_selected_action": [draft.pk]})

    draft.refresh_from_db()
    assert draft.status == HazardLibrary.Status.PUBLISHED and draft.published_at is not None
    assert draft.hazards.get(code=first.code).name == "Incomplete imaging history shown as complete"
    assert draft.hazards.filter(code="NIR-H99").exists()
    # The version it was drafted from is untouched.
    assert published.hazards.get(code=first.code).name != "Incomplete imaging history shown as complete"
    assert not published.hazards.filter(code="NIR-H99").exists()
    actions = list(AuditEvent.objects.filter(action__startswith="hazard_library.").values_list("action", flat=True))
    assert sorted(actions) == ["hazard_library.draft", "hazard_library.edit", "hazard_library.publish"]


def test_a_published_library_version_cannot_be_changed_from_the_admin(admin_client, published):
    first = published.hazards.order_by("order", "code").first()

    response = admin_client.post(
        reverse("admin:safety_hazardlibrary_change", args=[published.pk]),
        inline_data(published, **{first.code: {"name": "Changed after publication"}}),
    )

    assert response.status_code == 403
    first.refresh_from_db()
    assert first.name != "Changed after publication"
    assert not published.hazards.filter(code="NIR-H99").exists()


def test_the_services_refuse_to_change_a_published_version_or_a_non_admin(published, world):
    hazard = published.hazards.first()
    hazard.name = "Changed after publication"

    with pytest.raises(ValidationError) as refused:
        library_services.library_hazards_save(actor=world.national_admin, library=published, saved=[hazard], deleted=[])
    assert refused.value.code == "library_published"
    with pytest.raises(ValidationError):
        library_services.hazard_library_publish(actor=world.national_admin, library=published)
    reviewer = factories.member(world.national, Role.NATIONAL_REVIEWER)
    with pytest.raises(library_services.PermissionDenied):
        library_services.hazard_library_draft_create(actor=reviewer, source=published)
    assert LibraryHazard.objects.get(pk=hazard.pk).name != "Changed after publication"


@pytest.mark.parametrize(
    "write",
    [
        lambda library: HazardLibrary.objects.filter(pk=library.pk).update(status="draft"),
        lambda library: HazardLibrary.objects.filter(pk=library.pk).delete(),
        lambda library: library.hazards.filter(pk=library.hazards.first().pk).update(name="Changed after publication"),
        lambda library: library.hazards.first().delete(),
        lambda library: LibraryHazard.objects.create(
            library=library,
            code="NIR-H99",
            name="Added",
            description="-",
            clinical_impact="-",
            causes="-",
            example_controls="-",
        ),
    ],
    ids=["reopen", "delete-version", "change-hazard", "remove-hazard", "add-hazard"],
)
def test_the_database_refuses_any_write_to_a_published_version_whoever_makes_it(published, write):
    names = list(published.hazards.values_list("code", "name"))

    with pytest.raises(ProgrammingError, match=r"published|Cannot update or delete"), transaction.atomic():
        write(published)

    published.refresh_from_db()
    assert published.status == HazardLibrary.Status.PUBLISHED
    assert list(published.hazards.values_list("code", "name")) == names


def test_a_draft_is_edited_freely_until_it_is_published(published, world):
    draft = library_services.hazard_library_draft_create(actor=world.national_admin, source=published)
    assert LibraryHazard.objects.filter(library=draft).update(name="Renamed in the draft") == draft.hazards.count()
    library_services.hazard_library_publish(actor=world.national_admin, library=draft)

    with pytest.raises(ProgrammingError, match="published"), transaction.atomic():
        LibraryHazard.objects.filter(library=draft).update(name="Renamed after publication")
    assert set(draft.hazards.values_list("name", flat=True)) == {"Renamed in the draft"}


def test_only_one_draft_at_a_time_and_an_empty_draft_is_not_published(published, world):
    draft = library_services.hazard_library_draft_create(actor=world.national_admin, source=published)
    with pytest.raises(ValidationError) as second:
        library_services.hazard_library_draft_create(actor=world.national_admin, source=published)
    assert second.value.code == "draft_exists"

    library_services.library_hazards_save(
        actor=world.national_admin, library=draft, saved=[], deleted=list(draft.hazards.all())
    )
    with pytest.raises(ValidationError) as empty:
        library_services.hazard_library_publish(actor=world.national_admin, library=draft)
    assert empty.value.code == "library_empty"
