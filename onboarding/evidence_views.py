"""Screens for evidence: the checklist, uploading and revising, review, comments, downloads and
the supplier's product-version page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import FormView, ListView, TemplateView, View

from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import add_service_errors
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import RoleRequired, get_visible_or_404
from nir_portal.request_limits import BodyLimit
from onboarding import permissions, selectors, uploads
from onboarding.forms import (
    CarryForwardForm,
    CommentForm,
    EvidenceCreateForm,
    EvidenceReviseForm,
    ParsExceptionForm,
    ReviewForm,
)
from onboarding.models import EvidenceFile, EvidenceLink, ParsException, ParsReport, ProductVersion, Requirement
from onboarding.services import evidence as evidence_services
from onboarding.services import pars as pars_services
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
        return context


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


def _visible_link(request, pk: int) -> EvidenceLink:
    return get_visible_or_404(request, selectors.evidence_links_visible_to(request.user), pk=pk)


class EvidenceReviewView(FormView):
    """One evidence item as a deployment sees it: revision, files, decisions and the thread."""

    template_name = "onboarding/evidence_review.html"
    form_class = ReviewForm

    def get_form_kwargs(self):
        self.link = selectors.evidence_links_with_reviews([_visible_link(self.request, self.kwargs["pk"])])[0]
        self.may_review = permissions.can_review(self.request.user, self.link)
        self.can_review = self.may_review and self.link.status == EvidenceLink.Status.SUBMITTED
        return {**super().get_form_kwargs(), "initial": {"expected_version": self.link.version}}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        link = self.link
        context.update(
            link=link,
            evidence=link.evidence,
            revision=link.revision,
            files=list(link.revision.files.all()) if link.revision else [],
            reviews=link.reviews.select_related("reviewer", "reviewer_organisation", "revision"),
            comments=link.comments.select_related("author", "organisation"),
            comment_form=CommentForm(),
            can_review=self.can_review,
            requirements=Requirement.objects.filter(
                framework=link.deployment.framework, code__in=link.evidence.requirement_codes
            ),
            pars_reports=list(ParsReport.objects.filter(revision=link.revision).select_related("file"))
            if link.revision
            else [],
            pars_exception=ParsException.objects.filter(link=link, revision=link.revision)
            .select_related("reviewer")
            .first(),
            pars_exception_form=kwargs.get("pars_exception_form")
            # What the reviewer typed before being sent to re-authenticate comes back here.
            or ParsExceptionForm(initial=reauth.form_draft_take(self.request, form_path=self.request.path)),
        )
        context["pars_failing"] = any(not saved.passed for saved in context["pars_reports"])
        return context

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        if not self.may_review:
            raise RoleRequired(permissions.review_rule(self.link), self.link)
        if not self.can_review:
            messages.error(request, "Only evidence waiting for review can be reviewed.")
            return redirect("onboarding:evidence-review", pk=self.link.pk)
        return self.form_valid(form) if form.is_valid() else self.form_invalid(form)

    def form_valid(self, form):
        try:
            evidence_services.evidence_review(actor=self.request.user, link=self.link, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Your decision has been recorded.")
        return redirect("onboarding:review-queue")


class ParsExceptionView(reauth.RecentMFARequiredMixin, EvidenceReviewView):
    """The reviewer records why a failing PARS report is acceptable; the review screen again. The
    exception binds the reviewer, so a stale session is sent to enter an authenticator code and
    comes back to the review screen with the justification kept."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if request.method.lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        # Refuse people who may not review before the guard's detour: a 403 naming the reviewer's
        # role (or a 404 once nothing waits for review), not a code prompt.
        self.get_form_kwargs()
        if not self.may_review:
            raise RoleRequired(permissions.review_rule(self.link), self.link)
        if not self.can_review:
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def reauth_form_path(self) -> str:
        return reverse("onboarding:evidence-review", kwargs={"pk": self.kwargs["pk"]})

    def post(self, request, *args, **kwargs):
        form = ParsExceptionForm(request.POST)
        if form.is_valid():
            try:
                pars_services.pars_exception_record(
                    actor=request.user,
                    link=self.link,
                    justification=form.cleaned_data["justification"],
                    mfa_verified_at=reauth.last_mfa_at(request),
                )
            except ValidationError as error:
                if reauth.is_reauthentication_refusal(error):
                    return reauth.send_to_reauthenticate(request, form_path=self.reauth_form_path())
                add_service_errors(form, error)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(request, "Your exception has been recorded; the evidence can now be accepted.")
                return redirect("onboarding:evidence-review", pk=self.link.pk)
        return self.render_to_response(self.get_context_data(pars_exception_form=form))


class EvidenceCommentView(View):
    def post(self, request, pk):
        link = _visible_link(request, pk)
        form = CommentForm(request.POST)
        if form.is_valid():
            try:
                evidence_services.evidence_comment_add(actor=request.user, link=link, text=form.cleaned_data["text"])
                messages.success(request, "Your comment has been added.")
            except PermissionDenied:
                raise Http404 from None
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
        else:
            messages.error(request, "Enter a comment of up to 2,000 characters.")
        return redirect("onboarding:evidence-review", pk=link.pk)


class EvidenceFileDownloadView(View):
    """Files leave only through here: permission-checked, released only after a clean scan,
    sent as an attachment, and every download is audited."""

    def get(self, request, pk):
        file = get_visible_or_404(request, selectors.evidence_files_visible_to(request.user), pk=pk)
        if file.scan_status != EvidenceFile.ScanStatus.CLEAN:
            state = file.get_scan_status_display().lower()
            messages.error(request, f"{file.original_name} cannot be downloaded: {state}.")
            return redirect(file.revision.evidence)
        audit_event_record(
            action="evidence_file.download",
            actor=request.user,
            organisation=request.active_organisation,
            target=file,
            changes={"sha256": file.sha256},
        )
        response = FileResponse(
            storages["evidence"].open(file.storage_name, "rb"),
            as_attachment=True,
            filename=file.original_name,
            content_type="application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ReviewQueueView(ListView):
    template_name = "onboarding/review_queue.html"
    context_object_name = "links"
    paginate_by = 50

    def get_queryset(self):
        return selectors.review_queue_for(self.request.user)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sources": selectors.review_queue_sources(self.request.user)}


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
