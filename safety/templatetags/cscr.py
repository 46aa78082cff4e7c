"""Template filters for CSCR bundles, for pages of other views (the sign-off page) that offer them."""

from django import template

from safety.cscr import permissions

register = template.Library()


@register.filter
def cscr_requestable_by(deployment, user) -> bool:
    return permissions.can_request_bundle(user, deployment)


@register.filter
def cscr_visible_to(deployment, user) -> bool:
    return permissions.can_view_bundles(user, deployment)
