"""Safety incidents: the list, reporting one, its page and journal."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView

from nir_portal.forms import add_service_errors
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import get_visible_or_404
from safety import permissions, selectors
from safety.forms import (
    IncidentForm,
    JournalEntryForm,
)
from safety.services.incidents import incident_journal_add, incident_report
from safety.views.common import deployment_or_404


class IncidentListView(TemplateView):
    template_name = "safety/incident_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = deployment_or_404(self.request, kwargs["pk"])
        context.update(
            deployment=deployment,
            incidents=selectors.incidents_for_deployment(user=self.request.user, deployment=deployment),
            can_report=permissions.can_report_incident(self.request.user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context


class IncidentCreateView(FormView):
    template_name = "safety/incident_form.html"
    form_class = IncidentForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = deployment_or_404(request, kwargs["pk"])
        permissions.REPORT_INCIDENT.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        hazards = selectors.hazards_visible_to(self.request.user).filter(deployment=self.deployment).order_by("number")
        return {**super().get_form_kwargs(), "hazards": hazards}

    def get_initial(self):
        return {"reported_on": timezone.localdate(), "system_release": str(self.deployment.product_version)}

    def get_context_data(self, **kwargs):
        deployment = self.deployment
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "crumbs": [
                (deployment.get_absolute_url(), deployment.name),
                (reverse("safety:incident-list", kwargs={"pk": deployment.pk}), "Safety incidents"),
            ],
        }

    def form_valid(self, form):
        data = {**form.cleaned_data, "hazards": list(form.cleaned_data["hazards"])}
        try:
            incident = incident_report(actor=self.request.user, deployment=self.deployment, **data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"Incident {incident.reference} has been recorded.")
        if data["hazards"]:
            tell_next_steps(
                self.request,
                [
                    f"The Clinical Safety Officer at {self.deployment.organisation.name} reviews the hazards it "
                    "relates to; a current sign-off that covers them is flagged for re-review.",
                    "Record what is done, and when the incident is made safe and closed, in its journal here.",
                ],
            )
        return redirect("safety:incident-detail", pk=incident.pk)


class IncidentDetailView(TemplateView):
    template_name = "safety/incident_detail.html"

    def get_incident(self):
        return get_visible_or_404(
            self.request, selectors.incident_detail(user=self.request.user, pk=self.kwargs["pk"]), pk=self.kwargs["pk"]
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incident = kwargs.get("incident") or self.get_incident()
        deployment = incident.deployment
        can_update = permissions.can_report_incident(self.request.user, deployment)
        context.update(
            incident=incident,
            deployment=deployment,
            can_update=can_update,
            can_escalate=permissions.can_escalate_incident(self.request.user, deployment),
            form=kwargs.get("form") or (JournalEntryForm() if can_update else None),
            crumbs=[
                (deployment.get_absolute_url(), deployment.name),
                (reverse("safety:incident-list", kwargs={"pk": deployment.pk}), "Safety incidents"),
            ],
        )
        return context


class IncidentJournalView(IncidentDetailView):
    """Adds a journal entry; an invalid one is shown again on the incident's page with its errors."""

    http_method_names = ["post"]

    def post(self, request, pk):
        incident = self.get_incident()
        permissions.REPORT_INCIDENT.require(request.user, incident.deployment)
        form = JournalEntryForm(request.POST)
        if form.is_valid():
            try:
                incident_journal_add(actor=request.user, incident=incident, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(request, "The journal entry has been added.")
                return redirect("safety:incident-detail", pk=incident.pk)
        return self.render_to_response(self.get_context_data(incident=incident, form=form))
