"""The CSO's review queue, the sign-off and its record, and go-live authorisation."""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from nir_portal.accounts import reauth
from nir_portal.accounts.models import CSOProfile
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import get_visible_or_404
from onboarding.selectors import go_live_blockers
from safety import permissions, selectors
from safety.forms import (
    GoLiveForm,
    SignOffForm,
)
from safety.lifecycle.duties import registration_check_refusal
from safety.models import SignOff
from safety.services.go_live import go_live_authorise
from safety.services.sign_off import sign_off_blockers, sign_off_create
from safety.snapshots import snapshot_sha256
from safety.views.common import deployment_or_404


class ReviewQueueView(TemplateView):
    template_name = "safety/review_queue.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "queue": selectors.cso_review_queue(self.request.user)}


def _registration_stale(profile) -> str:
    """Why the CSO's registration check is too old to sign with ("" when it is not)."""
    if profile is None:
        return ""
    try:
        registration_check_refusal(profile)
    except ValidationError as error:
        return error.messages[0]
    return ""


class SignOffView(reauth.RecentMFARequiredMixin, FormView):
    """The current sign-off, what blocks a new one, and the CSO's form. Signing binds the CSO, so it
    needs an MFA code entered within the last few minutes; a stale session is sent to enter one,
    and what was typed is kept for when they return."""

    template_name = "safety/sign_off.html"
    form_class = SignOffForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = deployment_or_404(request, kwargs["pk"])
        self.can_sign = permissions.can_sign_off(request.user, self.deployment)
        if request.method == "POST":
            permissions.SIGN_OFF.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, deployment = self.request.user, self.deployment
        profile = CSOProfile.objects.filter(user=user).first() if self.can_sign else None
        context.update(
            deployment=deployment,
            sign_off=selectors.latest_sign_off(user=user, deployment=deployment),
            earlier=selectors.sign_offs_visible_to(user).filter(deployment=deployment)[1:20],
            blockers=sign_off_blockers(deployment),
            re_review_requests=selectors.re_review_requests_open(deployment=deployment),
            can_sign=self.can_sign,
            has_registration=profile is not None,
            registration_stale=_registration_stale(profile),
            has_recent_mfa=reauth.has_recent_mfa(self.request),
            can_authorise=permissions.can_authorise_go_live(user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context

    def form_valid(self, form):
        try:
            sign_off_create(
                actor=self.request.user,
                deployment=self.deployment,
                statement=form.cleaned_data["statement"],
                conditions=form.cleaned_data["conditions"],
                mfa_verified_at=reauth.last_mfa_at(self.request),
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, "You have signed off the hazard log.")
        organisation = self.deployment.organisation.name
        tell_next_steps(
            self.request,
            [
                f"An executive approver at {organisation} reviews the residual risk and authorises go-live.",
                "A change to the hazard log or to the evidence it relies on supersedes this sign-off; "
                "you would then sign off again.",
                "You can now produce the signed safety case report (CSCR bundle) from this page.",
            ],
        )
        return redirect("safety:sign-off", pk=self.deployment.pk)


class SignOffDetailView(TemplateView):
    """A sign-off as signed: the canonical snapshot in readable form, the raw JSON and its hash."""

    template_name = "safety/sign_off_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sign_off = get_visible_or_404(self.request, selectors.sign_offs_visible_to(self.request.user), pk=kwargs["pk"])
        snapshot = sign_off.snapshot
        context.update(
            sign_off=sign_off,
            deployment=sign_off.deployment,
            snapshot=snapshot,
            raw_json=json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False),
            hash_matches=snapshot_sha256(snapshot) == sign_off.snapshot_sha256,
            crumbs=[
                (sign_off.deployment.get_absolute_url(), sign_off.deployment.name),
                (reverse("safety:sign-off", kwargs={"pk": sign_off.deployment_id}), "Sign-off"),
            ],
        )
        return context


class GoLiveView(reauth.RecentMFARequiredMixin, FormView):
    """Top management authorises go-live and accepts the residual risk the CSO signed off; it binds
    the approver, so a stale session is sent to enter an authenticator code first."""

    template_name = "safety/go_live.html"
    form_class = GoLiveForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = deployment_or_404(request, kwargs["pk"])
        permissions.AUTHORISE_GO_LIVE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        user, deployment = self.request.user, self.deployment
        residual = selectors.hazard_log(user=user, deployment=deployment).filter(
            is_applicable=True, residual_rating__gte=2
        )
        sign_off = selectors.latest_sign_off(user=user, deployment=deployment)
        blockers = go_live_blockers(user=user, deployment=deployment)
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "sign_off": sign_off,
            "residual_hazards": residual,
            "onboarding_blockers": blockers,
            # The form is offered only when the onboarding and a current sign-off allow it; the
            # service refuses a post anyway, with the same reasons.
            "form_withheld": bool(blockers) or sign_off is None or sign_off.status != SignOff.Status.CURRENT,
            "crumbs": [(deployment.get_absolute_url(), deployment.name)],
        }

    def form_valid(self, form):
        try:
            go_live_authorise(
                actor=self.request.user,
                deployment=self.deployment,
                mfa_verified_at=reauth.last_mfa_at(self.request),
                **form.cleaned_data,
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, "Go-live is authorised and the residual risk accepted.")
        return redirect(self.deployment)
