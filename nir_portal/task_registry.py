"""Celery tasks looked up by name when a service enqueues one.

A task module imports the services it calls; a service that enqueues a task would import that task
module back. Looking the task up by its registered name, at the moment it is sent (inside a
`transaction.on_commit` callback), keeps the arrow one way: tasks -> services, never back.
"""

from celery import current_app
from celery.app.task import Task


def registered_task(name: str) -> Task:
    """The task registered under `name`; a KeyError names a task that no app defines."""
    if name not in current_app.tasks:
        # A worker loads every app's tasks module at start; a web process loads them on first use.
        current_app.loader.import_default_modules()
    return current_app.tasks[name]
