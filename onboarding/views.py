from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import DetailView, FormView, ListView, TemplateView

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation, Role
from nir_portal.forms import add_service_errors
from nir_portal.permissions import RoleRequired, get_visible_or_404
from onboarding import permissions, selectors, services
from onboarding.forms import DeploymentCreateForm, StageChangeForm
from onboarding.models import ProductVersion


class DeploymentListView(ListView):
    template_name = "onboarding/deployment_list.html"
    context_object_name = "deployments"
    paginate_by = 50

    def get_queryset(self):
        return selectors.deployments_visible_to(self.request.user)


class DeploymentDetailView(DetailView):
    template_name = "onboarding/deployment_detail.html"
    context_object_name = "deployment"

    def get_object(self, queryset=None):
        return get_visible_or_404(
            self.request,
            selectors.deployment_detail(user=self.request.user, pk=self.kwargs["pk"]),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_manage"] = permissions.MANAGE_DEPLOYMENT.allows(self.request.user, self.object)
        return context


def _organisations_opening_deployments(user):
    if account_permissions.is_national_admin(user):
        return Organisation.objects.filter(kind__in=[Organisation.Kind.TRUST, Organisation.Kind.IMAGING_NETWORK])
    return Organisation.objects.filter(
        memberships__user=user, memberships__role=Role.DEPLOYMENT_LEAD, is_active=True
    ).distinct()


class DeploymentCreateView(FormView):
    template_name = "onboarding/deployment_form.html"
    form_class = DeploymentCreateForm

    def dispatch(self, request, *args, **kwargs):
        self.organisations = _organisations_opening_deployments(request.user)
        if not self.organisations.exists():
            if request.active_organisation is None:
                raise Http404
            raise RoleRequired(permissions.OPEN_DEPLOYMENT, request.active_organisation)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "organisations": self.organisations}

    def form_valid(self, form):
        try:
            deployment = services.deployment_create(actor=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Deployment {deployment.name} has been opened.")
        return redirect(deployment)


class DeploymentStageChangeView(FormView):
    template_name = "onboarding/deployment_stage.html"
    form_class = StageChangeForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = get_visible_or_404(request, selectors.deployments_visible_to(request.user), pk=kwargs["pk"])
        permissions.MANAGE_DEPLOYMENT.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "deployment": self.deployment}

    def form_valid(self, form):
        try:
            services.deployment_stage_change(actor=self.request.user, deployment=self.deployment, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "The deployment's stage has been changed.")
        return redirect(self.deployment)


class HomeView(TemplateView):
    """Each person's start page: what their role does here and the deployments they can see."""

    template_name = "portal/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organisation = self.request.active_organisation
        context["deployments"] = selectors.deployments_visible_to(self.request.user)[:50]
        context["is_national"] = account_permissions.is_national(self.request.user)
        context["organisation_kind"] = organisation.kind if organisation else ""
        context["product_versions"] = (
            ProductVersion.objects.filter(product__supplier=organisation).select_related("product")
            if organisation is not None and organisation.is_supplier
            else []
        )
        return context
