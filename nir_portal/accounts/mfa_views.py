"""allauth's authenticator pages, changed only in where they go next: someone sent to set up an
authenticator on their way to a page is shown their recovery codes once, with a "Continue" that
takes them on to that page, instead of being left on the codes page."""

from allauth.mfa.recovery_codes.views import ViewRecoveryCodesView
from allauth.mfa.totp.views import ActivateTOTPView
from allauth.mfa.webauthn.views import AddWebAuthnView
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

NEXT = "next"


def safe_next(request) -> str | None:
    """The page the person asked for, from the form or the address; only a page of this portal."""
    wanted = request.POST.get(NEXT) or request.GET.get(NEXT)
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return None


class _ContinuesToNext:
    """After a first authenticator is added: its recovery codes, then the page asked for (or home)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "continue_to": safe_next(self.request)}

    def get_success_url(self) -> str:
        continue_to = safe_next(self.request) or resolve_url(settings.LOGIN_REDIRECT_URL)
        if self.did_generate_recovery_codes:
            return f"{reverse('mfa_view_recovery_codes')}?{urlencode({NEXT: continue_to})}"
        return continue_to if safe_next(self.request) else super().get_success_url()


class AuthenticatorAppSetUpView(_ContinuesToNext, ActivateTOTPView):
    pass


class SecurityKeyAddView(_ContinuesToNext, AddWebAuthnView):
    pass


class RecoveryCodesView(ViewRecoveryCodesView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "continue_to": safe_next(self.request)}
