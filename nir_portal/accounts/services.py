"""Writes for people, organisations and memberships. Each service checks its permission,
validates, writes, and audits in one transaction."""

from datetime import date

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from nir_portal.accounts import permissions, reauth
from nir_portal.accounts.models import LEAD_ROLES, ROLES_BY_KIND, CSOProfile, Membership, Organisation, Role
from nir_portal.audit.services import audit_event_record
from nir_portal.mail import messages as mail

User = get_user_model()


def _check_role_fits(organisation: Organisation, role: str) -> None:
    if role not in ROLES_BY_KIND[Organisation.Kind(organisation.kind)]:
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
    permissions.forget_memberships(user)
    return membership


@transaction.atomic
def user_invite(*, actor, organisation: Organisation, email: str, full_name: str, role: str) -> Membership:
    """Invite a person into an organisation with a role. A new person gets an account without a
    password and an email with a link to set one; at first sign-in they must enrol MFA."""
    permissions.MANAGE_MEMBERS.require(actor, organisation)
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
    mail.invitation(membership=membership, invited_by=actor)
    return membership


@transaction.atomic
def invitation_resend(*, actor, membership: Membership) -> Membership:
    """Send a membership's invitation again: the first may never have arrived. A person who has not
    yet set a password gets a fresh link; the earlier message stays on record as it was."""
    if not permissions.can_manage_members(actor, membership.organisation):
        raise PermissionDenied("You cannot manage the members of this organisation.")
    if not membership.user.is_active:
        raise ValidationError(f"{membership.user.email}'s account is deactivated.", code="inactive_user")
    audit_event_record(
        action="membership.invitation_resend",
        actor=actor,
        organisation=membership.organisation,
        target=membership,
        changes={"email": membership.user.email},
    )
    mail.invitation(membership=membership, invited_by=actor)
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
    permissions.MANAGE_MEMBERS.require(actor, membership.organisation)
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
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role", "updated_at"])
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
    permissions.MANAGE_MEMBERS.require(actor, membership.organisation)
    _check_not_last_lead(membership)
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


BOOTSTRAP_LOCK_KEY = 0x4E4952_424F4F54  # "NIR" "BOOT"


@transaction.atomic
def national_admin_bootstrap(
    *, email: str, full_name: str, password: str, ods_code: str, organisation_name: str
) -> tuple[Membership, bool]:
    """Create the first national admin (and the national team's organisation if it is missing), for
    a new installation with nobody yet to invite anyone. Running it again for the same person changes
    nothing; once a national admin exists, anyone else is invited by them instead. Returns the
    membership and whether anything was created."""
    email = User.objects.normalize_email(email.strip()).lower()
    # Two runs at once must not both create a "first" admin: there is no row to lock yet.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BOOTSTRAP_LOCK_KEY])
    organisation = Organisation.objects.filter(ods_code=ods_code.strip().upper()).first()
    if organisation is not None and organisation.kind != Organisation.Kind.NATIONAL:
        raise ValidationError(
            f"{organisation.name} ({organisation.ods_code}) is not the national team's organisation.",
            code="not_national",
        )
    existing = Membership.objects.filter(role=Role.NATIONAL_ADMIN).select_related("user", "organisation")
    same = existing.filter(user__email__iexact=email).first()
    if same is not None:
        return same, False
    if existing.exists():
        raise ValidationError(
            "A national admin already exists: ask them to invite further people from the portal.",
            code="already_bootstrapped",
        )
    if organisation is None:
        organisation = Organisation(
            ods_code=ods_code.strip().upper(), name=organisation_name.strip(), kind=Organisation.Kind.NATIONAL
        )
        organisation.full_clean()
        organisation.save()
        audit_event_record(
            action="organisation.create",
            organisation=organisation,
            target=organisation,
            changes={"ods_code": organisation.ods_code, "name": organisation.name, "kind": organisation.kind},
        )
    existing_user = User.objects.select_for_update().filter(email__iexact=email).first()
    created_user = existing_user is None
    user = existing_user or User(email=email, full_name=full_name.strip())
    # Staff status opens the admin site; its pages also require the national admin role.
    user.is_staff = True
    if created_user or not user.has_usable_password():
        password_validation.validate_password(password, user)
        user.set_password(password)
    user.full_clean()
    user.save()
    membership = _membership_add(user=user, organisation=organisation, role=Role.NATIONAL_ADMIN)
    audit_event_record(
        action="national_admin.bootstrap",
        organisation=organisation,
        target=membership,
        changes={"email": email, "new_account": created_user},
    )
    return membership, True
