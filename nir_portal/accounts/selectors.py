from django.db.models import QuerySet

from nir_portal.accounts import permissions
from nir_portal.accounts.models import Membership, Organisation


def organisations_visible_to(user) -> QuerySet[Organisation]:
    if permissions.is_national(user):
        return Organisation.objects.all()
    return Organisation.objects.filter(memberships__user=user, is_active=True).distinct()


def memberships_of_organisation(*, organisation: Organisation) -> QuerySet[Membership]:
    return Membership.objects.filter(organisation=organisation).select_related("user").order_by("user__email", "role")
