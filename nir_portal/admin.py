"""What every admin page shares. The admin site is for the national admin: Django's staff flag
lets someone reach it, and each page here also requires the national admin role (or a superuser
made with createsuperuser for recovery). Writes go through the same services as the portal's
pages, so the same rules and the audit trail apply."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from nir_portal.accounts.permissions import is_national_admin


def may_curate(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_superuser or is_national_admin(user)))


class NationalAdminMixin:
    """Viewing needs the national admin role; changing anything is refused unless a page allows it."""

    def has_module_permission(self, request) -> bool:
        return may_curate(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return may_curate(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(NationalAdminMixin, admin.ModelAdmin):
    """A record that is only ever looked at here."""

    actions = None


class ReadOnlyInline(NationalAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


def run_service(modeladmin, request, service, success: str) -> bool:
    """Call a service from an admin action, turning its refusals into messages."""
    try:
        service()
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        modeladmin.message_user(request, text, level=messages.ERROR)
        return False
    modeladmin.message_user(request, success, level=messages.SUCCESS)
    return True
