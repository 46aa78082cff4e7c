"""`{% dashboard_cache seconds name key %}...{% endcache %}`: Django's fragment cache, except that
- 0 seconds renders the fragment without touching the cache at all (no read, no write of a copy
  that would expire at once), so switching the cache off costs nothing;
- on a miss, one request computes the fragment while the others asking for the same key at that
  moment wait for its copy (up to WAIT_SECONDS, then compute it themselves), so a change, the
  minute turning or a cold start costs one computation, not one per concurrent request."""

import time

from django import template
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.templatetags.cache import CacheNode, do_cache

register = template.Library()

WAIT_SECONDS = 2.0
POLL_SECONDS = 0.02


class OptionalCacheNode(CacheNode):
    def render(self, context):
        expire_time = self.expire_time_var.resolve(context)
        if not expire_time:
            return self.nodelist.render(context)
        cache = caches[self.cache_name.resolve(context) if self.cache_name else "default"]  # as CacheNode
        key = make_template_fragment_key(self.fragment_name, [var.resolve(context) for var in self.vary_on])
        value = cache.get(key)
        if value is not None:
            return value
        lock = f"{key}:computing"
        computing = cache.add(lock, 1, timeout=int(WAIT_SECONDS * 5))
        if not computing:
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                value = cache.get(key)
                if value is not None:
                    return value
        try:
            value = self.nodelist.render(context)
            cache.set(key, value, int(expire_time))
        finally:
            if computing:
                cache.delete(lock)
        return value


@register.tag("dashboard_cache")
def do_dashboard_cache(parser, token):
    node = do_cache(parser, token)
    node.__class__ = OptionalCacheNode
    return node
