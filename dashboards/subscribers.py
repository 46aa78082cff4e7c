"""The dashboards' answers to onboarding's and safety's domain events (registered in
DashboardsConfig.ready): each refreshes the summary rows of the deployments concerned."""

from dashboards.summary import summaries_refresh
from nir_portal import events
from onboarding.events import DeploymentCreated, DeploymentEvidenceChanged
from safety.events import SafetyCaseChanged


def summary_start(event: DeploymentCreated) -> None:
    # Subscribed after safety (INSTALLED_APPS order), so the new hazard log is counted.
    summaries_refresh(deployment_ids=[event.deployment.pk])


def summary_refresh_for_evidence(event: DeploymentEvidenceChanged) -> None:
    summaries_refresh(deployment_ids=event.deployment_ids)


def summary_refresh_for_safety(event: SafetyCaseChanged) -> None:
    summaries_refresh(deployment_ids=[event.deployment_id])


def connect() -> None:
    # In the writer's transaction: a dashboard must never show a committed change's old measures,
    # and a failed refresh rolls the change back rather than leave the summary behind.
    for event_type, handler in (
        (DeploymentCreated, summary_start),
        (DeploymentEvidenceChanged, summary_refresh_for_evidence),
        (SafetyCaseChanged, summary_refresh_for_safety),
    ):
        events.subscribe(event_type, handler, delivery=events.Delivery.IN_TRANSACTION)
