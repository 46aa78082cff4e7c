"""Writes for clinical safety, one module per subject. Every change to covered content re-checks the
current sign-off in the same transaction (`sign_off.sign_off_refresh`), so a sign-off is superseded
the moment what it covered changes.

New code imports from the module that holds a service; the names below are re-exported for the
callers that still name `safety.services` (the lifecycle package and the dashboards' seeding among
them)."""

from safety.services.controls import action_add, action_complete, control_save
from safety.services.go_live import go_live_authorise
from safety.services.hazards import (
    HAZARD_FIELDS,
    hazard_add_local,
    hazard_log_create,
    hazard_transfer_decide,
    hazard_update,
)
from safety.services.incidents import incident_journal_add, incident_report
from safety.services.reference import rating_for, safety_reference_data_load
from safety.services.sign_off import (
    sign_off_blockers,
    sign_off_create,
    sign_off_refresh,
    sign_offs_refresh_for_evidence,
)
from safety.services.supplier_hazards import supplier_hazard_save

__all__ = [
    "HAZARD_FIELDS",
    "action_add",
    "action_complete",
    "control_save",
    "go_live_authorise",
    "hazard_add_local",
    "hazard_log_create",
    "hazard_transfer_decide",
    "hazard_update",
    "incident_journal_add",
    "incident_report",
    "rating_for",
    "safety_reference_data_load",
    "sign_off_blockers",
    "sign_off_create",
    "sign_off_refresh",
    "sign_offs_refresh_for_evidence",
    "supplier_hazard_save",
]
