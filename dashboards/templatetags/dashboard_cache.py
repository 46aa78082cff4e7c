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
  themselves), so it is computed once, not once per concurrent request;
- each process also keeps the last LOCAL_COPIES copies it served, each for its minute and at most
  the cache's seconds, so a request in the same minute for the same key reads it from memory
  instead of the shared cache (the national dashboard's copy is some 200 KB). It is exactly as
  fresh as the shared copy: the key changes with the data, and a copy of another minute is never
  served from memory. `forget_local_copies()` empties it (for tests that empty the shared cache)."""

import threading
import time
from collections import OrderedDict

from django import template
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.templatetags.cache import CacheNode, do_cache

register = template.Library()

WAIT_SECONDS = 2.0
POLL_SECONDS = 0.02
LOCAL_COPIES = 8

# key -> (minute, fragment, monotonic time it expires), the most recently used last.
_local: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
_local_lock = threading.Lock()


def _local_copy(key: str, minute: str) -> str | None:
    with _local_lock:
        copy = _local.get(key)
        if copy is None or copy[0] != minute or copy[2] <= time.monotonic():
            return None
        _local.move_to_end(key)
        return copy[1]


def _keep_local_copy(key: str, minute: str, value: str, seconds: int) -> None:
    with _local_lock:
        _local[key] = (minute, value, time.monotonic() + seconds)
        _local.move_to_end(key)
        while len(_local) > LOCAL_COPIES:
            _local.popitem(last=False)


def forget_local_copies() -> None:
    with _local_lock:
        _local.clear()


class OptionalCacheNode(CacheNode):
    def render(self, context):
        expire_time = self.expire_time_var.resolve(context)
        if not expire_time:
            return self.nodelist.render(context)
        cache = caches[self.cache_name.resolve(context) if self.cache_name else "default"]  # as CacheNode
        key = make_template_fragment_key(self.fragment_name, [var.resolve(context) for var in self.vary_on])
        minute = str(context.get("cache_minute", ""))
        if (value := _local_copy(key, minute)) is not None:
            return value
        entry = cache.get(key)
        if entry is not None and entry[0] == minute:
            _keep_local_copy(key, minute, entry[1], int(expire_time))
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
            _keep_local_copy(key, minute, value, int(expire_time))
        finally:
            if computing:
                cache.delete(lock)
        return value


@register.tag("dashboard_cache")
def do_dashboard_cache(parser, token):
    node = do_cache(parser, token)
    node.__class__ = OptionalCacheNode
    return node
