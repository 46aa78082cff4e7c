"""Templates ask the same rules the services enforce, so a form or button is shown only to
people the service would let use it.

    {% load permissions %}
    {% may "safety.sign_off" deployment as can_sign %}     the rule, on this object
    {% holds "onboarding.review_national" "onboarding.review_deploying_cso" as reviews %}
                                                          any of the rules, somewhere
"""

from django import template

from nir_portal.accounts.permissions import RULES

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, code: str, obj) -> bool:
    return RULES[code].allows(context["request"].user, obj)


@register.simple_tag(takes_context=True)
def holds(context, *codes: str) -> bool:
    user = context["request"].user
    return any(RULES[code].held_nationally(user) or RULES[code].organisations_of(user) for code in codes)
