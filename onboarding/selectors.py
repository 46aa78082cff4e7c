from django.db.models import Count, QuerySet

from nir_portal.accounts import permissions as account_permissions
from onboarding import permissions
from onboarding.models import Deployment


def deployments_visible_to(user) -> QuerySet[Deployment]:
    """The national team sees every deployment; a deploying organisation its own; a supplier the
    deployments of its products."""
    if account_permissions.is_national(user):
        queryset = Deployment.objects.all()
    else:
        queryset = permissions.deployments_with_permission(user, permissions.VIEW)
    return queryset.select_related("organisation", "product_version__product__supplier").annotate(
        site_count=Count("sites", distinct=True)
    )


def deployment_detail(*, user, pk: int) -> QuerySet[Deployment]:
    return deployments_visible_to(user).filter(pk=pk).prefetch_related("sites", "stage_changes__changed_by")
