"""The Clinical Safety Case Report: its content, gathered from the signed snapshot and the rows it
names, and its rendering to PDF with WeasyPrint.

Everything about the hazard log (hazards, assessments, controls, actions, the evidence relied on,
the product version and the risk matrix version) comes from `SignOff.snapshot`, exactly as signed.
The database supplies only what the snapshot names by id or code (organisation names, the risk
matrix version's labels, the evidence revisions' requirement codes and review outcomes as they stood
at signing) and the deployment's context at issue (sites, people, incidents, go-live).
"""

import contextlib
import io
import logging
import mimetypes
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pikepdf
from django.conf import settings
from django.db.models import Q
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from certificates.selectors import certificates_of_deployment
from nir_portal.accounts.models import Membership, Organisation, Role
from onboarding.models import EvidenceFile, EvidenceRevision, Review
from safety.lifecycle.phases import phase_context
from safety.models import CSCRBundleJob, DeploymentHazard, HazardControl, RiskMatrix, SafetyIncident, SignOff
from safety.snapshots import snapshot_changes

logger = logging.getLogger(__name__)

TEMPLATE = "pdf/cscr.html"
MAX_CHANGES_LISTED = 200

# A long report is rendered in parts, so that WeasyPrint, which keeps the layout of every page of a
# document until it is written, holds one part's pages at a time: about 0.6 MB per hazard
# otherwise, 750 MB for 1,000 hazards against the worker's 400 MB per child. The template marks
# where a part may end (PART_MARK): between the long sections, and every PART_HAZARDS rows of the
# long tables, where the table is closed and opened again with its head. A report of up to
# WHOLE_CHARACTERS of HTML is rendered whole, as one document (200 hazards come to about 330,000);
# a longer one in parts of up to PART_CHARACTERS each (the layout's memory follows the text, not
# the number of rows: 1,000 hazards came to 6 parts and a peak RSS well under the limit).
PART_MARK = "<!--cscr-part-->"
PART_HAZARDS = 200
WHOLE_CHARACTERS = 400_000
PART_CHARACTERS = 250_000

SECTIONS = (
    "Document control",
    "1 Introduction",
    "2 System definition",
    "3 Clinical risk management system",
    "4 Clinical risk analysis",
    "5 Clinical risk evaluation",
    "6 Clinical risk control",
    "7 Hazard log",
    "8 Test issues and outstanding defects",
    "9 Summary safety statement",
    "10 Quality assurance and document approval",
    "11 Configuration control",
    "12 Go-live controls",
    "13 Monitoring and incident management",
    "14 Supplier's DCB0129 safety case and transferred hazards",
    "15 Residual risks and operating limits",
    "16 Evidence relied upon",
)

INTERFACES = (
    ("ITI-38 Cross-Gateway Query", "Finds a patient's imaging documents held by other organisations' networks."),
    ("ITI-39 Cross-Gateway Retrieve", "Retrieves a chosen document (for example a diagnostic report) from its source."),
    (
        "RAD-75 Cross-Gateway Retrieve Imaging Document Set",
        "Retrieves imaging studies; passed on to RAD-69 at the source network.",
    ),
    ("PARS FHIR AuditEvent", "Records every query and retrieval for privacy officers' access reports."),
    (
        "NHS Care Identity Service 2 and national RBAC",
        "Signs staff in and decides their access from their selected national role.",
    ),
)


# --- a URL fetcher that reaches nothing outside the project --------------------------------------


class ProjectFilesFetcher(URLFetcher):
    """Serves `file:` URLs under the project's own static folder and refuses everything else, so
    the template (and anything that might find its way into it) can fetch nothing from outside."""

    def __init__(self, roots: list[Path] | None = None) -> None:
        super().__init__(allowed_protocols={"file"}, allow_redirects=False, fail_on_errors=True, timeout=5)
        self.roots = [Path(root).resolve() for root in (roots or [Path(settings.BASE_DIR) / "static"])]

    def fetch(self, url, headers=None):
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            logger.warning("The CSCR template asked for %s; only the project's static files can be fetched.", url)
            raise ValueError(f"refused: {url[:200]}")
        path = Path(url2pathname(parts.path)).resolve()
        if not path.is_file() or not any(path.is_relative_to(root) for root in self.roots):
            logger.warning("The CSCR template asked for %s, outside the project's static files.", url)
            raise ValueError(f"refused: {url[:200]}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type})


def base_url() -> str:
    return (Path(settings.BASE_DIR) / "static").resolve().as_uri() + "/"


@dataclass(frozen=True)
class RenderedPdf:
    pdf: bytes
    pages: int


def _render(html: str):
    return HTML(string=html, base_url=base_url(), url_fetcher=ProjectFilesFetcher()).render()


def html_to_pdf(html: str) -> RenderedPdf:
    """WeasyPrint, with the restricted fetcher; the pages are counted from the same layout. A long
    report is rendered in parts (see WHOLE_CHARACTERS)."""
    delay = getattr(settings, "CSCR_TEST_RENDER_DELAY_SECONDS", 0) if getattr(settings, "TESTING", False) else 0
    if delay:
        time.sleep(delay)  # test runs only: a window in which a test kills the worker mid-render
    parts = _parts(html)
    if len(parts) == 1:
        document = _render(html)
        pages = len(document.pages)
        pdf = document.write_pdf()
        return RenderedPdf(pdf=pdf, pages=pages)
    return _render_in_parts(parts)


# --- rendering a long report in parts ------------------------------------------------------------

_BODY_START = re.compile(r"<body[^>]*>\s*<div class=\"meta\"[^>]*></div>", re.S)
_BODY_END = "</body>"
# Later parts start on a page of their own: their first page keeps the running heads that only the
# cover goes without, and the page numbers of every part are left to the overlay below.
_NO_PAGE_NUMBER = "@page { @bottom-right { content: none; } }"
_LATER_PART_STYLE = (
    "<style>.meta { string-set: doc-version attr(data-version), doc-hash attr(data-hash), doc-title attr(data-title); }"
    '@page :first { @top-left { content: string(doc-title); } @top-right { content: "Version " string(doc-version); } }'
    f"{_NO_PAGE_NUMBER}</style>"
)
_FIRST_PART_STYLE = f"<style>{_NO_PAGE_NUMBER}</style>"
_NUMBERS_STYLE = (
    "<style>@page { @top-left { content: none; } @top-right { content: none; } @bottom-left { content: none; } }"
    "body { margin: 0; } div { break-after: page; } .wide { page: wide; }</style>"
)


def _parts(html: str) -> list[str]:
    """The report's HTML as the documents to render: itself when it is short enough to render
    whole, or else one document per group of consecutive pieces (between PART_MARKs) of up to
    PART_CHARACTERS, each with the report's head and running strings."""
    pieces = html.split(PART_MARK)
    if len(pieces) == 1 or len(html) <= WHOLE_CHARACTERS:
        return [html]
    start = _BODY_START.search(pieces[0])
    end = pieces[-1].rfind(_BODY_END)
    if start is None or end < 0:
        raise ValueError("the CSCR template's body does not start with its meta element")
    head = pieces[0][: start.end()]
    pieces[0] = pieces[0][start.end() :]
    tail = pieces[-1][end:]
    pieces[-1] = pieces[-1][:end]
    groups: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        if groups[-1] and size + len(piece) > PART_CHARACTERS:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += len(piece)
    later_head = head.replace("</head>", _LATER_PART_STYLE + "</head>", 1)
    first_head = head.replace("</head>", _FIRST_PART_STYLE + "</head>", 1)
    return [(first_head if n == 0 else later_head) + "".join(group) + tail for n, group in enumerate(groups)]


def _render_in_parts(parts: list[str]) -> RenderedPdf:
    """Each part rendered and written on its own (its layout freed before the next), the pages put
    together with pikepdf, and "Page n of N" laid over every page from a document of page numbers
    alone, with the same page sizes and margins."""
    with contextlib.ExitStack() as sources:
        return _merge(parts, sources)


def _merge(parts: list[str], sources: contextlib.ExitStack) -> RenderedPdf:
    # The parts' PDFs stay open until the whole is saved: pikepdf copies their pages' streams then.
    merged = sources.enter_context(pikepdf.new())
    outline: list[tuple[str, int, int]] = []  # title, depth, page index
    for n, part in enumerate(parts):
        document = _render(part)
        offset = len(merged.pages)
        # Later parts have no title of their own (the <h1> is on the cover): their headings go
        # under the first part's, as they would in one document.
        outline.extend(_outline(document.make_bookmark_tree(), offset, depth=1 if n and outline else 0))
        data = document.write_pdf()
        del document
        source = sources.enter_context(pikepdf.open(io.BytesIO(data)))
        merged.pages.extend(source.pages)
        if n == 0:
            merged.docinfo = merged.copy_foreign(source.docinfo)  # type: ignore[assignment]  # a Dictionary
    wide = [float(page.mediabox[2]) > float(page.mediabox[3]) for page in merged.pages]
    head = parts[0][: parts[0].find("</head>")].replace(_FIRST_PART_STYLE, "")
    numbers = head + _NUMBERS_STYLE + "</head><body>"
    numbers += "".join('<div class="wide"></div>' if w else "<div></div>" for w in wide) + "</body></html>"
    numbered = _render(numbers).write_pdf()
    overlay = sources.enter_context(pikepdf.open(io.BytesIO(numbered)))
    if len(overlay.pages) != len(merged.pages):
        raise RuntimeError("the page numbers came out on a different number of pages")
    for page, number_page in zip(merged.pages, overlay.pages, strict=True):
        page.add_overlay(number_page, None)
    _outline_write(merged, outline)
    output = io.BytesIO()
    merged.save(output)
    logger.info("A CSCR of %s pages was rendered in %s parts.", len(wide), len(parts))
    return RenderedPdf(pdf=output.getvalue(), pages=len(wide))


def _outline(bookmarks, offset: int, depth: int = 0) -> list[tuple[str, int, int]]:
    """WeasyPrint's bookmark tree as (title, depth, page index in the whole report)."""
    found = []
    for label, (page, _x, _y), children, _state in bookmarks:
        found.append((label, depth, page + offset))
        found.extend(_outline(children, offset, depth + 1))
    return found


def _outline_write(pdf: pikepdf.Pdf, entries: list[tuple[str, int, int]]) -> None:
    with pdf.open_outline() as outline:
        parents: list[pikepdf.OutlineItem] = []
        for title, depth, page in entries:
            item = pikepdf.OutlineItem(title, page)
            del parents[depth:]
            (parents[-1].children if parents else outline.root).append(item)
            parents.append(item)


def render_html(context: dict) -> str:
    return render_to_string(TEMPLATE, context)


# --- the content ------------------------------------------------------------------------------------


def _labels(matrix: RiskMatrix | None) -> dict[str, dict[str, str]]:
    if matrix is None:
        return {"severities": {}, "likelihoods": {}}
    return {
        scale: {item["code"]: item["label"] for item in getattr(matrix, scale)}
        for scale in ("severities", "likelihoods")
    }


def _assessment(values: dict, labels: dict, acceptability: dict) -> dict:
    rating = values.get("rating")
    return {
        "severity": labels["severities"].get(values.get("severity") or "", values.get("severity") or ""),
        "likelihood": labels["likelihoods"].get(values.get("likelihood") or "", values.get("likelihood") or ""),
        "rating": rating,
        "acceptability": acceptability.get(str(rating), "") if rating else "",
    }


def _evidence_label(entry: dict) -> str:
    return f"{entry['title']} (revision {entry['revision']})"


def _hazards(snapshot: dict, labels: dict, acceptability: dict, names: dict[str, str]) -> list[dict]:
    sources = dict(DeploymentHazard.Source.choices)
    statuses = dict(DeploymentHazard.Status.choices)
    decisions = dict(DeploymentHazard.TransferDecision.choices)
    kinds = dict(HazardControl.Kind.choices)
    hazards = []
    for hazard in snapshot.get("hazards", []):
        residual = hazard.get("residual") or {}
        hazards.append(
            {
                **hazard,
                "source_label": sources.get(hazard["source"], hazard["source"]),
                "status_label": statuses.get(hazard["status"], hazard["status"]),
                "transfer_decision_label": decisions.get(hazard.get("transfer_decision") or "", ""),
                "initial_view": _assessment(hazard.get("initial") or {}, labels, acceptability),
                "residual_view": {
                    **_assessment(residual, labels, acceptability),
                    "justification": residual.get("justification", ""),
                    "operating_limits": residual.get("operating_limits", ""),
                },
                "controls_view": [
                    {
                        **control,
                        "kind_label": kinds.get(control["kind"], control["kind"]),
                        "owner_name": names.get(control["owner"], control["owner"]),
                        "evidence_labels": [_evidence_label(e) for e in control.get("evidence", [])],
                        "cites_certificate_register": bool(control.get("certificate_register")),
                    }
                    for control in hazard.get("controls", [])
                ],
                "actions_view": [
                    {**action, "owner_name": names.get(action["owner"], action["owner"])}
                    for action in hazard.get("actions", [])
                ],
            }
        )
    return hazards


def _distribution(hazards: list[dict], key: str) -> list[dict]:
    applicable = [h for h in hazards if h.get("applicable", True)]
    counts = Counter((h.get(key) or {}).get("rating") for h in applicable)
    rows = [{"rating": rating, "count": counts.get(rating, 0)} for rating in (5, 4, 3, 2, 1)]
    rows.append({"rating": None, "count": counts.get(None, 0)})
    return rows


def _matrix_table(matrix: RiskMatrix | None) -> dict:
    if matrix is None:
        return {"severities": [], "rows": [], "acceptability": []}
    return {
        "severities": [s["label"] for s in matrix.severities],
        "rows": [
            {
                "likelihood": likelihood["label"],
                "ratings": [matrix.rating(s["code"], likelihood["code"]) for s in matrix.severities],
            }
            for likelihood in reversed(matrix.likelihoods)
        ],
        "acceptability": sorted(matrix.acceptability.items(), reverse=True),
    }


def _relied_on(snapshot: dict) -> dict[tuple[int, int], dict]:
    """Each evidence revision the snapshot names: from controls, and the newest of each item."""
    revisions: dict[tuple[int, int], dict] = {}
    for hazard in snapshot.get("hazards", []):
        for control in hazard.get("controls", []):
            for entry in control.get("evidence", []):
                key = (entry["evidence_id"], entry["revision"])
                item = revisions.setdefault(key, {**entry, "relied_on_by": [], "current": False})
                if hazard["reference"] not in item["relied_on_by"]:
                    item["relied_on_by"].append(hazard["reference"])
    for entry in snapshot.get("evidence_current", []):
        key = (entry["evidence_id"], entry["revision"])
        revisions.setdefault(key, {**entry, "relied_on_by": [], "current": True})["current"] = True
    return revisions


def evidence_index(sign_off: SignOff) -> list[dict]:
    """The evidence revisions the snapshot names, each with its requirement codes, files (name,
    size, SHA-256 as signed) and the review outcome for this deployment as it stood at signing.
    `storage_name` is the stored file for each signed hash, found by revision and SHA-256."""
    relied_on = _relied_on(sign_off.snapshot)
    if not relied_on:
        return []
    match = Q()
    for evidence_id, number in relied_on:
        match |= Q(evidence_id=evidence_id, number=number)
    revisions = {
        (r.evidence_id, r.number): r for r in EvidenceRevision.objects.filter(match).select_related("evidence")
    }
    stored = {
        (f.revision.evidence_id, f.revision.number, f.sha256): f
        for f in EvidenceFile.objects.filter(revision__in=revisions.values()).select_related("revision")
    }
    reviews: dict[int, Review] = {}
    for review in (
        Review.objects.filter(
            link__deployment_id=sign_off.deployment_id,
            revision__in=revisions.values(),
            created_at__lte=sign_off.signed_at,
        )
        .select_related("reviewer_organisation")
        .order_by("-created_at", "-id")
    ):
        reviews.setdefault(review.revision_id, review)
    decisions = {Review.Decision.ACCEPT: "Accepted", Review.Decision.REQUEST_CHANGES: "Changes requested"}
    index = []
    for (evidence_id, number), entry in sorted(relied_on.items()):
        revision = revisions.get((evidence_id, number))
        review = reviews.get(revision.pk) if revision else None
        files = []
        for file in entry.get("files", []):
            row = stored.get((evidence_id, number, file["sha256"]))
            files.append(
                {**file, "storage_name": row.storage_name if row else "", "scan_status": row.scan_status if row else ""}
            )
        index.append(
            {
                "evidence_id": evidence_id,
                "title": entry["title"],
                "revision": number,
                "requirement_codes": list(revision.evidence.requirement_codes) if revision else [],
                "effective_date": revision.effective_date.isoformat() if revision else None,
                "expiry_date": entry.get("expiry_date"),
                "files": files,
                "review": {
                    "outcome": str(decisions.get(review.decision, review.decision)),
                    "by": review.reviewer_organisation.name,
                    "on": review.created_at.date().isoformat(),
                }
                if review
                else None,
                "relied_on_by": entry["relied_on_by"],
                "newest_at_signing": entry["current"],
            }
        )
    return index


def _people(deployment) -> dict[str, list[str]]:
    roles = {Role.CSO: "cso", Role.DEPLOYMENT_LEAD: "leads", Role.EXECUTIVE_APPROVER: "executives"}
    people: dict[str, list[str]] = {key: [] for key in roles.values()}
    for membership in (
        Membership.objects.filter(organisation=deployment.organisation, role__in=list(roles))
        .select_related("user")
        .order_by("user__full_name", "user__email")
    ):
        people[roles[membership.role]].append(membership.user.full_name or membership.user.email)
    return people


def _incidents(deployment) -> list[dict]:
    statuses = dict(SafetyIncident.Status.choices)
    return [
        {
            "reference": i.reference,
            "reported_on": i.reported_on,
            "status": statuses.get(i.status, i.status),
            "summary": i.summary,
            "made_safe_on": i.made_safe_on,
            "closed_on": i.closed_on,
            "hazards": [h.reference for h in i.hazards.all()],
        }
        for i in SafetyIncident.objects.filter(deployment=deployment)
        .prefetch_related("hazards")
        .order_by("-reported_on", "-id")
    ]


def _certificates(deployment) -> list[dict]:
    """The registered certificates the deployment relies on at issue, soonest expiry first within
    each environment: a go-live control of the certificate expiry hazard."""
    return [
        {
            "name": entry.name,
            "purpose": entry.get_purpose_display(),
            "environment": entry.get_environment_display(),
            "held_by": "Supplier" if entry.product_version_id else "Deploying organisation",
            "owner": entry.owner.full_name or entry.owner.email,
            "not_after": entry.current_revision.not_after,
            "fingerprint": entry.current_revision.fingerprint_sha256,
        }
        for entry in certificates_of_deployment(deployment)
    ]


def _document_control(job: CSCRBundleJob, snapshot: dict) -> dict:
    previous = job.previous
    if previous is None:
        return {"previous": None, "changes": []}
    if previous.sign_off_id == job.sign_off_id:
        changes = ["No change to the hazard log: this CSCR covers the same sign-off for another lifecycle phase."]
    else:
        changes = snapshot_changes(previous.sign_off.snapshot, snapshot) or ["No change to the hazard log's content."]
    more = max(0, len(changes) - MAX_CHANGES_LISTED)
    return {
        "previous": {
            "version": previous.version,
            "issued_at": previous.completed_at,
            "snapshot_sha256": previous.sign_off.snapshot_sha256,
            "bundle_sha256": previous.bundle_sha256,
        },
        "changes": changes[:MAX_CHANGES_LISTED],
        "more_changes": more,
    }


def cscr_context(
    job: CSCRBundleJob,
    *,
    issued_at: datetime,
    signer_subject: str,
    signer_fingerprint: str,
    evidence: list[dict] | None = None,
) -> dict[str, Any]:
    """Everything the CSCR template shows, from the job's sign-off snapshot."""
    sign_off = job.sign_off
    snapshot = sign_off.snapshot
    deployment = job.deployment
    matrix = RiskMatrix.objects.filter(version=(snapshot.get("risk_matrix") or {}).get("version")).first()
    acceptability = matrix.acceptability if matrix else {}
    labels = _labels(matrix)
    codes = {snapshot["deployment"]["organisation"], snapshot["product_version"]["supplier"]}
    for hazard in snapshot.get("hazards", []):
        codes |= {c["owner"] for c in hazard.get("controls", [])} | {a["owner"] for a in hazard.get("actions", [])}
    names = dict(Organisation.objects.filter(ods_code__in=codes).values_list("ods_code", "name"))
    hazards = _hazards(snapshot, labels, acceptability, names)
    applicable = [h for h in hazards if h.get("applicable", True)]
    controls = [c for h in applicable for c in h["controls_view"]]
    kinds = Counter(c["kind_label"] for c in controls)
    go_live = sign_off.go_live if hasattr(sign_off, "go_live") else None  # absent until top management authorises
    evidence = evidence if evidence is not None else evidence_index(sign_off)
    phase = phase_context(job)
    return {
        **phase,
        "part_hazards": PART_HAZARDS,
        "sections": SECTIONS + phase["phase_sections"],
        "job": job,
        "issued_at": issued_at,
        "phase": job.get_lifecycle_phase_display(),
        "snapshot": snapshot,
        "snapshot_sha256": sign_off.snapshot_sha256,
        "sign_off": sign_off,
        "deployment": deployment,
        "organisation": deployment.organisation,
        "supplier_name": names.get(snapshot["product_version"]["supplier"], snapshot["product_version"]["supplier"]),
        "product": snapshot["product_version"],
        "sites": list(deployment.sites.values_list("name", flat=True)),
        "interfaces": INTERFACES,
        "people": _people(deployment),
        "risk_plan_summary": getattr(getattr(deployment, "risk_plan", None), "summary", ""),
        "matrix": matrix,
        "matrix_table": _matrix_table(matrix),
        "hazards": hazards,
        "not_applicable": [h for h in hazards if not h.get("applicable", True)],
        "source_counts": Counter(h["source_label"] for h in hazards).most_common(),
        "initial_distribution": _distribution(hazards, "initial"),
        "residual_distribution": _distribution(hazards, "residual"),
        "control_kinds": sorted(kinds.items()),
        "controls_total": len(controls),
        "controls_verified": sum(1 for c in controls if c.get("verified")),
        "open_actions": [
            {"hazard": h["reference"], **a} for h in applicable for a in h["actions_view"] if not a.get("completed")
        ],
        "open_hazards": [h for h in applicable if h["status"] == DeploymentHazard.Status.OPEN],
        "unverified_controls": [
            {"hazard": h["reference"], **c} for h in applicable for c in h["controls_view"] if not c.get("verified")
        ],
        "transferred": [h for h in hazards if h["source"] == DeploymentHazard.Source.SUPPLIER],
        "residual_risks": applicable,
        "incidents": _incidents(deployment),
        "go_live": go_live,
        "certificates": _certificates(deployment),
        # The controls whose evidence is the register's monitoring, as the CSO signed them.
        "register_citations": [
            {"hazard": h["reference"], **c}
            for h in applicable
            for c in h["controls_view"]
            if c["cites_certificate_register"]
        ],
        "evidence": evidence,
        "document_control": _document_control(job, snapshot),
        "signer_subject": signer_subject,
        "signer_fingerprint": signer_fingerprint,
        "tsa_url": settings.CSCR_TSA_URL,
    }
