"""The canonical snapshot a CSO signs: every hazard and assessment, every control with the SHA-256
of each evidence revision relied on (and whether it cites the certificate register), the risk
matrix version and the product version.

The snapshot is plain JSON with sorted keys and no floats, so its SHA-256 is reproducible by
anyone from `sign-off.json` alone."""

import hashlib
import json
from typing import Any

from django.db.models import Prefetch

from onboarding.models import Deployment, EvidenceRevision
from safety.models import DeploymentHazard, HazardControl

SNAPSHOT_FORMAT = 1


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def snapshot_sha256(snapshot: dict) -> str:
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


def _revision(revision: EvidenceRevision) -> dict:
    return {
        "evidence_id": revision.evidence_id,
        "title": revision.evidence.title,
        "revision": revision.number,
        "expiry_date": revision.expiry_date,
        "files": sorted(
            ({"name": f.original_name, "sha256": f.sha256, "size": f.size} for f in revision.files.all()),
            key=lambda f: (f["sha256"], f["name"]),
        ),
    }


def snapshot_build(deployment: Deployment) -> dict:
    """Build the snapshot in a fixed number of queries, whatever the size of the log."""
    deployment = Deployment.objects.select_related(
        "organisation", "product_version__product__supplier", "risk_plan__risk_matrix"
    ).get(pk=deployment.pk)
    matrix = deployment.risk_plan.risk_matrix
    controls = (
        HazardControl.objects.filter(is_withdrawn=False)
        .select_related("owner")
        .prefetch_related(
            Prefetch(
                "evidence_revisions",
                queryset=EvidenceRevision.objects.select_related("evidence").prefetch_related("files"),
            )
        )
    )
    hazards = (
        DeploymentHazard.objects.filter(deployment=deployment)
        .select_related("supplier_hazard", "library_hazard")
        .prefetch_related(Prefetch("controls", queryset=controls), "actions__owner")
        .order_by("number")
    )
    relied_on: dict[int, EvidenceRevision] = {}
    hazard_entries = []
    for hazard in hazards:
        control_entries = []
        for control in hazard.controls.all():
            revisions = sorted(control.evidence_revisions.all(), key=lambda r: (r.evidence_id, r.number))
            for revision in revisions:
                relied_on.setdefault(revision.evidence_id, revision)
            entry = {
                "id": control.pk,
                "kind": control.kind,
                "description": control.description,
                "owner": control.owner.ods_code,
                "verified": control.is_verified,
                "evidence": [_revision(r) for r in revisions],
            }
            if control.cites_certificate_register:
                # Present only when cited, so the snapshots of controls that never cite it keep
                # their hashes. The citation is covered, not the certificates: a renewal is the
                # monitoring working, not a change to what the CSO signed.
                entry["certificate_register"] = True
            control_entries.append(entry)
        hazard_entries.append(
            {
                "number": hazard.number,
                "reference": hazard.reference,
                "source": hazard.source,
                "library_code": hazard.library_hazard.code if hazard.library_hazard else None,
                "supplier_code": hazard.supplier_hazard.code if hazard.supplier_hazard else None,
                "name": hazard.name,
                "description": hazard.description,
                "clinical_impact": hazard.clinical_impact,
                "causes": hazard.causes,
                "existing_controls": hazard.existing_controls,
                "applicable": hazard.is_applicable,
                "applicability_justification": hazard.applicability_justification,
                "transfer_decision": hazard.transfer_decision,
                "transfer_justification": hazard.transfer_justification,
                "initial": {
                    "severity": hazard.initial_severity,
                    "likelihood": hazard.initial_likelihood,
                    "rating": hazard.initial_rating,
                },
                "residual": {
                    "severity": hazard.residual_severity,
                    "likelihood": hazard.residual_likelihood,
                    "rating": hazard.residual_rating,
                    "justification": hazard.residual_justification,
                    "operating_limits": hazard.operating_limits,
                },
                "status": hazard.status,
                "controls": control_entries,
                "actions": [
                    {
                        "description": a.description,
                        "owner": a.owner.ods_code,
                        "due_on": a.due_on,
                        "completed": a.completed_at is not None,
                    }
                    for a in sorted(hazard.actions.all(), key=lambda a: a.pk)
                ],
            }
        )
    latest = {}
    if relied_on:
        for revision in (
            EvidenceRevision.objects.filter(evidence_id__in=relied_on)
            .select_related("evidence")
            .prefetch_related("files")
            .order_by("evidence_id", "-number")
        ):
            latest.setdefault(revision.evidence_id, revision)
    snapshot = {
        "format": SNAPSHOT_FORMAT,
        "deployment": {"id": deployment.pk, "name": deployment.name, "organisation": deployment.organisation.ods_code},
        "product_version": {
            "supplier": deployment.product_version.product.supplier.ods_code,
            "product": deployment.product_version.product.name,
            "version": deployment.product_version.version,
            "dcb0129_reference": deployment.product_version.dcb0129_reference,
        },
        "risk_matrix": {"version": matrix.version, "name": matrix.name},
        "hazards": hazard_entries,
        # The newest revision of every evidence item relied on: a new revision changes the snapshot.
        "evidence_current": [_revision(latest[evidence_id]) for evidence_id in sorted(latest)],
    }
    # Round-trip through the canonical form so dates are strings, exactly as stored and hashed.
    return json.loads(canonical_json(snapshot))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: value}


def _citation_changes(reference: str, before: list[dict], after: list[dict]) -> list[str]:
    citing_before = {c["id"] for c in before if c.get("certificate_register")}
    citing_after = {c["id"] for c in after if c.get("certificate_register")}
    described = {c["id"]: c["description"][:60] for c in [*before, *after]}
    return [
        *(
            f"{reference}: control '{described[i]}' now cites the certificate register"
            for i in sorted(citing_after - citing_before)
        ),
        *(
            f"{reference}: control '{described[i]}' no longer cites the certificate register"
            for i in sorted(citing_before - citing_after)
        ),
    ]


def snapshot_changes(old: dict, new: dict) -> list[str]:
    """What changed between two snapshots, in words a CSO can act on."""
    changes: list[str] = []
    old_hazards = {h["number"]: h for h in old.get("hazards", [])}
    new_hazards = {h["number"]: h for h in new.get("hazards", [])}
    for number in sorted(set(new_hazards) - set(old_hazards)):
        changes.append(f"{new_hazards[number]['reference']} {new_hazards[number]['name']}: added")
    for number in sorted(set(old_hazards) & set(new_hazards)):
        before, after = old_hazards[number], new_hazards[number]
        flat_before = _flatten({k: v for k, v in before.items() if k not in ("controls", "actions")})
        flat_after = _flatten({k: v for k, v in after.items() if k not in ("controls", "actions")})
        for field in sorted(set(flat_before) | set(flat_after)):
            if flat_before.get(field) != flat_after.get(field):
                changes.append(
                    f"{after['reference']}: {field.replace('_', ' ')} changed "
                    f"from {flat_before.get(field)!r} to {flat_after.get(field)!r}"
                )
        if before["controls"] != after["controls"]:
            changes.append(f"{after['reference']}: controls changed")
            changes.extend(_citation_changes(after["reference"], before["controls"], after["controls"]))
        if before["actions"] != after["actions"]:
            changes.append(f"{after['reference']}: actions changed")
    old_evidence = {e["evidence_id"]: e for e in old.get("evidence_current", [])}
    for entry in new.get("evidence_current", []):
        previous = old_evidence.get(entry["evidence_id"])
        if previous is None:
            changes.append(f"Evidence '{entry['title']}' is now relied on")
        elif previous != entry:
            changes.append(
                f"Evidence '{entry['title']}': new revision {entry['revision']} "
                f"(signed with revision {previous['revision']})"
            )
    for key in ("product_version", "risk_matrix", "deployment"):
        if old.get(key) != new.get(key):
            changes.append(f"{key.replace('_', ' ').capitalize()} changed")
    return changes
