"""Audited writes per second with 8 concurrent writers, against the same writes without auditing.

Each writer is a thread with its own PostgreSQL connection. A write is one transaction that
inserts a row (as a service would); an audited write also appends its audit entry, and once it
commits the entry is chained (positions and hashes given under the chain's advisory lock, in a
short transaction of its own). The two kinds alternate over several rounds,
so machine load affects both alike; the figure is the ratio of their median rates.
"""

import statistics
import threading
import time

from django.db import connection, connections, transaction

from benchmarks import Measure
from nir_portal.audit.services import audit_event_record

WRITERS = 8
WRITES_PER_WRITER = 60
ROUNDS = 3
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


def _rate(*, audited: bool) -> float:
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
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return WRITERS * WRITES_PER_WRITER / elapsed


def run() -> list[Measure]:
    _create_table()
    plain, audited = [], []
    _rate(audited=True)  # warm-up: connections, the ORM's caches
    for _ in range(ROUNDS):
        plain.append(_rate(audited=False))
        audited.append(_rate(audited=True))
    plain_rate, audited_rate = statistics.median(plain), statistics.median(audited)
    ratio = audited_rate / plain_rate
    from nir_portal.audit.models import AuditEvent
    from nir_portal.audit.services import audit_chain_verify

    # Every writer has returned, so every entry must already be chained, and the chain whole.
    unchained = AuditEvent.objects.filter(chain_seq__isnull=True).count()
    intact, _ = audit_chain_verify()
    return [
        Measure(f"writes per second, {WRITERS} writers, auditing off", plain_rate, "/s"),
        Measure(f"writes per second, {WRITERS} writers, audited", audited_rate, "/s"),
        Measure("audited / unaudited rate", ratio, "x", f">= {TARGET_RATIO}x", ratio >= TARGET_RATIO),
        Measure("audit chain intact after the concurrent writes", float(intact), "", "1", intact),
        Measure("entries left unchained once the writers returned", float(unchained), "", "0", unchained == 0),
    ]
