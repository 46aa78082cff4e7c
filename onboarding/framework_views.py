"""The national admin curates the onboarding framework; deployment leads move versions."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import FormView, ListView, TemplateView, View

from nir_portal.forms import add_service_errors
from nir_portal.permissions import get_visible_or_404
from onboarding import permissions, selectors
from onboarding.forms import FrameworkChangeForm, RequirementEditForm
from onboarding.models import Framework, Requirement
from onboarding.services import framework as framework_services


class FrameworkListView(ListView):
    """Every person may read the framework: it says what evidence is expected of them."""

    template_name = "onboarding/framework_list.html"
    context_object_name = "frameworks"

    def get_queryset(self):
        queryset = Framework.objects.all()
        if not permissions.CURATE_FRAMEWORK.allows(self.request.user, None):
            queryset = queryset.exclude(status=Framework.Status.DRAFT)
        return queryset

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "is_admin": permissions.CURATE_FRAMEWORK.allows(self.request.user, None),
        }


def _frameworks_visible_to(user):
    if permissions.CURATE_FRAMEWORK.allows(user, None):
        return Framework.objects.all()
    return Framework.objects.exclude(status=Framework.Status.DRAFT)


class FrameworkDetailView(TemplateView):
    template_name = "onboarding/framework_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        framework = get_visible_or_404(self.request, _frameworks_visible_to(self.request.user), pk=kwargs["pk"])
        context["framework"] = framework
        context["areas"] = framework.areas.prefetch_related("requirements")
        context["is_admin"] = permissions.CURATE_FRAMEWORK.allows(self.request.user, framework)
        return context


class _AdminFrameworkAction(View):
    def post(self, request, pk):
        # Drafts are the national admin's alone: anyone else is answered as if it did not exist.
        if not permissions.CURATE_FRAMEWORK.allows(request.user, None):
            raise Http404
        framework = get_visible_or_404(request, Framework.objects.all(), pk=pk)
        try:
            result = self.act(request, framework)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("onboarding:framework-detail", pk=framework.pk)
        return redirect("onboarding:framework-detail", pk=result.pk)


class FrameworkPublishView(_AdminFrameworkAction):
    def act(self, request, framework):
        published = framework_services.framework_publish(actor=request.user, framework=framework)
        messages.success(request, f"{published} is published. Existing deployments keep their version.")
        return published


class FrameworkDraftCreateView(_AdminFrameworkAction):
    def act(self, request, framework):
        draft = framework_services.framework_draft_create(actor=request.user, source=framework)
        messages.success(request, f"Draft {draft} created from version {framework.version}.")
        return draft


class RequirementEditView(FormView):
    template_name = "onboarding/requirement_form.html"
    form_class = RequirementEditForm

    def get_form_kwargs(self):
        if not permissions.CURATE_FRAMEWORK.allows(self.request.user, None):
            raise Http404
        self.requirement = get_visible_or_404(
            self.request, Requirement.objects.filter(framework__status=Framework.Status.DRAFT), pk=self.kwargs["pk"]
        )
        return {**super().get_form_kwargs(), "instance": Requirement.objects.get(pk=self.requirement.pk)}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "requirement": self.requirement}

    def form_valid(self, form):
        try:
            framework_services.requirement_update(
                actor=self.request.user, requirement=self.requirement, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{self.requirement.code} has been updated.")
        return redirect("onboarding:framework-detail", pk=self.requirement.framework_id)


class DeploymentFrameworkChangeView(FormView):
    template_name = "onboarding/deployment_framework.html"
    form_class = FrameworkChangeForm

    def get_form_kwargs(self):
        self.deployment = get_visible_or_404(
            self.request, selectors.deployments_visible_to(self.request.user), pk=self.kwargs["pk"]
        )
        permissions.MANAGE_DEPLOYMENT.require(self.request.user, self.deployment)
        return {**super().get_form_kwargs(), "initial": {"framework": self.deployment.framework_id}}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "deployment": self.deployment}

    def form_valid(self, form):
        try:
            framework_services.deployment_framework_change(
                actor=self.request.user, deployment=self.deployment, framework=form.cleaned_data["framework"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "The deployment now uses the chosen framework version.")
        return redirect("onboarding:deployment-checklist", pk=self.deployment.pk)
