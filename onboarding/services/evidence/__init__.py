"""Evidence: creating and revising it, sharing it with deployments, reviewing it, its files'
malware scans, expiry, and carrying it forward to a new product version; one module per subject.

New code imports from the module that holds a service; the names below are re-exported for the
callers that still name `onboarding.services.evidence` (the evidence and review screens, the
deployment services, the dashboards' seeding)."""

from onboarding.services.evidence.carry_forward import evidence_carry_forward
from onboarding.services.evidence.contributions import (
    evidence_create,
    evidence_links_for_new_deployment,
    evidence_revise,
    evidence_submit,
)
from onboarding.services.evidence.expiry import evidence_expire_due
from onboarding.services.evidence.review import evidence_comment_add, evidence_review
from onboarding.services.evidence.rules import EVIDENCE_FILE_SCAN, StoredUpload, expiry_date_for, review_by_for
from onboarding.services.evidence.scans import evidence_file_record_scan

__all__ = [
    "EVIDENCE_FILE_SCAN",
    "StoredUpload",
    "evidence_carry_forward",
    "evidence_comment_add",
    "evidence_create",
    "evidence_expire_due",
    "evidence_file_record_scan",
    "evidence_links_for_new_deployment",
    "evidence_review",
    "evidence_revise",
    "evidence_submit",
    "expiry_date_for",
    "review_by_for",
]
