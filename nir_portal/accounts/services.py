"""Writes for people, organisations and memberships. Each service checks its permission,
validates, writes, and audits in one transaction."""

from datetime import date

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from nir_portal.accounts import permissions, reauth
from nir_portal.accounts.models import LEAD_ROLES, ROLES_BY_KIND, CSOProfile, Membership, Organisation, Role
from nir_portal.audit.services import audit_event_record

User = get_user_model()


def _check_role_fits(organisation: Organisation, role: str) -> None:
    if role not in ROLES_BY_KIND[organisation.kind]:
        # The code sits on the field's error: a dict-form ValidationError drops its own code.
        message = f"{Role(role).label} is not a role in {organisation.name} ({organisation.get_kind_display()})."
        raise ValidationError({"role": ValidationError(message, code="role_not_for_kind")})


@transaction.atomic
def organisation_create(*, actor, ods_code: str, name: str, kind: str, region: str = "") -> Organisation:
    if not permissions.can_create_organisation(actor):
        raise PermissionDenied("Only the national admin can create organisations.")
    organisation = Organisation(ods_code=ods_code.strip().upper(), name=name.strip(), kind=kind, region=region)
    organisation.full_clean()
    organisation.save()
    audit_event_record(
        action="organisation.create",
        actor=actor,
        organisation=organisation,
        target=organisation,
        changes={"ods_code": organisation.ods_code, "name": organisation.name, "kind": kind, "region": region},
    )
    return organisation


def _membership_add(*, user, organisation: Organisation, role: str, invited_by=None) -> Membership:
    _check_role_fits(organisation, role)
    membership = Membership(user=user, organisation=organisation, role=role, invited_by=invited_by)
    membership.full_clean()
    membership.save()
    # The inviting organisation vouches for the address; CIS2 matches people by it, and allauth
    # would otherwise treat the account as unclaimed and drop its password at a CIS2 sign-in.
    EmailAddress.objects.get_or_create(
        user=user, email__iexact=user.email, defaults={"email": user.email, "verified": True, "primary": True}
    )
    user.groups.add(permissions.role_group(organisation, role))
    permissions.forget_memberships(user)
    return membership


def _password_set_url(user) -> str:
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
    )
    return settings.SITE_URL.rstrip("/") + path


@transaction.atomic
def user_invite(*, actor, organisation: Organisation, email: str, full_name: str, role: str) -> Membership:
    """Invite a person into an organisation with a role. A new person gets an account without a
    password and an email with a link to set one; at first sign-in they must enrol MFA."""
    if not permissions.can_manage_members(actor, organisation):
        raise PermissionDenied("You cannot manage the members of this organisation.")
    email = User.objects.normalize_email(email.strip()).lower()
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    created = user is None
    if created:
        user = User(email=email, full_name=full_name.strip())
        user.set_unusable_password()
        user.full_clean()
        user.save()
    if Membership.objects.filter(user=user, organisation=organisation, role=role).exists():
        message = f"{email} already has the role {Role(role).label} in {organisation.name}."
        raise ValidationError({"email": ValidationError(message, code="already_member")})
    membership = _membership_add(user=user, organisation=organisation, role=role, invited_by=actor)
    audit_event_record(
        action="membership.invite",
        actor=actor,
        organisation=organisation,
        target=membership,
        changes={"email": email, "role": role, "new_account": created},
    )
    context = {
        "organisation": organisation,
        "role": Role(role).label,
        "invited_by": actor,
        "new_account": created,
        "set_password_url": _password_set_url(user) if created else "",
        "site_url": settings.SITE_URL,
    }
    subject = f"You have been added to {organisation.name} on the NIR onboarding portal"
    body = render_to_string("accounts/email/invitation.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [email]))
    return membership


@transaction.atomic
def membership_grant(*, actor, organisation: Organisation, user, role: str) -> Membership:
    """Grant an existing person a role (used by the national admin and by demo data)."""
    if actor is not None and not permissions.can_manage_members(actor, organisation):
        raise PermissionDenied("You cannot manage the members of this organisation.")
    membership = _membership_add(user=user, organisation=organisation, role=role, invited_by=actor)
    audit_event_record(
        action="membership.grant",
        actor=actor,
        organisation=organisation,
        target=membership,
        changes={"user": user.email, "role": role},
    )
    return membership


def _check_not_last_lead(membership: Membership) -> None:
    if membership.role not in LEAD_ROLES:
        return
    # Lock every lead of the organisation, in id order, so two leads removing each other at
    # the same moment cannot both pass this check.
    leads = list(
        Membership.objects.select_for_update()
        .filter(organisation=membership.organisation, role=membership.role)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    others = [pk for pk in leads if pk != membership.pk]
    if not others:
        raise ValidationError(
            f"{membership.user} is the only {membership.get_role_display().lower()} of "
            f"{membership.organisation.name}; add another before changing this one.",
            code="last_lead",
        )


@transaction.atomic
def membership_change_role(*, actor, membership: Membership, role: str, mfa_verified_at: float | None) -> Membership:
    """Change a member's role. A role decides who may sign off, authorise go-live or accept risk, so
    the change needs a fresh authenticator check: `mfa_verified_at` is when the actor last completed
    one (epoch seconds)."""
    membership = (
        Membership.objects.select_for_update(of=("self",)).select_related("organisation", "user").get(pk=membership.pk)
    )
    if not permissions.can_manage_members(actor, membership.organisation):
        raise PermissionDenied("You cannot manage the members of this organisation.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="change someone's role")
    if role == membership.role:
        return membership
    _check_role_fits(membership.organisation, role)
    _check_not_last_lead(membership)
    if Membership.objects.filter(user=membership.user, organisation=membership.organisation, role=role).exists():
        raise ValidationError(
            {"role": ValidationError("This person already holds that role here.", code="already_member")}
        )
    old_role = membership.role
    membership.user.groups.remove(permissions.role_group(membership.organisation, old_role))
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role", "updated_at"])
    membership.user.groups.add(permissions.role_group(membership.organisation, role))
    permissions.forget_memberships(membership.user)
    audit_event_record(
        action="membership.change_role",
        actor=actor,
        organisation=membership.organisation,
        target=membership,
        changes={"user": membership.user.email, "role": [old_role, role]},
    )
    return membership


@transaction.atomic
def membership_revoke(*, actor, membership: Membership) -> None:
    membership = (
        Membership.objects.select_for_update(of=("self",)).select_related("organisation", "user").get(pk=membership.pk)
    )
    if not permissions.can_manage_members(actor, membership.organisation):
        raise PermissionDenied("You cannot manage the members of this organisation.")
    _check_not_last_lead(membership)
    membership.user.groups.remove(permissions.role_group(membership.organisation, membership.role))
    audit_event_record(
        action="membership.revoke",
        actor=actor,
        organisation=membership.organisation,
        target=membership,
        changes={"user": membership.user.email, "role": membership.role},
    )
    membership.delete()
    permissions.forget_memberships(membership.user)


@transaction.atomic
def cso_profile_save(
    *,
    actor,
    user,
    professional_body: str,
    registration_number: str,
    registration_checked_on: date,
    clinical_risk_training_on: date | None = None,
) -> CSOProfile:
    """Record a CSO's registration. The CSO themself or a lead of an organisation where they are
    CSO may record it."""
    cso_orgs = [m.organisation for m in permissions.memberships_of(user) if m.role in (Role.CSO, Role.SUPPLIER_CSO)]
    allowed = (
        actor.pk == user.pk
        or permissions.is_national_admin(actor)
        or any(permissions.can_manage_members(actor, org) for org in cso_orgs)
    )
    if not allowed:
        raise PermissionDenied("You cannot record this person's registration.")
    profile = CSOProfile.objects.select_for_update().filter(user=user).first() or CSOProfile(user=user)
    before = {
        "professional_body": profile.professional_body,
        "registration_number": profile.registration_number,
        "registration_checked_on": profile.registration_checked_on,
    }
    profile.professional_body = professional_body
    profile.registration_number = registration_number.strip().upper()
    profile.registration_checked_on = registration_checked_on
    profile.clinical_risk_training_on = clinical_risk_training_on
    profile.checked_by = actor
    profile.full_clean()
    profile.save()
    after = {
        "professional_body": profile.professional_body,
        "registration_number": profile.registration_number,
        "registration_checked_on": profile.registration_checked_on,
    }
    audit_event_record(
        action="cso_profile.save",
        actor=actor,
        target=profile,
        changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return profile


def active_organisation_set(*, request, organisation_id: int) -> Organisation:
    """Switch the organisation the user is acting for; only one they belong to."""
    membership = next(
        (m for m in permissions.memberships_of(request.user) if m.organisation_id == organisation_id), None
    )
    if membership is None:
        raise ValidationError("You are not a member of that organisation.", code="not_member")
    request.session["active_organisation_id"] = organisation_id
    return membership.organisation
