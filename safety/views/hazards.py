"""One hazard: its page, and the forms that edit it, decide on a transferred one, and add controls and
actions."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import FormView, TemplateView, View

from certificates.selectors import certificate_count_of_deployment
from nir_portal.accounts import reauth
from nir_portal.forms import add_service_errors
from nir_portal.permissions import get_visible_or_404
from safety import permissions, selectors
from safety.forms import (
    ActionForm,
    ControlForm,
    HazardEditForm,
    TransferDecisionForm,
)
from safety.models import DeploymentHazard
from safety.services.controls import action_add, action_complete, control_save
from safety.services.hazards import HAZARD_FIELDS, hazard_transfer_decide, hazard_update
from safety.views.common import hazard_or_404, hazard_url, log_crumbs, parties


class HazardDetailView(TemplateView):
    template_name = "safety/hazard_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        hazard = get_visible_or_404(
            self.request, selectors.hazard_detail(user=self.request.user, pk=kwargs["pk"]), pk=kwargs["pk"]
        )
        deployment = hazard.deployment
        matrix = hazard.risk_matrix
        context.update(
            hazard=hazard,
            deployment=deployment,
            labels={
                "initial_severity": selectors.scale_label(matrix, "severities", hazard.initial_severity),
                "initial_likelihood": selectors.scale_label(matrix, "likelihoods", hazard.initial_likelihood),
                "residual_severity": selectors.scale_label(matrix, "severities", hazard.residual_severity),
                "residual_likelihood": selectors.scale_label(matrix, "likelihoods", hazard.residual_likelihood),
            },
            acceptability=matrix.acceptability,
            history=selectors.hazard_history(hazard),
            certificate_register_size=certificate_count_of_deployment(deployment)
            if any(c.cites_certificate_register for c in hazard.controls.all())
            else 0,
            re_review_requests=selectors.re_review_requests_open(deployment=deployment, hazard=hazard),
            can_edit=permissions.can_edit_hazard_log(self.request.user, deployment),
            can_decide=hazard.source == DeploymentHazard.Source.SUPPLIER
            and permissions.can_sign_off(self.request.user, deployment),
            can_re_review=permissions.can_sign_off(self.request.user, deployment),
            crumbs=log_crumbs(deployment),
        )
        return context


class HazardFormMixin:
    """Fetches the hazard and refuses, with a 403 naming the role, anyone who may see it but not
    make this change."""

    def dispatch(self, request, *args, **kwargs):
        self.hazard = hazard_or_404(request, kwargs["pk"])
        self.check_allowed(request.user, self.hazard)
        return super().dispatch(request, *args, **kwargs)

    def check_allowed(self, user, hazard: DeploymentHazard) -> None:
        permissions.EDIT_HAZARD_LOG.require(user, hazard.deployment)

    def get_initial(self):
        return {**super().get_initial(), "expected_version": self.hazard.version}

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "hazard": self.hazard,
            "deployment": self.hazard.deployment,
            "crumbs": [*log_crumbs(self.hazard.deployment), (hazard_url(self.hazard), self.hazard.reference)],
        }

    def call_service(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            self.call_service(form)
        except ValidationError as error:
            if reauth.is_reauthentication_refusal(error):
                return reauth.send_to_reauthenticate(self.request)
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, self.success_message)
        return redirect(hazard_url(self.hazard))


class HazardEditView(HazardFormMixin, FormView):
    template_name = "safety/hazard_form.html"
    form_class = HazardEditForm
    success_message = "The hazard has been saved."

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "matrix": self.hazard.risk_matrix}

    def get_initial(self):
        return {**super().get_initial(), **{name: getattr(self.hazard, name) for name in HAZARD_FIELDS}}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "matrix": self.hazard.risk_matrix}

    def call_service(self, form):
        fields = {name: form.cleaned_data[name] for name in HAZARD_FIELDS}
        hazard_update(
            actor=self.request.user,
            hazard=self.hazard,
            expected_version=form.cleaned_data["expected_version"],
            **fields,
        )


class HazardTransferDecisionView(HazardFormMixin, reauth.RecentMFARequiredMixin, FormView):
    """The CSO's decision binds them, so a stale session is sent to enter an authenticator code."""

    template_name = "safety/transfer_decision_form.html"
    form_class = TransferDecisionForm
    success_message = "Your decision on the transferred hazard has been recorded."

    def check_allowed(self, user, hazard):
        if hazard.source != DeploymentHazard.Source.SUPPLIER:
            raise Http404("Only a transferred hazard takes a decision.")
        permissions.SIGN_OFF.require(user, hazard.deployment)

    def call_service(self, form):
        hazard_transfer_decide(
            actor=self.request.user,
            hazard=self.hazard,
            mfa_verified_at=reauth.last_mfa_at(self.request),
            **form.cleaned_data,
        )


class ControlCreateView(HazardFormMixin, FormView):
    template_name = "safety/control_form.html"
    form_class = ControlForm
    success_message = "The control has been added."

    def get_form_kwargs(self):
        deployment = self.hazard.deployment
        return {
            **super().get_form_kwargs(),
            "owners": parties(deployment),
            "revisions": selectors.accepted_evidence_revisions(deployment=deployment),
        }

    def get_initial(self):
        return {**super().get_initial(), "owner": self.hazard.deployment.organisation_id}

    def call_service(self, form):
        data = form.cleaned_data
        control_save(
            actor=self.request.user,
            hazard=self.hazard,
            expected_version=data["expected_version"],
            kind=data["kind"],
            description=data["description"],
            owner=data["owner"],
            is_verified=data["is_verified"],
            evidence_revisions=list(data["evidence_revisions"]),
            cites_certificate_register=data["cites_certificate_register"],
        )


class ActionCreateView(HazardFormMixin, FormView):
    template_name = "safety/action_form.html"
    form_class = ActionForm
    success_message = "The action has been added."

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "owners": parties(self.hazard.deployment)}

    def get_initial(self):
        return {**super().get_initial(), "owner": self.hazard.deployment.organisation_id}

    def call_service(self, form):
        action_add(actor=self.request.user, hazard=self.hazard, **form.cleaned_data)


class ActionCompleteView(View):
    def post(self, request, pk):
        action = get_visible_or_404(request, selectors.actions_visible_to(request.user), pk=pk)
        permissions.EDIT_HAZARD_LOG.require(request.user, action.deployment)
        try:
            action_complete(actor=request.user, action=action)
            messages.success(request, "The action has been marked complete.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except PermissionDenied:
            raise Http404 from None
        if action.hazard_id:
            return redirect("safety:hazard-detail", pk=action.hazard_id)
        return redirect("safety:sign-off", pk=action.deployment_id)
