"""Writes for people, organisations and memberships. Each service checks its permission,
validates, writes, and audits in one transaction."""

from datetime import date, timedelta
from importlib import import_module

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from nir_portal.accounts import enrolment, permissions, reauth
from nir_portal.accounts.models import (
    LEAD_ROLES,
    ROLES_BY_KIND,
    CSOProfile,
    EnrolmentLink,
    Membership,
    Organisation,
    Role,
    UserSession,
)
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.mail import messages as mail
from nir_portal.sessions import SessionStore as PortalSessionStore

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


# --- Setting up a first authenticator, and resetting a lost one (docs/security.md) --------------------


def _verified_address(user) -> str | None:
    address = EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "pk").first()
    return address.email if address else None


def _enrolment_link_issue(*, user, reason: str, issued_by=None) -> EnrolmentLink:
    """A new link for `user`; every earlier link of theirs stops working."""
    now = timezone.now()
    EnrolmentLink.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    link = EnrolmentLink.objects.create(
        user=user,
        reason=reason,
        issued_by=issued_by,
        created_at=now,
        expires_at=now + timedelta(seconds=enrolment.LINK_VALID_SECONDS),
    )
    audit_event_record(
        action="enrolment_link.issue",
        actor=issued_by,
        target=link,
        changes={"user": user.email, "reason": reason, "expires_at": link.expires_at},
    )
    return link


@transaction.atomic
def enrolment_link_request(*, user) -> bool:
    """The signed-in person, who has no authenticator yet, asks for a link to their verified address.
    At most one link goes out per LINK_REQUEST_INTERVAL_SECONDS; asking again in that time, or with no
    verified address, sends nothing (and the page says the same either way). Returns whether a link
    was sent."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active or enrolment.has_authenticator(user):
        return False
    since = timezone.now() - timedelta(seconds=enrolment.LINK_REQUEST_INTERVAL_SECONDS)
    address = _verified_address(user)
    withheld = (
        "recently_sent"
        if EnrolmentLink.objects.filter(user=user, created_at__gte=since).exists()
        else "no_verified_address"
        if address is None
        else ""
    )
    if withheld or address is None:
        audit_event_record(
            action="enrolment_link.request",
            actor=user,
            target=user,
            outcome=AuditEvent.Outcome.DENIED,
            changes={"sent": False, "why": withheld},
        )
        return False
    link = _enrolment_link_issue(user=user, reason=EnrolmentLink.Reason.REQUESTED)
    audit_event_record(action="enrolment_link.request", actor=user, target=link, changes={"sent": True})
    mail.enrolment_link(link=link, to=address)
    return True


def enrolment_link_use(*, token: str, signed_in_user) -> EnrolmentLink:
    """Spend a link: it works once. The caller then gives the session an enrolment grant for the
    link's person. Refused with a ValidationError whose code is a key of enrolment.LINK_PROBLEMS;
    a refusal of a real link is audited (and stays on record: it is written after the rollback)."""
    with transaction.atomic():
        link = enrolment.link_find(token, for_update=True)
        problem = enrolment.link_problem(link, signed_in_user=signed_in_user)
        if problem is None:
            link.used_at = timezone.now()
            link.save(update_fields=["used_at"])
            audit_event_record(
                action="enrolment_link.use", actor=link.user, target=link, changes={"user": link.user.email}
            )
            return link
    if link is not None:
        with transaction.atomic():
            audit_event_record(
                action="enrolment_link.use",
                actor=signed_in_user if getattr(signed_in_user, "is_authenticated", False) else None,
                target=link,
                outcome=AuditEvent.Outcome.DENIED,
                changes={"user": link.user.email, "why": problem},
            )
    raise ValidationError(enrolment.LINK_PROBLEMS[problem], code=problem)


@transaction.atomic
def enrolment_link_for_bootstrap(*, user) -> EnrolmentLink:
    """A link for the first national admin, printed by bootstrap_national_admin (there may be no mail
    server yet). Run only from the command line."""
    return _enrolment_link_issue(user=user, reason=EnrolmentLink.Reason.BOOTSTRAP)


def _sessions_end(user) -> int:
    """Sign the person out everywhere: delete every stored session that is theirs."""
    if not issubclass(import_module(settings.SESSION_ENGINE).SessionStore, PortalSessionStore):
        raise ImproperlyConfigured("Ending a person's sessions needs the portal's session store (nir_portal.sessions).")
    ended, _ = UserSession.objects.filter(user=user).delete()
    return ended


def can_reset_authenticator(actor, membership: Membership) -> bool:
    """Who may change the person's roles may reset their authenticator: the organisation's leads,
    for someone who belongs to no organisation they do not manage, and the national admin."""
    person = membership.user
    if not getattr(actor, "is_authenticated", False) or actor.pk == person.pk:
        return False
    if permissions.is_national_admin(actor):
        return True
    organisations = Organisation.objects.filter(memberships__user=person).distinct()
    return all(permissions.can_manage_members(actor, organisation) for organisation in organisations)


@transaction.atomic
def authenticator_reset(*, actor, membership: Membership, mfa_verified_at: float | None) -> EnrolmentLink:
    """For someone who has lost their authenticator app or security key: remove all their
    authenticators (and recovery codes), sign them out everywhere, and send them an enrolment link.
    Until they use it, their password alone opens nothing. Needs a fresh authenticator check."""
    membership = (
        Membership.objects.select_for_update(of=("self",)).select_related("organisation", "user").get(pk=membership.pk)
    )
    permissions.MANAGE_MEMBERS.require(actor, membership.organisation)
    person = User.objects.select_for_update().get(pk=membership.user_id)
    if person.pk == actor.pk:
        raise ValidationError(
            "You cannot reset your own authenticator: ask another lead or the national admin.", code="own"
        )
    if not can_reset_authenticator(actor, membership):
        raise ValidationError(
            f"{person.email} also belongs to an organisation you do not manage: ask the national admin.",
            code="other_organisations",
        )
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="reset someone's authenticator")
    removed = sorted(Authenticator.objects.filter(user=person).values_list("type", flat=True))
    Authenticator.objects.filter(user=person).delete()
    sessions_ended = _sessions_end(person)
    link = _enrolment_link_issue(user=person, reason=EnrolmentLink.Reason.RESET, issued_by=actor)
    address = _verified_address(person)
    audit_event_record(
        action="mfa.authenticator_reset",
        actor=actor,
        organisation=membership.organisation,
        target=membership,
        changes={
            "user": person.email,
            "removed": removed,
            "sessions_ended": sessions_ended,
            "link_sent_to": address or "",
        },
    )
    if address:
        mail.enrolment_link(link=link, to=address)
    return link
