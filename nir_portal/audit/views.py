"""The national team's screen of the audit trail (read-only) and its FHIR exports. Everyone else
gets 404, as for anything they may not see."""

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.generic import ListView, View

from nir_portal.accounts import permissions as account_permissions
from nir_portal.audit import fhir, selectors
from nir_portal.audit.forms import AuditFilterForm
from nir_portal.audit.services import audit_chain_extend, audit_event_record


class NationalOnlyMixin:
    def dispatch(self, request, *args, **kwargs):
        if not account_permissions.is_national(request.user):
            raise Http404("No such page, or you do not have access to it.")
        self.form = AuditFilterForm(request.GET or None)
        self.events = selectors.audit_events_slice(
            selectors.audit_events_visible_to(request.user), **self.form.slice_arguments()
        )
        return super().dispatch(request, *args, **kwargs)


class AuditEventListView(NationalOnlyMixin, ListView):
    template_name = "audit/list.html"
    context_object_name = "audit_events"
    paginate_by = 50

    def get_queryset(self):
        return self.events.order_by("-id")

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        return {**super().get_context_data(**kwargs), "form": self.form, "query": query.urlencode()}


class AuditExportView(NationalOnlyMixin, View):
    """The filtered slice as a FHIR Bundle (JSON) or NDJSON; every export is itself audited."""

    format = "json"

    def get(self, request):
        events = self.events.order_by("id")
        audit_event_record(
            action="audit.export",
            actor=request.user,
            organisation=request.active_organisation,
            object_type="audit.auditevent",
            object_id="slice",
            changes={"format": self.format, "filters": request.GET.dict(), "entries": events.count()},
        )
        # What has committed but is not yet chained (this export's own entry among them) is chained
        # now, so the slice carries its hashes.
        audit_chain_extend()
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        if self.format == "ndjson":
            response = StreamingHttpResponse(
                fhir.fhir_ndjson(events.iterator(chunk_size=1000)), content_type="application/fhir+ndjson"
            )
        else:
            response = HttpResponse(
                fhir.fhir_bundle(events.iterator(chunk_size=1000)), content_type="application/fhir+json"
            )
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{self.format}"'
        return response
