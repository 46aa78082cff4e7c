"""Structured logs that carry the request id the audit trail records.

Every record gets `request_id` from the bound request context (nir_portal.audit.context): set by
the web middleware for a request, and in a worker from the task's `nir_request_id` header, which
is stamped on every task published while a request (or a task that came from one) is being served.
So one request can be followed from the web process into every task it queued, and on.

Production writes one JSON object per line (LOG_FORMAT=json), development readable lines. The
formatter is a few lines of the standard library's logging rather than a dependency: every module
already logs through `logging.getLogger(__name__)`, and nothing else is needed.
"""

import json
import logging
from datetime import UTC, datetime

from celery import current_task
from celery.signals import before_task_publish, task_postrun, task_prerun

from nir_portal.audit import context

REQUEST_ID_HEADER = "nir_request_id"
_STANDARD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Adds request_id, and in a worker the task's name and id, to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id or "-"
        task = current_task._get_current_object() if current_task else None
        task_id = getattr(getattr(task, "request", None), "id", None)
        record.task_id = task_id or "-"
        record.task_name = task.name if task_id else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request and task ids, and any
    `extra=` fields the call passed."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "process": record.process,
        }
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES and k not in entry}
        if extra.get("task_id", "-") == "-":  # outside a task
            extra.pop("task_id", None)
            extra.pop("task_name", None)
        entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


# --- Carrying the request id into tasks ---------------------------------------------------------------


@before_task_publish.connect(dispatch_uid="nir_request_id_publish")
def _stamp_request_id(headers: dict | None = None, **kwargs) -> None:
    request_id = context.current().request_id
    if headers is not None and request_id:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect(dispatch_uid="nir_request_id_prerun")
def _bind_request_id(task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    request_id = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    if request_id and request is not None:
        request._nir_context_token = context.bind(context.RequestContext(request_id=str(request_id)[:36]))


@task_postrun.connect(dispatch_uid="nir_request_id_postrun")
def _unbind_request_id(task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    token = getattr(request, "_nir_context_token", None)
    if token is not None:
        context.reset(token)
        request._nir_context_token = None
