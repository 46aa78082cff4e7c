"""Screens for evidence: the checklist, uploading, revising and submitting, the evidence page, and
the supplier's product-version page and carry-forward. Review, comments and downloads are in
review_views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import FormView, TemplateView, View

from nir_portal.accounts import permissions as account_permissions
from nir_portal.forms import add_service_errors
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import RoleRequired, get_visible_or_404
from nir_portal.request_limits import BodyLimit
from onboarding import permissions, selectors, uploads
from onboarding.forms import CarryForwardForm, EvidenceCreateForm, EvidenceReviseForm
from onboarding.models import EvidenceLink, ProductVersion, Requirement
from onboarding.services import evidence as evidence_services
from onboarding.services.framework import framework_current


class StreamingUploadMixin:
    """Installs the hashing, size-limited upload handler before the request body is read; the
    CSRF check then runs on the parsed form as usual. Signed-in people may send a body as large
    as the evidence limit; anyone else is held to the default before the body is read."""

    request_body_limit = BodyLimit("EVIDENCE_MAX_FILE_BYTES")

    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        request.upload_handlers = [uploads.HashingUploadHandler(request)]
        return csrf_protect(super().dispatch)(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        # Parsing the body (for the form's data) has run the handler by now.
        form.refused_uploads = self.upload_refusals()
        return form

    def upload_refusals(self) -> list[str]:
        """The handler's refusals (a file over the size limit), each with the file's name."""
        handlers = self.request.upload_handlers
        name = next((h.file_name for h in handlers if getattr(h, "file_name", None)), "")
        messages_ = [m for error in getattr(self.request, "upload_errors", []) for m in error.messages]
        return [f"{name}: {message}" if name else message for message in messages_]

    def stored_uploads(self, form) -> list[evidence_services.StoredUpload] | None:
        """Inspect every file, then store them; on any problem, put it on the form and store nothing."""
        if form.errors:
            return None
        inspected = []
        for uploaded in form.cleaned_data.get("files") or []:
            try:
                inspected.append((uploaded, uploads.inspect_upload(uploaded)))
            except ValidationError as error:
                form.add_error("files", f"{uploaded.name}: {' '.join(error.messages)}")
        if form.errors:
            return None
        return [
            evidence_services.StoredUpload(
                original_name=info.safe_name,
                storage_name=uploads.store_upload(uploaded, info),
                sha256=info.sha256,
                size=info.size,
                detected_type=info.detected_type,
            )
            for uploaded, info in inspected
        ]


def _providable(requirements, organisation) -> list[Requirement]:
    wanted = Requirement.ProvidedBy.SUPPLIER if organisation.is_supplier else Requirement.ProvidedBy.DEPLOYING
    return [r for r in requirements if r.provided_by in (wanted, Requirement.ProvidedBy.BOTH)]


class DeploymentChecklistView(TemplateView):
    """A deployment's onboarding checklist: the NHS task-list pattern, area by area."""

    template_name = "onboarding/checklist.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = get_visible_or_404(
            self.request, selectors.deployments_visible_to(self.request.user), pk=kwargs["pk"]
        )
        context["deployment"] = deployment
        context["checklist"] = selectors.deployment_checklist(user=self.request.user, deployment=deployment)
        context["can_contribute"] = permissions.can_contribute_as(
            self.request.user, self.request.active_organisation, deployment
        )
        return context


class EvidenceCreateView(StreamingUploadMixin, FormView):
    """Upload evidence for one deployment, or for a product version (supplier evidence that
    serves every deployment of the version)."""

    template_name = "onboarding/evidence_form.html"
    form_class = EvidenceCreateForm

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.deployment = self.product_version = None

    def _scope(self):
        organisation = self.request.active_organisation
        if organisation is None:
            raise Http404
        if "deployment_pk" in self.kwargs:
            parties = Q(organisation=organisation) | Q(product_version__product__supplier=organisation)
            self.deployment = get_visible_or_404(
                self.request,
                selectors.deployments_visible_to(self.request.user).filter(parties),
                pk=self.kwargs["deployment_pk"],
            )
            if not permissions.can_contribute_as(self.request.user, organisation, self.deployment):
                raise RoleRequired(permissions.CONTRIBUTE_EVIDENCE, self.deployment)
            framework = self.deployment.framework
        else:
            self.product_version = get_visible_or_404(
                self.request,
                ProductVersion.objects.filter(product__supplier=organisation).select_related("product"),
                pk=self.kwargs["version_pk"],
            )
            permissions.CONTRIBUTE_VERSION_EVIDENCE.require(self.request.user, self.product_version)
            framework = framework_current()
        if framework is None:
            raise Http404("No onboarding framework is published yet.")
        self.requirements = _providable(framework.requirements.select_related("area"), organisation)

    def get_form_kwargs(self):
        self._scope()
        kwargs = super().get_form_kwargs()
        kwargs["requirements"] = self.requirements
        wanted = self.request.GET.get("requirement")
        kwargs["initial"] = {"effective_date": timezone.localdate(), "requirement_codes": [wanted] if wanted else []}
        return kwargs

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "deployment": self.deployment,
            "product_version": self.product_version,
        }

    def form_valid(self, form):
        files = self.stored_uploads(form)
        if files is None:
            return self.form_invalid(form)
        data = form.cleaned_data
        try:
            evidence = evidence_services.evidence_create(
                actor=self.request.user,
                owner=self.request.active_organisation,
                title=data["title"],
                requirement_codes=data["requirement_codes"],
                statement=data["statement"],
                effective_date=data["effective_date"],
                files=files,
                deployment=self.deployment,
                product_version=self.product_version,
                submit=self.request.POST.get("action") != "draft",
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{evidence.title} has been saved.")
        tell_evidence_next_steps(
            self.request, evidence, files=files, submitted=self.request.POST.get("action") != "draft"
        )
        return redirect(evidence)


class EvidenceDetailView(TemplateView):
    template_name = "onboarding/evidence_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        evidence = get_visible_or_404(self.request, selectors.evidence_visible_to(self.request.user), pk=kwargs["pk"])
        context["evidence"] = evidence
        context["revisions"] = evidence.revisions.prefetch_related("files").select_related("uploaded_by")
        context["links"] = selectors.evidence_links_with_reviews(
            selectors.evidence_links_visible_to(self.request.user).filter(evidence=evidence)
        )
        context["can_change"] = permissions.CHANGE_EVIDENCE.allows(self.request.user, evidence)
        context["has_drafts"] = any(link.status == EvidenceLink.Status.DRAFT for link in context["links"])
        context["scan_holds"] = _scan_holds_for_reviewer(self.request.user, context["links"])
        return context


def _scan_holds_for_reviewer(user, links) -> list[dict]:
    """For the links waiting for this person's review: each revision that cannot be accepted yet
    because of its files' malware scan, with the links (one per deployment) it holds back."""
    waiting: dict[int, tuple[object, list[EvidenceLink]]] = {}
    for link in links:
        if link.revision_id and link.status == EvidenceLink.Status.SUBMITTED and permissions.can_review(user, link):
            waiting.setdefault(link.revision_id, (link.revision, []))[1].append(link)
    return [
        {"title": f"Revision {revision.number} cannot be accepted yet", "links": held, "hold": hold}
        for revision, held in waiting.values()
        if (hold := selectors.revision_scan_hold(revision))
    ]


class EvidenceReviseView(StreamingUploadMixin, FormView):
    template_name = "onboarding/evidence_revise.html"
    form_class = EvidenceReviseForm

    def get_form_kwargs(self):
        owned = selectors.evidence_visible_to(self.request.user).filter(
            owner__in=[m.organisation_id for m in account_permissions.memberships_of(self.request.user)]
        )
        self.evidence = get_visible_or_404(self.request, owned, pk=self.kwargs["pk"])
        permissions.CHANGE_EVIDENCE.require(self.request.user, self.evidence)
        self.latest = self.evidence.revisions.order_by("-number").first()
        kwargs = super().get_form_kwargs()
        kwargs["initial"] = {
            "based_on_revision": self.latest.number,
            "statement": self.latest.statement,
            "effective_date": timezone.localdate(),
        }
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)  # builds the form, which fetches the evidence
        links = selectors.evidence_links_with_reviews(
            selectors.evidence_links_visible_to(self.request.user).filter(evidence=self.evidence)
        )
        returned = [link for link in links if link.status == EvidenceLink.Status.CHANGES_REQUESTED]
        return {
            **context,
            "evidence": self.evidence,
            "latest": self.latest,
            "returned_links": returned,
        }

    def form_valid(self, form):
        files = self.stored_uploads(form)
        if files is None:
            return self.form_invalid(form)
        data = form.cleaned_data
        try:
            revision = evidence_services.evidence_revise(
                actor=self.request.user,
                evidence=self.evidence,
                statement=data["statement"],
                effective_date=data["effective_date"],
                files=files,
                based_on_revision=data["based_on_revision"],
                submit=self.request.POST.get("action") != "draft",
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Revision {revision.number} has been saved.")
        tell_evidence_next_steps(
            self.request, self.evidence, files=files, submitted=self.request.POST.get("action") != "draft"
        )
        return redirect(self.evidence)


class EvidenceSubmitView(View):
    def post(self, request, pk):
        owned = selectors.evidence_visible_to(request.user).filter(
            owner__in=[m.organisation_id for m in account_permissions.memberships_of(request.user)]
        )
        evidence = get_visible_or_404(request, owned, pk=pk)
        permissions.CHANGE_EVIDENCE.require(request.user, evidence)
        try:
            evidence_services.evidence_submit(actor=request.user, evidence=evidence)
            messages.success(request, "The evidence has been submitted for review.")
            tell_evidence_next_steps(request, evidence, files=[], submitted=True)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect(evidence)


def tell_evidence_next_steps(request, evidence, *, files: list, submitted: bool) -> None:
    """Upload, then the malware scan, then review by whoever each deployment's route names."""
    steps = []
    if files:
        steps.append(
            "Each file is checked for viruses. Nobody can open a file until it passes, usually within a few minutes."
        )
    if submitted:
        reviewers = selectors.evidence_reviewers_described(evidence)
        if reviewers:
            steps.append(f"{'Then it' if files else 'It'} is reviewed by {' and '.join(reviewers)}.")
            steps.append("The decision shows on this page. If changes are asked for, the reviewer's comment says what.")
    else:
        steps.append("It is a draft: nobody reviews it until you submit it for review.")
    tell_next_steps(request, steps)


class ProductVersionEvidenceView(TemplateView):
    """The supplier's page: evidence for one product version and where it stands per deployment."""

    template_name = "onboarding/product_version_evidence.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organisation_ids = [m.organisation_id for m in account_permissions.memberships_of(self.request.user)]
        versions = ProductVersion.objects.filter(product__supplier__in=organisation_ids).select_related(
            "product__supplier", "previous_version"
        )
        version = get_visible_or_404(self.request, versions, pk=kwargs["pk"])
        context["product_version"] = version
        context["evidence_list"] = selectors.product_version_evidence(user=self.request.user, product_version=version)
        context["deployment_count"] = version.deployments.count()
        return context


class EvidenceCarryForwardView(FormView):
    template_name = "onboarding/carry_forward.html"
    form_class = CarryForwardForm

    def get_form_kwargs(self):
        organisation_ids = [m.organisation_id for m in account_permissions.memberships_of(self.request.user)]
        versions = ProductVersion.objects.filter(
            product__supplier__in=organisation_ids, previous_version__isnull=False
        ).select_related("previous_version", "product")
        self.version = get_visible_or_404(self.request, versions, pk=self.kwargs["pk"])
        permissions.CARRY_FORWARD.require(self.request.user, self.version)
        codes = sorted(
            {
                code
                for codes in self.version.previous_version.evidence.values_list("requirement_codes", flat=True)
                for code in codes
            }
        )
        return {**super().get_form_kwargs(), "codes": codes}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "product_version": self.version}

    def form_valid(self, form):
        try:
            carried = evidence_services.evidence_carry_forward(
                actor=self.request.user, to_version=self.version, changed_codes=form.cleaned_data["changed_codes"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"{len(carried)} evidence item(s) carried forward to {self.version}.")
        return redirect("onboarding:product-version-evidence", pk=self.version.pk)
