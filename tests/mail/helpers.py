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
