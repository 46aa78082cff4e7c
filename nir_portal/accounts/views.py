from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView, ListView, TemplateView, View

from nir_portal.accounts import permissions, reauth, selectors, services
from nir_portal.accounts.forms import (
    ActiveOrganisationForm,
    CSOProfileForm,
    InviteForm,
    OrganisationCreateForm,
    RoleChangeForm,
)
from nir_portal.accounts.models import CSOProfile, Membership
from nir_portal.forms import add_service_errors
from nir_portal.permissions import get_visible_or_404


class OrganisationListView(ListView):
    template_name = "accounts/organisation_list.html"
    context_object_name = "organisations"
    paginate_by = 100

    def get_queryset(self):
        return selectors.organisations_visible_to(self.request.user).order_by("name")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_create"] = permissions.can_create_organisation(self.request.user)
        return context


class OrganisationCreateView(FormView):
    template_name = "accounts/organisation_form.html"
    form_class = OrganisationCreateForm

    def dispatch(self, request, *args, **kwargs):
        if not permissions.can_create_organisation(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            organisation = services.organisation_create(actor=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{organisation.name} has been added.")
        return redirect("accounts:organisation-detail", pk=organisation.pk)


class OrganisationDetailView(TemplateView):
    """An organisation's members; leads see the controls to manage them."""

    template_name = "accounts/organisation_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organisation = get_visible_or_404(
            self.request, selectors.organisations_visible_to(self.request.user), pk=kwargs["pk"]
        )
        context["organisation"] = organisation
        context["memberships"] = selectors.memberships_of_organisation(organisation=organisation)
        context["can_manage"] = permissions.can_manage_members(self.request.user, organisation)
        return context


class _ManagedOrganisationMixin:
    def get_organisation(self):
        # Seen but not managed: a 403 naming the lead, rather than a 404 for one's own organisation.
        organisation = get_visible_or_404(
            self.request, selectors.organisations_visible_to(self.request.user), pk=self.kwargs["pk"]
        )
        permissions.MANAGE_MEMBERS.require(self.request.user, organisation)
        return organisation


class MemberInviteView(_ManagedOrganisationMixin, FormView):
    template_name = "accounts/member_invite.html"
    form_class = InviteForm

    def get_form_kwargs(self):
        self.organisation = self.get_organisation()
        return {**super().get_form_kwargs(), "organisation": self.organisation}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "organisation": self.organisation}

    def form_valid(self, form):
        try:
            membership = services.user_invite(
                actor=self.request.user, organisation=self.organisation, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{membership.user.email} has been invited as {membership.get_role_display()}.")
        return redirect("accounts:organisation-detail", pk=self.organisation.pk)


def _visible_membership(request, pk: int) -> Membership:
    visible = Membership.objects.filter(
        organisation__in=selectors.organisations_visible_to(request.user)
    ).select_related("organisation", "user")
    membership = get_visible_or_404(request, visible, pk=pk)
    permissions.MANAGE_MEMBERS.require(request.user, membership.organisation)
    return membership


class MembershipRoleChangeView(reauth.RecentMFARequiredMixin, FormView):
    """A role decides who may bind the organisation, so changing one needs a fresh authenticator
    check; a stale session is sent to enter a code and comes back to its choice."""

    template_name = "accounts/membership_role.html"
    form_class = RoleChangeForm

    def dispatch(self, request, *args, **kwargs):
        self.membership = _visible_membership(request, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"role": self.membership.role, **super().get_initial()}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "organisation": self.membership.organisation}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "membership": self.membership}

    def form_valid(self, form):
        try:
            services.membership_change_role(
                actor=self.request.user,
                membership=self.membership,
                role=form.cleaned_data["role"],
                mfa_verified_at=reauth.last_mfa_at(self.request),
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        messages.success(self.request, "The role has been changed.")
        return redirect("accounts:organisation-detail", pk=self.membership.organisation_id)


class AuthenticatorResetForm(forms.Form):
    """Nothing to fill in: the button confirms."""


class MembershipAuthenticatorResetView(reauth.RecentMFARequiredMixin, FormView):
    """The recovery path for someone who has lost their authenticator (docs/security.md): their
    authenticators go, they are signed out, and they are sent an enrolment link. Whoever could then
    set one up decides who signs in as them, so this needs a fresh authenticator check."""

    template_name = "accounts/membership_authenticator_reset.html"
    form_class = AuthenticatorResetForm

    def dispatch(self, request, *args, **kwargs):
        self.membership = _visible_membership(request, kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "membership": self.membership,
            "may_reset": services.can_reset_authenticator(self.request.user, self.membership),
        }

    def form_valid(self, form):
        try:
            services.authenticator_reset(
                actor=self.request.user,
                membership=self.membership,
                mfa_verified_at=reauth.last_mfa_at(self.request),
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        messages.success(
            self.request,
            f"The authenticator of {self.membership.user.email} has been reset. "
            "They have been signed out and sent a link to set up a new one.",
        )
        return redirect("accounts:organisation-detail", pk=self.membership.organisation_id)


class MembershipRemoveView(TemplateView):
    template_name = "accounts/membership_remove.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["membership"] = _visible_membership(self.request, kwargs["pk"])
        return context

    def post(self, request, pk):
        membership = _visible_membership(request, pk)
        try:
            services.membership_revoke(actor=request.user, membership=membership)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("accounts:organisation-detail", pk=membership.organisation_id)
        messages.success(request, f"{membership.user.email} no longer has that role in {membership.organisation.name}.")
        return redirect("accounts:organisation-detail", pk=membership.organisation_id)


class MembershipInvitationResendView(View):
    http_method_names = ["post"]

    def post(self, request, pk):
        membership = _visible_membership(request, pk)
        try:
            services.invitation_resend(actor=request.user, membership=membership)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"The invitation has been sent to {membership.user.email} again.")
        return redirect("accounts:organisation-detail", pk=membership.organisation_id)


class ActiveOrganisationView(View):
    def post(self, request):
        form = ActiveOrganisationForm(request.POST)
        if form.is_valid():
            try:
                organisation = services.active_organisation_set(
                    request=request, organisation_id=form.cleaned_data["organisation"]
                )
                messages.success(request, f"You are now acting for {organisation.name}.")
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
        target = form.data.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = "home"
        return redirect(target)


class CSOProfileView(FormView):
    """A CSO records their own professional registration."""

    template_name = "accounts/cso_profile.html"
    form_class = CSOProfileForm

    def get_initial(self):
        profile = CSOProfile.objects.filter(user=self.request.user).first()
        if profile is None:
            return {}
        return {
            "professional_body": profile.professional_body,
            "registration_number": profile.registration_number,
            "registration_checked_on": profile.registration_checked_on,
            "clinical_risk_training_on": profile.clinical_risk_training_on,
        }

    def form_valid(self, form):
        try:
            services.cso_profile_save(actor=self.request.user, user=self.request.user, **form.cleaned_data)
        except PermissionDenied:
            raise
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Your registration details have been saved.")
        return redirect("home")
