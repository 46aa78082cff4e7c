"""allauth's forms, worded the NHS.UK way: sentence-case labels, no placeholders (they vanish as
someone types), and errors that say what to do rather than "This field is required."."""

from allauth.account import forms as account_forms
from allauth.mfa.base import forms as mfa_forms
from allauth.mfa.totp import forms as totp_forms

CODE_REQUIRED = "Enter the 6-digit code from your authenticator app"


class _NHSWording:
    labels: dict[str, str] = {}
    required: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.pop("placeholder", None)
            if name in self.labels:
                field.label = self.labels[name]
            if name in self.required:
                field.error_messages["required"] = self.required[name]
            if name == "code":
                # Authenticator and recovery codes are digits: a short box and the number keypad.
                field.widget.attrs.update(
                    {"class": "nhsuk-input--width-10", "inputmode": "numeric", "spellcheck": "false"}
                )


class LoginForm(_NHSWording, account_forms.LoginForm):
    labels = {"login": "Email address"}
    required = {"login": "Enter your email address", "password": "Enter your password"}


class ReauthenticateForm(_NHSWording, account_forms.ReauthenticateForm):
    required = {"password": "Enter your password"}


class ResetPasswordForm(_NHSWording, account_forms.ResetPasswordForm):
    labels = {"email": "Email address"}
    required = {"email": "Enter your email address"}


_NEW_PASSWORD = {"password1": "New password", "password2": "New password again"}
_NEW_PASSWORD_REQUIRED = {"password1": "Enter a new password", "password2": "Enter the new password again"}


class ResetPasswordKeyForm(_NHSWording, account_forms.ResetPasswordKeyForm):
    labels = _NEW_PASSWORD
    required = _NEW_PASSWORD_REQUIRED


class ChangePasswordForm(_NHSWording, account_forms.ChangePasswordForm):
    labels = {"oldpassword": "Current password", **_NEW_PASSWORD}
    required = {"oldpassword": "Enter your current password", **_NEW_PASSWORD_REQUIRED}


class SetPasswordForm(_NHSWording, account_forms.SetPasswordForm):
    labels = _NEW_PASSWORD
    required = _NEW_PASSWORD_REQUIRED


class ActivateTOTPForm(_NHSWording, totp_forms.ActivateTOTPForm):
    required = {"code": CODE_REQUIRED}


class AuthenticateForm(_NHSWording, mfa_forms.AuthenticateForm):
    required = {"code": CODE_REQUIRED}


class MFAReauthenticateForm(_NHSWording, mfa_forms.ReauthenticateForm):
    required = {"code": CODE_REQUIRED}
