"""The request facts (IP, user agent, request id) that every audit event records."""

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = ""


_current: ContextVar[RequestContext] = ContextVar(
    "audit_request_context",
    default=RequestContext(),  # noqa: B039  a frozen dataclass: immutable
)


def current() -> RequestContext:
    return _current.get()


def from_request(request) -> RequestContext:
    from nir_portal.client_ip import client_ip  # allauth's helpers load auth models: not at settings time

    return RequestContext(
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        request_id=request.headers.get("X-Request-ID", "")[:36] or str(uuid.uuid4()),
    )


def bind(context: RequestContext):
    return _current.set(context)


def reset(token) -> None:
    _current.reset(token)
