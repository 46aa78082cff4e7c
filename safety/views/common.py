"""What the safety screens share: fetching a deployment or hazard the person may see, and crumbs."""

from django.urls import reverse

from nir_portal.accounts.models import Organisation
from nir_portal.permissions import get_visible_or_404
from safety import selectors
from safety.models import DeploymentHazard


def deployment_or_404(request, pk: int):
    return get_visible_or_404(request, selectors.deployments_with_hazard_log_visible_to(request.user), pk=pk)


def hazard_or_404(request, pk: int) -> DeploymentHazard:
    return get_visible_or_404(request, selectors.hazards_visible_to(request.user), pk=pk)


def hazard_url(hazard: DeploymentHazard) -> str:
    return reverse("safety:hazard-detail", kwargs={"pk": hazard.pk})


def log_crumbs(deployment) -> list[tuple[str, str]]:
    return [
        (deployment.get_absolute_url(), deployment.name),
        (reverse("safety:hazard-log", kwargs={"pk": deployment.pk}), "Hazard log"),
    ]


def parties(deployment):
    """The organisations that may own a control or action: the deploying organisation and its supplier."""
    return Organisation.objects.filter(
        pk__in=[deployment.organisation_id, deployment.product_version.product.supplier_id]
    )
