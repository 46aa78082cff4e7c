from nir_portal.audit import context


class AuditContextMiddleware:
    """Binds the request's IP, user agent and id for audit events written while it is served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bound = context.from_request(request)
        token = context.bind(bound)
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        # Quoted in a report, it finds the request's log lines and audit entries.
        response.headers.setdefault("X-Request-ID", bound.request_id)
        return response
