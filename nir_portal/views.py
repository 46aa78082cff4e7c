from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Model
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import requires_csrf_token
from django.views.generic import TemplateView

from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.permissions import RoleRequired


@method_decorator(login_not_required, name="dispatch")
class AccessibilityStatementView(TemplateView):
    template_name = "portal/accessibility_statement.html"


@requires_csrf_token
def permission_denied(request, exception=None):
    """The 403 page. A refusal that names its rule says which role may act and who holds it in
    the person's organisation; the attempt is audited."""
    context = {}
    if isinstance(exception, RoleRequired):
        context["refusal"] = exception.refusal(request.user)
        target = exception.obj if isinstance(exception.obj, Model) else None
        context["object_url"] = getattr(target, "get_absolute_url", lambda: "")()
        audit_event_record(
            action="access.denied",
            actor=request.user if request.user.is_authenticated else None,
            organisation=getattr(request, "active_organisation", None),
            target=target,
            outcome=AuditEvent.Outcome.DENIED,
            changes={"path": request.path, "method": request.method, "rule": exception.rule.code},
        )
    return render(request, "403.html", context, status=403)


@requires_csrf_token
def server_error(request):
    """The 500 page, rendered without the request's context: whatever failed may be in there."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"service_name": settings.PORTAL_SERVICE_NAME}))
