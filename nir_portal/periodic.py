"""Periodic tasks: a task that must run on a schedule is declared with `periodic_task`, and Celery
beat's schedule (CELERY_BEAT_SCHEDULE in settings) must name every such task and nothing else.

    @periodic_task(name="safety.tasks.certificate_expiry_check")
    def certificate_expiry_check() -> int: ...

The name is explicit and is the contract with the schedule: moving the function to another module
keeps the name, so the schedule and any queued message still find it. `tests/test_periodic.py`
fails when a declared task is missing from the schedule, or the schedule names a task that is not
declared or not known to the workers.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celery import shared_task

# Task name -> the module that declares it (for messages that say where to look).
_declared: dict[str, str] = {}


def periodic_task(*, name: str, **options: Any) -> Callable:
    """`shared_task` for a task beat sends on a schedule; `name` is required and must stay stable."""

    def decorate(function: Callable) -> Any:
        _declared[name] = function.__module__
        return shared_task(name=name, **options)(function)

    return decorate


def declared_periodic_tasks() -> dict[str, str]:
    """Every periodic task declared by the modules imported so far (import every task module first:
    `nir_portal.celery.app.loader.import_default_modules()`)."""
    return dict(_declared)


def schedule_problems(
    schedule: Mapping[str, Mapping[str, Any]], declared: Mapping[str, str], known_tasks: Iterable[str]
) -> list[str]:
    """What is wrong between beat's schedule, the declared periodic tasks and the tasks a worker knows."""
    scheduled = {entry["task"] for entry in schedule.values()}
    known = set(known_tasks)
    problems = [
        f"{name} (declared periodic in {module}) is not in CELERY_BEAT_SCHEDULE"
        for name, module in sorted(declared.items())
        if name not in scheduled
    ]
    for key, entry in sorted(schedule.items()):
        task = entry["task"]
        if task not in known:
            problems.append(f"schedule entry {key!r} names {task}, which no worker knows")
        elif task not in declared:
            problems.append(f"schedule entry {key!r} names {task}, which is not declared with periodic_task")
    return problems
