"""Writes for the onboarding app: deployments, the framework, evidence and its review."""

from onboarding.services.deployments import (
    STAGE_ORDER,
    deployment_create,
    deployment_stage_change,
    product_create,
    product_version_create,
)

__all__ = [
    "STAGE_ORDER",
    "deployment_create",
    "deployment_stage_change",
    "product_create",
    "product_version_create",
]
