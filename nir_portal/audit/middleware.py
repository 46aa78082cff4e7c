from nir_portal.audit import context


class AuditContextMiddleware:
    """Binds the request's IP, user agent and id for audit events written while it is served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = context.bind(context.from_request(request))
        try:
            return self.get_response(request)
        finally:
            context.reset(token)
