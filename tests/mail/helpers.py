"""What a test needs to see the mail a worker sent."""

import re

from django.core import mail

REMOTE_REFERENCE = re.compile(
    r"""(?:src|background)\s*=\s*["']?\s*(?:https?:)?//|<link\b|url\(\s*["']?(?:https?:)?//""", re.I
)


def sent_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


def only_message_to(address: str):
    (message,) = sent_to(address)
    return message


def html_of(message) -> str:
    (alternative,) = message.alternatives
    assert alternative.mimetype == "text/html"
    return alternative.content


def assert_plain_and_html(message) -> str:
    """Both parts are there, and the HTML loads nothing from anywhere."""
    html = html_of(message)
    assert message.body.strip()
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert not REMOTE_REFERENCE.search(html), "the HTML part refers to a remote asset"
    return html


def deliver_queued() -> int:
    """Run the mail task for every message still waiting, as the workers would after the commit
    (for tests whose other on-commit work needs a broker)."""
    from nir_portal.mail.models import OutgoingMail
    from nir_portal.mail.tasks import mail_send

    waiting = list(OutgoingMail.objects.filter(status=OutgoingMail.Status.PENDING).values_list("pk", flat=True))
    for mail_id in waiting:
        mail_send.apply(args=[mail_id])
    return len(waiting)
