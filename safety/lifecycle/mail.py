"""Mail about the safety case's life: who is told, through the portal's outgoing mail (sent by a
worker once the transaction that caused it has committed)."""

from nir_portal.accounts.models import Membership, Role
from nir_portal.mail.services import mail_queue
from onboarding.models import Deployment


def people_of(deployment: Deployment, roles: tuple[str, ...]) -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(organisation_id=deployment.organisation_id, role__in=roles).values_list(
                "user__email", flat=True
            )
        )
    )


def supplier_people(organisation_id: int) -> list[str]:
    roles = (Role.SUPPLIER_CSO, Role.SUPPLIER_ASSURANCE_LEAD)
    return sorted(
        set(
            Membership.objects.filter(organisation_id=organisation_id, role__in=roles).values_list(
                "user__email", flat=True
            )
        )
    )


def notice_queue(*, subject: str, body: str, recipients: list[str]) -> None:
    """Owe each recipient the notice; the portal's outgoing mail sends it after commit."""
    mail_queue(
        template="safety_case_notice", to=recipients, subject=subject, context={"heading": subject, "body": body}
    )
