"""The hazard log, its exports, a new local hazard, and the risk matrix."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView, View

from nir_portal.audit.services import audit_event_record
from nir_portal.forms import add_service_errors
from nir_portal.permissions import not_visible
from onboarding.models import Deployment
from safety import exports, permissions, selectors
from safety.forms import (
    HazardFilterForm,
    LocalHazardForm,
)
from safety.selectors import hazard_log_page
from safety.services.hazards import hazard_add_local
from safety.views.common import deployment_or_404, log_crumbs


class HazardLogView(TemplateView):
    template_name = "safety/hazard_log.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = hazard_log_page.hazard_log_page_deployment(self.request.user, pk=kwargs["pk"])
        if deployment is None:
            raise not_visible(self.request, Deployment, pk=kwargs["pk"])
        filter_form = HazardFilterForm(self.request.GET)
        filters = filter_form.cleaned_data if filter_form.is_valid() else {}
        context.update(
            deployment=deployment,
            filter_form=filter_form,
            is_filtered=any(filters.values()),
            hazards=list(
                hazard_log_page.hazard_log_summary(
                    user=self.request.user,
                    deployment=deployment,
                    rating=filters.get("rating"),
                    status=filters.get("status"),
                )
            ),
            # One reverse() for the whole table rather than one per row.
            hazard_url_prefix=reverse("safety:hazard-detail", kwargs={"pk": 0}).removesuffix("0/"),
            sign_off=hazard_log_page.hazard_log_page_sign_off(deployment),
            can_edit=permissions.can_edit_hazard_log(self.request.user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context


class HazardLogExportView(View):
    """The whole log as CSV or XLSX. Permission-checked like the page, and every export audited."""

    def get(self, request, pk, fmt):
        deployment = deployment_or_404(request, pk)
        rows = exports.hazard_log_rows(selectors.hazard_log(user=request.user, deployment=deployment))
        audit_event_record(
            action="hazard_log.export",
            actor=request.user,
            organisation=deployment.organisation,
            target=deployment,
            changes={"format": fmt, "hazards": len(rows)},
        )
        if fmt == "xlsx":
            content = exports.hazard_log_xlsx(rows, title=f"Hazard log {deployment.organisation.ods_code}")
            content_type = exports.XLSX_CONTENT_TYPE
        else:
            content, content_type = exports.hazard_log_csv(rows), "text/csv; charset=utf-8"
        filename = f"hazard-log-{deployment.organisation.ods_code}-{deployment.pk}-{timezone.localdate():%Y%m%d}.{fmt}"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class LocalHazardCreateView(FormView):
    template_name = "safety/local_hazard_form.html"
    form_class = LocalHazardForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = deployment_or_404(request, kwargs["pk"])
        permissions.EDIT_HAZARD_LOG.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "deployment": self.deployment,
            "crumbs": log_crumbs(self.deployment),
        }

    def form_valid(self, form):
        try:
            hazard = hazard_add_local(actor=self.request.user, deployment=self.deployment, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"{hazard.reference} has been added. Assess its risk next.")
        return redirect("safety:hazard-edit", pk=hazard.pk)


class RiskMatrixView(TemplateView):
    template_name = "safety/risk_matrix.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        matrix = selectors.risk_matrix_default()
        context.update(
            matrix=matrix,
            rows=selectors.risk_matrix_table(matrix) if matrix else [],
            acceptability=sorted(matrix.acceptability.items(), reverse=True) if matrix else [],
        )
        return context
