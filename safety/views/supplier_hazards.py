"""The supplier's DCB0129 hazards for a product version, and their forms."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from nir_portal.forms import add_service_errors
from nir_portal.permissions import get_visible_or_404
from safety import permissions, selectors
from safety.forms import (
    SupplierHazardForm,
)
from safety.services.supplier_hazards import supplier_hazard_save


class SupplierHazardListView(TemplateView):
    """The supplier's DCB0129 hazards for a version, and what each deployment decided on those it
    transferred."""

    template_name = "safety/supplier_hazards.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        version = get_visible_or_404(
            self.request, selectors.product_versions_visible_to(self.request.user), pk=kwargs["pk"]
        )
        context.update(
            product_version=version,
            acceptance=selectors.supplier_hazard_acceptance(user=self.request.user, product_version=version),
            deployment_count=version.deployments.count(),
            can_edit=permissions.can_edit_supplier_hazards(self.request.user, version),
        )
        return context


class SupplierHazardFormMixin:
    template_name = "safety/supplier_hazard_form.html"
    form_class = SupplierHazardForm
    hazard = None

    def get_context_data(self, **kwargs):
        version = self.product_version
        return {
            **super().get_context_data(**kwargs),
            "product_version": version,
            "hazard": self.hazard,
            "crumbs": [(reverse("safety:supplier-hazard-list", kwargs={"pk": version.pk}), f"Hazards of {version}")],
        }

    def form_valid(self, form):
        try:
            hazard = supplier_hazard_save(
                actor=self.request.user, product_version=self.product_version, hazard=self.hazard, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"{hazard.code} has been saved.")
        return redirect("safety:supplier-hazard-list", pk=self.product_version.pk)


class SupplierHazardCreateView(SupplierHazardFormMixin, FormView):
    def dispatch(self, request, *args, **kwargs):
        self.product_version = get_visible_or_404(
            request, selectors.product_versions_visible_to(request.user), pk=kwargs["pk"]
        )
        permissions.EDIT_SUPPLIER_HAZARDS.require(request.user, self.product_version)
        return super().dispatch(request, *args, **kwargs)


class SupplierHazardEditView(SupplierHazardFormMixin, FormView):
    def dispatch(self, request, *args, **kwargs):
        self.hazard = get_visible_or_404(request, selectors.supplier_hazards_visible_to(request.user), pk=kwargs["pk"])
        self.product_version = self.hazard.product_version
        permissions.EDIT_SUPPLIER_HAZARDS.require(request.user, self.product_version)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        fields = (
            "code",
            "name",
            "description",
            "clinical_impact",
            "causes",
            "supplier_controls",
            "is_transferred",
            "transfer_note",
        )
        return {name: getattr(self.hazard, name) for name in fields}
