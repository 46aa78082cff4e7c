"""Sign-in outcomes are audited from Django's authentication signals."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def audit_sign_in(sender, request, user, **kwargs) -> None:
    audit_event_record(action="auth.sign_in", actor=user, target=user)


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def audit_sign_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_event_record(action="auth.sign_out", actor=user, target=user)


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def audit_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    user = get_user_model().objects.filter(email__iexact=email).first() if email else None
    audit_event_record(
        action="auth.sign_in",
        actor_email=email,
        object_type="accounts.user" if user else "",
        object_id=str(user.pk) if user else "",
        outcome=AuditEvent.Outcome.FAILURE,
        changes={"reason": "invalid credentials"},
    )
