"""The national dashboard's fragment cache: off at 0 seconds; on a miss, one request computes the
fragment while the others asking for it at that moment wait for its copy; a copy of an earlier
minute is recomputed by one request while the others are served it."""

import threading

import pytest
from django.core.cache import cache
from django.core.cache.utils import make_template_fragment_key
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
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_zero_seconds_computes_every_time_and_stores_nothing():
    counter = Counter()
    assert [TEMPLATE.render(Context({"seconds": 0, "key": "k", "compute": counter})) for _ in range(2)] == ["1", "2"]
    assert cache.get(make_template_fragment_key("frag", ["k"])) is None


def test_concurrent_misses_compute_the_fragment_once():
    counter = Counter(delay=0.3)
    answers = []

    def request():
        answers.append(TEMPLATE.render(Context({"seconds": 60, "key": "k", "compute": counter})))

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
