"""Screens of the safety case's later life: publishing a product version, upgrading a case,
re-reviewing hazards, deciding on a live case gone out of date, escalating incidents, periodic
review, decommissioning and recording go-live. Each fetches through a scoped selector (404 for
what the person may not see), refuses someone who sees it but lacks the role with the 403 page
naming the role and who holds it (`RoleRule.require`), and calls one service."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView

from nir_portal.accounts import reauth
from nir_portal.forms import add_service_errors
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import get_visible_or_404
from safety import permissions, selectors
from safety.lifecycle import decommissioning, going_live, incidents, supersession, versions
from safety.lifecycle import forms as lifecycle_forms
from safety.lifecycle import permissions as lifecycle_permissions
from safety.lifecycle import selectors as lifecycle_selectors
from safety.lifecycle.models import DecommissioningPlan, SupplierHazardDelta
from safety.models import SupplierHazard


class ServiceFormView(FormView):
    """Calls `self.act(data)`; a service's ValidationError goes back on the form. The view has
    already refused anyone the service would (a 403 naming the role), so a service's
    PermissionDenied, from a role lost meanwhile, is the same 403."""

    template_name = "safety/lifecycle/form_page.html"
    heading = ""
    button = "Save"
    success_message = ""

    def act(self, data):
        raise NotImplementedError

    def success_url_for(self, result) -> str:
        return self.deployment.get_absolute_url()

    def get_context_data(self, **kwargs):
        deployment = getattr(self, "deployment", None)
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "heading": self.heading,
            "button": self.button,
            "crumbs": [(deployment.get_absolute_url(), deployment.name)] if deployment else [],
        }

    def form_valid(self, form):
        try:
            result = self.act(form.cleaned_data)
        except ValidationError as error:
            if isinstance(self, reauth.RecentMFARequiredMixin):
                return self.form_invalid_or_reauthenticate(form, error)
            add_service_errors(form, error)
            return self.form_invalid(form)
        if self.success_message:
            messages.success(self.request, self.success_message)
        return redirect(self.success_url_for(result))


def _deployment(request, pk):
    return get_visible_or_404(request, selectors.deployments_with_hazard_log_visible_to(request.user), pk=pk)


class ProductVersionPublishView(ServiceFormView):
    form_class = lifecycle_forms.ProductVersionPublishForm
    template_name = "safety/lifecycle/publish.html"
    heading = "Publish this version"
    button = "Publish version"

    def dispatch(self, request, *args, **kwargs):
        self.version = get_visible_or_404(request, selectors.product_versions_visible_to(request.user), pk=kwargs["pk"])
        lifecycle_permissions.PUBLISH_VERSION.require(request.user, self.version)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        old = SupplierHazard.objects.filter(product_version_id=self.version.previous_version_id).order_by("code")
        new = SupplierHazard.objects.filter(product_version=self.version).order_by("code")
        return {**super().get_form_kwargs(), "new_hazards": new, "old_hazards": old}

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "product_version": self.version,
            "delta": SupplierHazardDelta.objects.filter(product_version=self.version),
            "crumbs": [(reverse("safety:supplier-hazard-list", kwargs={"pk": self.version.pk}), str(self.version))],
        }

    def act(self, data):
        return versions.product_version_publish(actor=self.request.user, product_version=self.version, **data)

    def success_url_for(self, result):
        told = f"{len(result)} deployment{'' if len(result) == 1 else 's'} of the earlier version"
        messages.success(self.request, f"{self.version} is published and {told} have been told.")
        return reverse("safety:supplier-hazard-list", kwargs={"pk": self.version.pk})


class CaseVersionListView(TemplateView):
    """Every version of the deployment's safety case, each with the sign-offs it had."""

    template_name = "safety/lifecycle/case_versions.html"

    def get_context_data(self, **kwargs):
        deployment = _deployment(self.request, kwargs["pk"])
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "cases": lifecycle_selectors.case_versions_of(user=self.request.user, deployment=deployment),
            "can_upgrade": permissions.can_upgrade(self.request.user, deployment) and deployment.upgrade_available_id,
            "crumbs": [(deployment.get_absolute_url(), deployment.name)],
        }


class CaseUpgradeView(ServiceFormView):
    form_class = lifecycle_forms.ConfirmForm
    template_name = "safety/lifecycle/upgrade.html"
    heading = "Upgrade the safety case"
    button = "Start the upgrade"
    success_message = "The upgrade has started: the CSO re-reviews the hazards marked, then signs off again."

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.UPGRADE_CASE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        version = self.deployment.upgrade_available
        delta = SupplierHazardDelta.objects.filter(product_version=version) if version else []
        return {**super().get_context_data(**kwargs), "version": version, "delta": delta}

    def act(self, data):
        return versions.case_upgrade_start(actor=self.request.user, deployment=self.deployment)

    def success_url_for(self, result):
        return reverse("safety:hazard-log", kwargs={"pk": self.deployment.pk})


class HazardReReviewView(ServiceFormView):
    form_class = lifecycle_forms.HazardReReviewForm
    template_name = "safety/lifecycle/re_review.html"
    heading = "Re-review this hazard"
    button = "Record the re-review"
    success_message = "The re-review is recorded."

    def dispatch(self, request, *args, **kwargs):
        self.hazard = get_visible_or_404(request, selectors.hazards_visible_to(request.user), pk=kwargs["pk"])
        self.deployment = self.hazard.deployment
        lifecycle_permissions.RE_REVIEW_HAZARD.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "hazard": self.hazard}

    def act(self, data):
        return versions.hazard_re_review(
            actor=self.request.user, hazard=self.hazard, expected_version=self.hazard.version, **data
        )

    def success_url_for(self, result):
        return reverse("safety:hazard-detail", kwargs={"pk": self.hazard.pk})


class LiveCaseDecisionView(reauth.RecentMFARequiredMixin, ServiceFormView):
    form_class = lifecycle_forms.LiveCaseDecisionForm
    heading = "Decide on the out-of-date safety case"
    button = "Record the decision"
    success_message = "Your decision is recorded."

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.DECIDE_LIVE_CASE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def act(self, data):
        return supersession.live_case_decide(
            actor=self.request.user,
            deployment=self.deployment,
            mfa_verified_at=reauth.last_mfa_at(self.request),
            **data,
        )


class IncidentEscalateView(ServiceFormView):
    form_class = lifecycle_forms.IncidentEscalateForm
    heading = "Escalate this incident"
    button = "Escalate"
    success_message = "The incident is escalated; the supplier, network and national team have been told."

    def dispatch(self, request, *args, **kwargs):
        self.incident = get_visible_or_404(request, selectors.incidents_visible_to(request.user), pk=kwargs["pk"])
        self.deployment = self.incident.deployment
        permissions.ESCALATE_INCIDENT.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def act(self, data):
        return incidents.incident_escalate(actor=self.request.user, incident=self.incident, **data)

    def success_url_for(self, result):
        return reverse("safety:escalation-detail", kwargs={"pk": result.pk})


class EscalationListView(TemplateView):
    template_name = "safety/lifecycle/escalation_list.html"

    def get_context_data(self, **kwargs):
        escalations = lifecycle_selectors.escalations_visible_to(self.request.user)[:200]
        return {**super().get_context_data(**kwargs), "escalations": escalations}


class EscalationDetailView(ServiceFormView):
    """An escalated incident's safety content, and the supplier's finding on it."""

    form_class = lifecycle_forms.FaultFindingForm
    template_name = "safety/lifecycle/escalation_detail.html"
    heading = "Record your finding"
    button = "Record the finding"
    success_message = "Your finding is recorded."

    def dispatch(self, request, *args, **kwargs):
        self.escalation = get_visible_or_404(
            request, lifecycle_selectors.escalations_visible_to(request.user), pk=kwargs["pk"]
        )
        self.can_find = permissions.can_record_fault_finding(request.user, self.escalation.supplier_id)
        if request.method == "POST":
            permissions.RECORD_FAULT_FINDING.require(request.user, self.escalation.supplier_id)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "escalation": self.escalation,
            "incident": self.escalation.incident,
            "can_find": self.can_find and self.escalation.finding == "pending",
            "crumbs": [(reverse("safety:escalation-list"), "Escalated incidents")],
        }

    def act(self, data):
        return incidents.incident_fault_finding_record(actor=self.request.user, escalation=self.escalation, **data)

    def success_url_for(self, result):
        return reverse("safety:escalation-detail", kwargs={"pk": self.escalation.pk})


class PeriodicReviewView(ServiceFormView):
    form_class = lifecycle_forms.PeriodicReviewForm
    heading = "Record a periodic review"
    button = "Record the review"
    success_message = "The periodic review is recorded."

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        lifecycle_permissions.RECORD_PERIODIC_REVIEW.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"reviewed_on": timezone.localdate()}

    def act(self, data):
        return decommissioning.periodic_review_record(actor=self.request.user, deployment=self.deployment, **data)


class DecommissioningPlanView(ServiceFormView):
    form_class = lifecycle_forms.DecommissioningPlanForm
    heading = "Plan decommissioning"
    button = "Save the plan"
    success_message = "The decommissioning plan is saved."

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.PLAN_DECOMMISSIONING.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        hazards = selectors.hazards_visible_to(self.request.user).filter(deployment=self.deployment).order_by("number")
        return {**super().get_form_kwargs(), "hazards": hazards}

    def get_initial(self):
        plan = DecommissioningPlan.objects.filter(deployment=self.deployment).first()
        if plan is None:
            return {}
        fields = ("planned_for", "data_retention", "access_to_priors", "replacement", "closure_note")
        return {**{f: getattr(plan, f) for f in fields}, "hazards_closed": list(plan.hazards_closed.all())}

    def act(self, data):
        data = {**data, "hazards_closed": list(data["hazards_closed"])}
        return decommissioning.decommissioning_plan_save(actor=self.request.user, deployment=self.deployment, **data)


class DecommissioningAuthoriseView(reauth.RecentMFARequiredMixin, ServiceFormView):
    form_class = lifecycle_forms.StatementForm
    heading = "Authorise decommissioning"
    button = "Authorise decommissioning"
    success_message = "Decommissioning is authorised."

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        lifecycle_permissions.AUTHORISE_DECOMMISSIONING.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def act(self, data):
        return decommissioning.decommissioning_authorise(
            actor=self.request.user,
            deployment=self.deployment,
            mfa_verified_at=reauth.last_mfa_at(self.request),
            **data,
        )


class GoLiveRecordView(ServiceFormView):
    """The deployment lead records the day a deployment whose go-live is authorised went live."""

    form_class = lifecycle_forms.GoLiveRecordForm
    template_name = "safety/lifecycle/go_live_record.html"
    heading = "Record go-live"
    button = "Record go-live"

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        lifecycle_permissions.RECORD_GO_LIVE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        authorisation = going_live.go_live_authorisation_standing(self.deployment)
        return {
            **super().get_context_data(**kwargs),
            "authorisation": authorisation,
            "refusal": going_live.go_live_refusal(self.deployment, authorisation),
        }

    def act(self, data):
        self.went_live_on = data["went_live_on"]
        return going_live.deployment_record_live(actor=self.request.user, deployment=self.deployment, **data)

    def success_url_for(self, result):
        messages.success(self.request, f"{result.name} is recorded as live since {self.went_live_on:%-d %B %Y}.")
        tell_next_steps(
            self.request,
            [
                "The CSO and the executive approver have been told by email that it is live.",
                "From now on a change to the hazard log, or to the evidence it relies on, marks the live safety "
                "case out of date; the CSO or executive approver then decides whether it continues in use.",
                "The CSO records periodic reviews of the safety case while it is in use.",
                "A new product version from the supplier is upgraded through the safety case versions page.",
            ],
        )
        return result.get_absolute_url()
