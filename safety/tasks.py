"""Background jobs for clinical safety. Each loads its row by id and calls a service; each is safe to
run twice."""

import logging

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from safety.cscr_services import CSCR_BUNDLE_BUILD, bundle_build

logger = logging.getLogger(__name__)

_in_pool_child = False


@worker_process_init.connect
def _mark_pool_child(**kwargs) -> None:
    global _in_pool_child
    _in_pool_child = True


def _retire_this_child_after_the_task() -> bool:
    """Have the prefork pool replace this child once it has reported the task's result.

    WeasyPrint's peak memory for a long report stays with the process (the allocator keeps its
    arenas), so a child that rendered one is retired. billiard checks each child's memory after every
    task against worker_max_memory_per_child and retires one above it, cleanly: the result is
    reported first, so nothing is lost or redelivered. Reporting a size over that limit for the next
    check alone uses exactly that path. (billiard offers no public per-task hook for this.)
    """
    limit = settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD
    if not _in_pool_child or not limit:
        return False
    import billiard.pool

    measure = billiard.pool.mem_rss

    def over_the_limit_once() -> int:
        billiard.pool.mem_rss = measure
        return limit + 1

    billiard.pool.mem_rss = over_the_limit_once
    return True


@shared_task(bind=True, name=CSCR_BUNDLE_BUILD, acks_late=True, reject_on_worker_lost=True, max_retries=10)
def cscr_bundle_build(self, job_id: int) -> str:
    """Build one CSCR bundle. A redelivery (the worker died) or a retry finds the job row and carries
    on from it; a job already complete or failed is left as it is."""
    outcome = bundle_build(job_id=job_id)
    if outcome.retry:
        raise self.retry(countdown=min(60, 5 * 2**self.request.retries))
    if outcome.pages >= settings.CSCR_RECYCLE_AFTER_PAGES and _retire_this_child_after_the_task():
        logger.info(
            "CSCR bundle job %s rendered %s pages: this worker process is replaced after it.", job_id, outcome.pages
        )
    return outcome.status
