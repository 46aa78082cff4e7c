"""`{% dashboard_cache seconds name key %}...{% endcache %}`: Django's fragment cache, except that
0 seconds renders the fragment without touching the cache at all (no read, no write of a copy
that would expire at once), so switching the cache off costs nothing."""

from django import template
from django.templatetags.cache import CacheNode, do_cache

register = template.Library()


class OptionalCacheNode(CacheNode):
    def render(self, context):
        if not self.expire_time_var.resolve(context):
            return self.nodelist.render(context)
        return super().render(context)


@register.tag("dashboard_cache")
def do_dashboard_cache(parser, token):
    node = do_cache(parser, token)
    node.__class__ = OptionalCacheNode
    return node
