"""The national dashboard's fragment cache: off at 0 seconds; on a miss, one request computes the
fragment while the others asking for it at that moment wait for its copy; a copy of an earlier
minute is recomputed by one request while the others are served it."""

import threading

import pytest
from django.core.cache import cache
from django.core.cache.utils import make_template_fragment_key
from django.db import connections
from django.template import Context, Template

from dashboards.templatetags import dashboard_cache

TEMPLATE = Template("{% load dashboard_cache %}{% dashboard_cache seconds frag key %}{{ compute }}{% endcache %}")


class Counter:
    """Renders as a number that grows each time the fragment is computed, slowly."""

    def __init__(self, delay: float = 0.0):
        self.calls, self.delay, self.lock = 0, delay, threading.Lock()

    def __str__(self) -> str:
        with self.lock:
            self.calls += 1
            calls = self.calls
        threading.Event().wait(self.delay)
        return str(calls)


@pytest.fixture(autouse=True)
def empty_cache(request, settings):
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        # The database cache (no REDIS_URL): committed as it goes, as concurrent requests see it.
        request.getfixturevalue("transactional_db")
    cache.clear()
    dashboard_cache.forget_local_copies()
    yield
    cache.clear()
    dashboard_cache.forget_local_copies()


def test_zero_seconds_computes_every_time_and_stores_nothing():
    counter = Counter()
    assert [TEMPLATE.render(Context({"seconds": 0, "key": "k", "compute": counter})) for _ in range(2)] == ["1", "2"]
    assert cache.get(make_template_fragment_key("frag", ["k"])) is None


def test_concurrent_misses_compute_the_fragment_once():
    counter = Counter(delay=0.3)
    answers = []

    def request():
        try:
            answers.append(TEMPLATE.render(Context({"seconds": 60, "key": "k", "compute": counter})))
        finally:
            connections.close_all()  # this thread's, if the cache is the database

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.calls == 1 and answers == ["1"] * 6
    assert cache.get(make_template_fragment_key("frag", ["k"]) + ":computing") is None


def test_a_waiter_computes_itself_when_the_copy_does_not_come_and_leaves_the_others_lock(monkeypatch):
    monkeypatch.setattr(dashboard_cache, "WAIT_SECONDS", 0.1)
    lock = make_template_fragment_key("frag", ["k"]) + ":computing"
    cache.add(lock, 1, timeout=30)  # another process computing, never finishing in time

    counter = Counter()
    assert TEMPLATE.render(Context({"seconds": 60, "key": "k", "compute": counter})) == "1"
    assert counter.calls == 1 and cache.get(lock) == 1


def test_a_copy_of_an_earlier_minute_is_served_while_another_request_recomputes_it():
    counter = Counter()

    def render(minute: str) -> str:
        return TEMPLATE.render(Context({"seconds": 60, "key": "k", "compute": counter, "cache_minute": minute}))

    assert [render("1200"), render("1200")] == ["1", "1"]  # computed once in its minute
    lock = make_template_fragment_key("frag", ["k"]) + ":computing"
    cache.add(lock, 1, timeout=30)  # another request is recomputing it for 12:01
    assert render("1201") == "1" and counter.calls == 1
    cache.delete(lock)
    assert [render("1201"), render("1201")] == ["2", "2"]  # the next request recomputes it, once


def render_at(minute: str, counter: Counter, key: str = "k", seconds: int = 60) -> str:
    return TEMPLATE.render(Context({"seconds": seconds, "key": key, "compute": counter, "cache_minute": minute}))


def test_a_copy_served_in_its_minute_is_read_from_memory_and_never_into_another_minute():
    counter = Counter()
    assert render_at("1200", counter) == "1"
    cache.delete(make_template_fragment_key("frag", ["k"]))  # the shared copy gone (evicted)

    assert render_at("1200", counter) == "1" and counter.calls == 1  # this process's copy
    assert render_at("1201", counter) == "2"  # a new minute: never the memory's copy of 12:00
    assert render_at("1201", counter) == "2" and counter.calls == 2


def test_a_copy_in_memory_expires_with_the_cache_seconds(monkeypatch):
    counter = Counter()
    assert render_at("1200", counter, seconds=5) == "1"
    cache.delete(make_template_fragment_key("frag", ["k"]))
    later = dashboard_cache.time.monotonic() + 6
    monkeypatch.setattr(dashboard_cache.time, "monotonic", lambda: later)

    assert render_at("1200", counter, seconds=5) == "2"


def test_another_process_copy_for_the_minute_is_read_from_the_shared_cache_once():
    key = make_template_fragment_key("frag", ["k"])
    cache.set(key, ("1200", "from another process"), 60)
    reads = []
    original_get = cache.get

    def counted_get(*args, **kwargs):
        reads.append(args[0])
        return original_get(*args, **kwargs)

    counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cache, "get", counted_get)
        answers = [render_at("1200", counter) for _ in range(3)]

    assert answers == ["from another process"] * 3 and counter.calls == 0
    assert reads == [key]


def test_memory_keeps_only_the_most_recently_served_copies(monkeypatch):
    monkeypatch.setattr(dashboard_cache, "LOCAL_COPIES", 2)
    counter = Counter()
    for key in ("a", "b", "a", "c"):  # "b" is the least recently served when "c" comes
        render_at("1200", counter, key=key)
    assert counter.calls == 3
    cache.clear()  # only memory can answer now

    assert [render_at("1200", counter, key=key) for key in ("a", "c")] == ["1", "3"]
    assert render_at("1200", counter, key="b") == "4"
