"""Screens for deciding on evidence: the review page (with the PARS exception), comments, file
downloads and the review queue."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, ListView, View

from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import add_service_errors
from nir_portal.permissions import RoleRequired, get_visible_or_404
from onboarding import permissions, selectors
from onboarding.forms import CommentForm, ParsExceptionForm, ReviewForm
from onboarding.models import EvidenceFile, EvidenceLink, ParsException, ParsReport, Requirement
from onboarding.services import evidence as evidence_services
from onboarding.services import pars as pars_services


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
        return {
            **super().get_form_kwargs(),
            "initial": {"expected_version": self.link.version},
            "revision": self.link.revision,
        }

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
            # Said before the decision: files not yet through the malware scan keep Accept away.
            scan_hold=context["form"].scan_hold,
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


class ReviewQueueView(ListView):
    template_name = "onboarding/review_queue.html"
    context_object_name = "links"
    paginate_by = 50

    def get_queryset(self):
        return selectors.review_queue_for(self.request.user)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sources": selectors.review_queue_sources(self.request.user)}


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
