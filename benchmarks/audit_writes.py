"""Audited writes per second with 8 concurrent writers, against the same writes without auditing.

Each writer is a thread with its own PostgreSQL connection. A write is one transaction that
inserts a row (as a service would); an audited write also appends its audit entry, unchained, and
the chain is extended in batches: by a writer after its commit at most every CHAIN_INTERVAL, and
by the sweep. The chaining is part of the cost measured: a round's clock stops only once every
entry it wrote is chained (the writers return, then whatever they left pending is chained, as the
sweep would), so the audited rate is of writes committed *and chained*. Every round, audited or
not, ends the same way. The two kinds alternate over several rounds, so machine load affects both
alike; the figure is the ratio of their median rates.
"""

import statistics
import threading
import time

from django.db import connection, connections, transaction

from benchmarks import Measure
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_chain_extend, audit_chain_verify, audit_event_record

WRITERS = 8
WRITES_PER_WRITER = 100
ROUNDS = 5
TARGET_RATIO = 0.5


def _create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS benchmark_audited_write "
            "(id bigserial PRIMARY KEY, writer int NOT NULL, n int NOT NULL, payload jsonb NOT NULL)"
        )


def _write(writer: int, n: int, *, audited: bool) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO benchmark_audited_write (writer, n, payload) VALUES (%s, %s, %s) RETURNING id",
                [writer, n, '{"status": "submitted"}'],
            )
            row_id = cursor.fetchone()[0]
        if audited:
            audit_event_record(
                action="benchmark.write",
                object_type="benchmark_audited_write",
                object_id=str(row_id),
                changes={"writer": writer, "n": n, "status": "submitted"},
            )


def _rate(*, audited: bool) -> tuple[float, int]:
    """Writes per second, committed and chained; and how many entries the writers left pending."""
    barrier = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for n in range(WRITES_PER_WRITER):
                _write(number, n, audited=audited)
        except BaseException as error:  # noqa: BLE001  reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    # Inside the measured time: what the writers left unchained is chained before the clock stops.
    left_pending = audit_chain_extend()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return WRITERS * WRITES_PER_WRITER / elapsed, left_pending or 0


def run() -> list[Measure]:
    _create_table()
    plain, audited, left_pending = [], [], []
    _rate(audited=True)  # warm-up: connections, the ORM's caches
    for _ in range(ROUNDS):
        plain.append(_rate(audited=False)[0])
        rate, pending = _rate(audited=True)
        audited.append(rate)
        left_pending.append(pending)
    plain_rate, audited_rate = statistics.median(plain), statistics.median(audited)
    ratio = audited_rate / plain_rate

    # Every round ended with its entries chained: none may be left, and the chain must be whole.
    unchained = AuditEvent.objects.filter(chain_seq__isnull=True).count()
    intact, _ = audit_chain_verify()
    return [
        Measure(f"writes per second, {WRITERS} writers, auditing off", plain_rate, "/s"),
        Measure(f"writes per second, {WRITERS} writers, audited and chained", audited_rate, "/s"),
        Measure("audited and chained / unaudited rate", ratio, "x", f">= {TARGET_RATIO}x", ratio >= TARGET_RATIO),
        Measure(
            f"entries chained after the writers returned (of {WRITERS * WRITES_PER_WRITER})",
            statistics.median(left_pending),
            "",
        ),
        Measure("audit chain intact after the concurrent writes", float(intact), "", "1", intact),
        Measure("entries left unchained at the end of the rounds", float(unchained), "", "0", unchained == 0),
    ]
