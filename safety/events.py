"""The events safety publishes through `nir_portal.events` for the apps above it (the dashboards
keep their per-deployment summaries in step with them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyCaseChanged:
    """A deployment's hazard log, sign-off or go-live authorisation changed (published inside the
    writing transaction, after the change)."""

    deployment_id: int
