"""The ways into setting up a first authenticator (nir_portal/accounts/enrolment.py says why): the
page a password-only session is sent to, the enrolment link from the email, and the invitation's
set-password link, which goes straight on to the set-up in the same session."""

from urllib.parse import urlencode

from allauth.account.internal.flows.password_reset import perform_password_reset_login
from allauth.account.views import PasswordResetFromKeyView
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.generic import TemplateView

from nir_portal.accounts import enrolment, services

LINK_ON_ITS_WAY = (
    "If your account can receive email, a link to set up your authenticator is on its way to your email address. "
    "It can take a few minutes to arrive. Only the newest link works."
)


class EnrolmentNeededView(TemplateView):
    """Where a person without an authenticator, signed in with a password alone, is sent: set up your
    authenticator from the link we sent. It says nothing the visitor did not know already."""

    template_name = "account/enrolment_needed.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and enrolment.has_authenticator(request.user):
            return redirect("home")
        if enrolment.has_grant(request):
            return redirect("mfa_activate_totp")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "link_hours": enrolment.LINK_VALID_SECONDS // 3600}

    def post(self, request):
        services.enrolment_link_request(user=request.user)
        messages.info(request, LINK_ON_ITS_WAY)
        return redirect("enrolment_needed")


@method_decorator(login_not_required, name="dispatch")
class EnrolmentLinkView(TemplateView):
    """An enrolment link from the email. Opening it changes nothing (mail scanners open links);
    the button spends it and lets this session set up an authenticator for its person, after
    signing in with their password if they have not."""

    template_name = "account/enrolment_link.html"

    def get(self, request, token):
        link = enrolment.link_find(token)
        problem = enrolment.link_problem(link, signed_in_user=request.user)
        return self.render_to_response(self._context(problem), status=_status(problem))

    def post(self, request, token):
        try:
            link = services.enrolment_link_use(token=token, signed_in_user=request.user)
        except ValidationError as error:
            problem = error.code or "invalid"
            return self.render_to_response(self._context(problem), status=_status(problem))
        enrolment.grant_give(request, user=link.user, via="enrolment_link")
        if request.user.is_authenticated:
            return redirect("mfa_activate_totp")
        messages.info(request, "Sign in with your email address and password to set up your authenticator.")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': reverse('mfa_activate_totp')})}")

    def _context(self, problem: str | None) -> dict:
        return {
            "problem": problem,
            "problem_text": enrolment.LINK_PROBLEMS.get(problem or "", ""),
            "signed_in": self.request.user.is_authenticated,
        }


def _status(problem: str | None) -> int:
    return {None: 200, "other_user": 403, "enrolled": 200}.get(problem, 410)


class PasswordSetFromLinkView(PasswordResetFromKeyView):
    """allauth's set-password-from-link page (the invitation's link, and a password reset). Someone
    without an authenticator has just proved they read the account's verified address, so they are
    signed in and go straight on to set one up, in this session. Someone with one signs in as usual,
    with their password and a code."""

    def get_context_data(self, **kwargs):
        user = getattr(self, "reset_user", None)
        # An invitation's link: the person has no password yet, so they choose one, not change it.
        first_password = user is not None and not user.has_usable_password()
        return {**super().get_context_data(**kwargs), "first_password": first_password}

    def form_valid(self, form):
        user = self.reset_user
        response = super().form_valid(form)
        if user is None or not user.is_active or enrolment.has_authenticator(user):
            return response
        response = perform_password_reset_login(self.request, user)
        if self.request.user.is_authenticated and self.request.user.pk == user.pk:
            enrolment.grant_give(self.request, user=user, via="password_set_link")
        return response


password_set_from_link = PasswordSetFromLinkView.as_view()
