from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are created by invitation only; nobody signs themselves up."""

    def is_open_for_signup(self, request) -> bool:
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """NHS CIS2 signs in people who already hold an account (matched by verified email)."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False
