from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator
from django.views.generic import TemplateView

from nir_portal.accounts import permissions
from onboarding.models import ProductVersion
from onboarding.selectors import deployments_visible_to


class HomeView(TemplateView):
    """Each person's start page: what their role does here and the deployments they can see."""

    template_name = "portal/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organisation = self.request.active_organisation
        context["deployments"] = deployments_visible_to(self.request.user)[:50]
        context["is_national"] = permissions.is_national(self.request.user)
        context["organisation_kind"] = organisation.kind if organisation else ""
        context["product_versions"] = (
            ProductVersion.objects.filter(product__supplier=organisation).select_related("product")
            if organisation is not None and organisation.is_supplier
            else []
        )
        return context


@method_decorator(login_not_required, name="dispatch")
class AccessibilityStatementView(TemplateView):
    template_name = "portal/accessibility_statement.html"
