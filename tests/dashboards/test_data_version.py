"""The dashboards' data fingerprint (`dashboard_data_version`), which keys their cached content:
it changes when any write to what they count commits, including one whose transaction took a
lower id than a later one's but committed after it."""

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from dashboards.selectors import dashboard_data_version
from onboarding.models import WeeklySnapshot


class HeldTransaction:
    """A transaction on a connection of its own (a thread's) that writes a row, then waits to be
    told to commit."""

    def __init__(self, week_start: date):
        self.week_start = week_start
        self.written, self.release, self.done = threading.Event(), threading.Event(), threading.Event()
        self.row_id: int | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.row_id = WeeklySnapshot.objects.create(week_start=self.week_start).pk
                self.written.set()
                self.release.wait(timeout=30)
        finally:
            connection.close()
            self.done.set()

    def __enter__(self) -> "HeldTransaction":
        self.thread.start()
        assert self.written.wait(timeout=30)
        return self

    def commit(self) -> None:
        self.release.set()
        self.thread.join(timeout=30)
        assert self.done.is_set()

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_after_a_later_numbered_one_changes_the_fingerprint():
    # Given one transaction holding an uncommitted row with the lower id...
    with HeldTransaction(date(2026, 11, 2)) as first:
        # ...and another, later, committing a row with a higher id
        later = WeeklySnapshot.objects.create(week_start=date(2026, 11, 9))
        assert later.pk > first.row_id
        before = dashboard_data_version()

        # When the first commits (the newest id stays the later one's)
        first.commit()

    # Then the fingerprint has changed, so no copy cached without the first row is served
    assert WeeklySnapshot.objects.order_by("-pk").values_list("pk", flat=True).first() == later.pk
    assert dashboard_data_version() != before


@pytest.mark.django_db(transaction=True)
def test_the_fingerprint_holds_still_while_nothing_is_written():
    WeeklySnapshot.objects.create(week_start=date(2026, 11, 2))

    assert dashboard_data_version() == dashboard_data_version()
