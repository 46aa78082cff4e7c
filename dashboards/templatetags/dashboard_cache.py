"""`{% dashboard_cache seconds name key %}...{% endcache %}`: Django's fragment cache, except that
- 0 seconds renders the fragment without touching the cache at all (no read, no write of a copy
  that would expire at once), so switching the cache off costs nothing;
- each copy is stamped with the context's `cache_minute` (what time alone moves: the overdue and
  days-in-stage measures). A copy of an earlier minute is recomputed by one request while the
  others are served that copy, so the minute turning never stalls every request at once; the
  key itself holds the data's fingerprint (`dashboard_data_version`), so once a write has committed
  no copy of the data before it is served;
- with no copy at all (a cold start, or the data changed), one request computes the fragment while
  the others asking for the same key wait for its copy (up to WAIT_SECONDS, then compute it
  themselves), so it is computed once, not once per concurrent request."""

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
        minute = str(context.get("cache_minute", ""))
        entry = cache.get(key)
        if entry is not None and entry[0] == minute:
            return entry[1]
        lock = f"{key}:computing"
        computing = cache.add(lock, 1, timeout=int(WAIT_SECONDS * 5))
        if not computing:
            if entry is not None:
                return entry[1]  # of an earlier minute, while another request recomputes it
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                entry = cache.get(key)
                if entry is not None:
                    return entry[1]
        try:
            value = self.nodelist.render(context)
            cache.set(key, (minute, value), int(expire_time))
        finally:
            if computing:
                cache.delete(lock)
        return value


@register.tag("dashboard_cache")
def do_dashboard_cache(parser, token):
    node = do_cache(parser, token)
    node.__class__ = OptionalCacheNode
    return node
