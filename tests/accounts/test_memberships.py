"""Managing organisations and their members: who may, what is refused, and what is audited."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from nir_portal.accounts import permissions, services
from nir_portal.accounts.models import Membership, Organisation, Role
from nir_portal.audit.models import AuditEvent

User = get_user_model()


def client_for(user) -> Client:
    """A separate browser for a second person in the same test (the `signed_in` fixture has one)."""
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def audited(action: str, **filters) -> AuditEvent:
    return AuditEvent.objects.get(action=action, **filters)


# --- Organisations -----------------------------------------------------------------------------


def test_the_national_admin_creates_an_organisation_and_it_is_audited(world, signed_in):
    client = signed_in(world.national_admin)

    response = client.post(
        reverse("accounts:organisation-create"),
        {"ods_code": "rxq", "name": "Trust C", "kind": Organisation.Kind.TRUST, "region": "london"},
    )

    organisation = Organisation.objects.get(ods_code="RXQ")
    assert response.status_code == 302
    assert response.url == reverse("accounts:organisation-detail", args=[organisation.pk])
    assert organisation.name == "Trust C"
    event = audited("organisation.create")
    assert event.actor == world.national_admin
    assert event.object_id == str(organisation.pk)
    assert event.changes["ods_code"] == "RXQ"


def test_an_invalid_ods_code_is_refused_with_a_specific_error(world, signed_in):
    client = signed_in(world.national_admin)

    response = client.post(
        reverse("accounts:organisation-create"),
        {"ods_code": "R-1", "name": "Bad code trust", "kind": Organisation.Kind.TRUST, "region": "london"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["ods_code"] == [
        "Enter an ODS code of 3 to 6 capital letters and digits, like RRK or 8JK12."
    ]
    assert not Organisation.objects.filter(name="Bad code trust").exists()
    assert not AuditEvent.objects.filter(action="organisation.create").exists()


def test_the_service_reports_an_invalid_ods_code_with_a_stable_code(world):
    with pytest.raises(ValidationError) as error:
        services.organisation_create(actor=world.national_admin, ods_code="AB", name="Too short", kind="trust")

    assert [e.code for e in error.value.error_dict["ods_code"]] == ["invalid_ods_code"]


def test_only_the_national_admin_may_create_organisations(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    client = signed_in(lead)

    page = client.get(reverse("accounts:organisation-create"))
    response = client.post(
        reverse("accounts:organisation-create"),
        {"ods_code": "RXQ", "name": "Trust C", "kind": Organisation.Kind.TRUST, "region": "london"},
    )

    assert page.status_code == 404
    assert response.status_code == 404
    assert not Organisation.objects.filter(ods_code="RXQ").exists()
    with pytest.raises(PermissionDenied):
        services.organisation_create(actor=lead, ods_code="RXQ", name="Trust C", kind="trust")


# --- Inviting ----------------------------------------------------------------------------------


def test_a_lead_invites_a_new_person_who_gets_a_set_password_link_and_no_password(
    world, signed_in, django_capture_on_commit_callbacks
):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    client = signed_in(lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:member-invite", args=[world.trust_a.pk]),
            {"email": "New.Person@Test.NHS.uk", "full_name": "New Person", "role": Role.EVIDENCE_CONTRIBUTOR},
        )

    assert response.status_code == 302
    invited = User.objects.get(email="new.person@test.nhs.uk")
    assert not invited.has_usable_password()
    membership = Membership.objects.get(user=invited, organisation=world.trust_a)
    assert membership.role == Role.EVIDENCE_CONTRIBUTOR
    assert membership.invited_by == lead
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@test.nhs.uk"]
    assert "/accounts/password/reset/key/" in message.body
    event = audited("membership.invite")
    assert event.actor == lead
    assert event.organisation == world.trust_a
    assert event.changes == {"email": "new.person@test.nhs.uk", "role": "evidence_contributor", "new_account": True}


def test_the_invitation_link_lets_the_new_person_set_a_password(world, client, django_capture_on_commit_callbacks):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    with django_capture_on_commit_callbacks(execute=True):
        membership = services.user_invite(
            actor=lead, organisation=world.trust_a, email="invitee@test.nhs.uk", full_name="In Vitee", role=Role.VIEWER
        )
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/password/reset/key/" in line)
    path = link[link.index("/accounts/") :].strip()

    page = client.get(path, follow=True)
    set_password_url = page.redirect_chain[-1][0]
    response = client.post(
        set_password_url, {"password1": "A-Brand-New-Secret-77", "password2": "A-Brand-New-Secret-77"}
    )

    assert response.status_code == 302
    membership.user.refresh_from_db()
    assert membership.user.check_password("A-Brand-New-Secret-77")


def test_inviting_an_existing_person_adds_a_role_without_touching_their_password(
    world, django_capture_on_commit_callbacks
):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    existing = world.member(world.trust_b, Role.VIEWER)

    with django_capture_on_commit_callbacks(execute=True):
        services.user_invite(
            actor=lead, organisation=world.trust_a, email=existing.email, full_name="Ignored", role=Role.CSO
        )

    existing.refresh_from_db()
    assert existing.has_usable_password()
    assert Membership.objects.filter(user=existing, organisation=world.trust_a, role=Role.CSO).exists()
    assert "/accounts/password/reset/key/" not in mail.outbox[0].body
    assert audited("membership.invite").changes["new_account"] is False


def test_a_role_that_does_not_fit_the_organisation_kind_is_refused_with_a_clear_message(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)

    with pytest.raises(ValidationError) as error:
        services.user_invite(
            actor=lead, organisation=world.trust_a, email="x@test.nhs.uk", full_name="X", role=Role.SUPPLIER_CSO
        )

    [problem] = error.value.error_dict["role"]
    assert problem.code == "role_not_for_kind"
    assert problem.messages == ["Supplier Clinical Safety Officer is not a role in Trust A (NHS trust)."]
    assert not User.objects.filter(email="x@test.nhs.uk").exists()
    assert not AuditEvent.objects.filter(action="membership.invite").exists()


def test_inviting_someone_into_a_role_they_already_hold_is_refused(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    viewer = world.member(world.trust_a, Role.VIEWER)

    with pytest.raises(ValidationError) as error:
        services.user_invite(
            actor=lead, organisation=world.trust_a, email=viewer.email, full_name="X", role=Role.VIEWER
        )
    response = signed_in(lead).post(
        reverse("accounts:member-invite", args=[world.trust_a.pk]),
        {"email": viewer.email, "full_name": "X", "role": Role.VIEWER},
    )

    assert [e.code for e in error.value.error_dict["email"]] == ["already_member"]
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [f"{viewer.email} already has the role Viewer in Trust A."]
    assert Membership.objects.filter(user=viewer, organisation=world.trust_a).count() == 1
    assert not AuditEvent.objects.filter(action="membership.invite").exists()


def test_the_invite_form_offers_only_roles_of_the_organisation_kind(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    client = signed_in(lead)

    response = client.post(
        reverse("accounts:member-invite", args=[world.trust_a.pk]),
        {"email": "x@test.nhs.uk", "full_name": "X", "role": Role.NATIONAL_ADMIN},
    )

    assert response.status_code == 200
    assert "role" in response.context["form"].errors
    offered = {value for value, _label in response.context["form"].fields["role"].choices}
    assert Role.NATIONAL_ADMIN not in offered
    assert Role.CSO in offered
    assert not User.objects.filter(email="x@test.nhs.uk").exists()


def test_a_viewer_cannot_invite_and_is_told_who_can(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Lee Lead")
    viewer = world.member(world.trust_a, Role.VIEWER)
    client = signed_in(viewer)
    url = reverse("accounts:member-invite", args=[world.trust_a.pk])

    page = client.get(url)
    response = client.post(url, {"email": "x@test.nhs.uk", "full_name": "X", "role": Role.VIEWER})

    assert page.status_code == 403
    assert response.status_code == 403
    assert "Only the Deployment lead can invite people" in page.content.decode()
    assert lead.email in page.content.decode()
    assert not User.objects.filter(email="x@test.nhs.uk").exists()
    with pytest.raises(PermissionDenied):
        services.user_invite(
            actor=viewer, organisation=world.trust_a, email="x@test.nhs.uk", full_name="X", role=Role.VIEWER
        )


# --- Changing roles and removing members -------------------------------------------------------


def test_a_lead_changes_a_members_role_and_it_is_audited(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    viewer = world.member(world.trust_a, Role.VIEWER)
    membership = Membership.objects.get(user=viewer, organisation=world.trust_a)

    response = signed_in(lead, recent_mfa=True).post(
        reverse("accounts:membership-role", args=[membership.pk]), {"role": Role.CSO}
    )

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.CSO
    viewer = User.objects.get(pk=viewer.pk)  # a fresh request's view of the person
    assert permissions.roles_in(viewer, world.trust_a) == {Role.CSO}
    event = audited("membership.change_role")
    assert event.actor == lead
    assert event.changes == {"user": viewer.email, "role": ["viewer", "cso"]}


def test_a_lead_removes_a_member_whose_access_ends_at_once(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    membership = Membership.objects.get(user=contributor, organisation=world.trust_a)
    contributor_browser = client_for(contributor)
    deployment_url = reverse("onboarding:deployment-detail", args=[world.deployment_a.pk])
    assert contributor_browser.get(deployment_url).status_code == 200

    response = signed_in(lead).post(reverse("accounts:membership-remove", args=[membership.pk]))

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert contributor_browser.get(deployment_url).status_code == 404
    event = audited("membership.revoke")
    assert event.actor == lead
    assert event.changes == {"user": contributor.email, "role": "evidence_contributor"}


def test_a_lead_of_one_trust_cannot_manage_another_trusts_members(world, signed_in):
    lead_a = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    member_b = world.member(world.trust_b, Role.VIEWER)
    membership_b = Membership.objects.get(user=member_b, organisation=world.trust_b)
    client = signed_in(lead_a)

    invite = client.post(
        reverse("accounts:member-invite", args=[world.trust_b.pk]),
        {"email": "x@test.nhs.uk", "full_name": "X", "role": Role.VIEWER},
    )
    change = client.post(reverse("accounts:membership-role", args=[membership_b.pk]), {"role": Role.CSO})
    remove = client.post(reverse("accounts:membership-remove", args=[membership_b.pk]))

    assert (invite.status_code, change.status_code, remove.status_code) == (404, 404, 404)
    membership_b.refresh_from_db()
    assert membership_b.role == Role.VIEWER
    assert not User.objects.filter(email="x@test.nhs.uk").exists()
    assert AuditEvent.objects.filter(action="access.denied", actor=lead_a).count() == 3
    with pytest.raises(PermissionDenied):
        services.membership_revoke(actor=lead_a, membership=membership_b)


def test_the_last_lead_cannot_be_removed(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    membership = Membership.objects.get(user=lead, organisation=world.trust_a)

    response = signed_in(world.national_admin).post(
        reverse("accounts:membership-remove", args=[membership.pk]), follow=True
    )

    assert Membership.objects.filter(pk=membership.pk).exists()
    messages = [str(m) for m in response.context["messages"]]
    assert any("only deployment lead" in m for m in messages)
    assert not AuditEvent.objects.filter(action="membership.revoke").exists()
    with pytest.raises(ValidationError) as error:
        services.membership_revoke(actor=lead, membership=membership)
    assert error.value.code == "last_lead"


def test_the_last_lead_cannot_be_moved_to_another_role(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    membership = Membership.objects.get(user=lead, organisation=world.trust_a)

    with pytest.raises(ValidationError) as error:
        services.membership_change_role(
            actor=lead, membership=membership, role=Role.VIEWER, mfa_verified_at=time.time()
        )

    assert error.value.code == "last_lead"
    membership.refresh_from_db()
    assert membership.role == Role.DEPLOYMENT_LEAD


def test_one_of_two_leads_can_be_removed(world):
    first = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    second = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)

    services.membership_revoke(actor=first, membership=Membership.objects.get(user=second))

    assert list(Membership.objects.filter(organisation=world.trust_a).values_list("user", flat=True)) == [first.pk]
    assert audited("membership.revoke").changes["user"] == second.email
