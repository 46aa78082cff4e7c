"""Screens for CSCR bundles: a deployment's bundles and the request for one, a job's progress (a
fragment the page polls, no inline script), the permission-checked and audited download, and the
public page where anyone checks a bundle.

Every object is fetched through a `..._visible_to(user)` selector: another organisation's
deployment or job is a 404, as is a person who may see the deployment but not its bundles."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import FormView, TemplateView, View

from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.client_ip import client_ip
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import get_visible_or_404
from nir_portal.request_limits import BodyLimit
from onboarding.uploads import HashingUploadHandler
from safety import cscr_services
from safety import selectors as safety_selectors
from safety.cscr import permissions, selectors, signing, verification
from safety.cscr.forms import BundleRequestForm, BundleVerifyForm
from safety.models import CSCRBundleJob

VERIFY_RATE_LIMIT = 30  # checks per address per window: each one validates two signatures
VERIFY_RATE_WINDOW_SECONDS = 600


def _deployment(request, pk: int):
    return get_visible_or_404(request, selectors.deployments_with_bundles_visible_to(request.user), pk=pk)


def _job(request, pk: int) -> CSCRBundleJob:
    return get_visible_or_404(request, selectors.bundle_jobs_visible_to(request.user), pk=pk)


def _crumbs(deployment) -> list[tuple[str, str]]:
    return [
        (deployment.get_absolute_url(), deployment.name),
        (reverse("safety:sign-off", kwargs={"pk": deployment.pk}), "Sign-off"),
        (reverse("cscr:bundle-list", kwargs={"pk": deployment.pk}), "Safety case bundles"),
    ]


class BundleListView(TemplateView):
    """A deployment's CSCR bundles, newest first, and the form to produce one."""

    template_name = "cscr/bundle_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = _deployment(self.request, kwargs["pk"])
        can_request = permissions.can_request_bundle(self.request.user, deployment)
        # What was chosen before a detour to re-authenticate comes back for the person to confirm.
        draft = reauth.form_draft_take(self.request, form_path=self.request.path) if can_request else {}
        context.update(
            deployment=deployment,
            jobs=selectors.bundle_jobs_for_deployment(user=self.request.user, deployment=deployment),
            sign_off=safety_selectors.latest_sign_off(user=self.request.user, deployment=deployment),
            can_request=can_request,
            has_recent_mfa=reauth.has_recent_mfa(self.request),
            form=BundleRequestForm(initial=draft) if can_request else None,
            crumbs=_crumbs(deployment)[:2],
        )
        return context


class BundleRequestView(reauth.RecentMFARequiredMixin, View):
    """Produce the bundle of the current sign-off: a job row now, the work in a worker. Issuing the
    safety case binds the person, so a stale session is sent to enter an authenticator code and
    comes back to the bundle list's form."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if request.method.lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.REQUEST_BUNDLE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def reauth_form_path(self) -> str:
        return reverse("cscr:bundle-list", kwargs={"pk": self.deployment.pk})

    def post(self, request, pk):
        deployment = self.deployment
        form = BundleRequestForm(request.POST or {"lifecycle_phase": CSCRBundleJob.Phase.DEPLOYMENT})
        data = form.cleaned_data if form.is_valid() else {"lifecycle_phase": CSCRBundleJob.Phase.DEPLOYMENT}
        try:
            job, created = cscr_services.bundle_request(
                actor=request.user,
                deployment=deployment,
                lifecycle_phase=data["lifecycle_phase"],
                include_evidence=data.get("include_evidence", False),
                mfa_verified_at=reauth.last_mfa_at(request),
            )
        except ValidationError as error:
            if reauth.is_reauthentication_refusal(error):
                return reauth.send_to_reauthenticate(request, form_path=self.reauth_form_path())
            messages.error(request, " ".join(error.messages))
            return redirect("cscr:bundle-list", pk=deployment.pk)
        except PermissionDenied:
            raise Http404 from None
        if created:
            messages.success(request, f"Version {job.version} of the safety case report is being produced.")
            tell_next_steps(
                request,
                [
                    "The report, hazard log and evidence manifest are built and signed in the background, "
                    "usually within a few minutes.",
                    "This page shows the progress, and you are emailed when the signed bundle is ready to "
                    "download here (or if it cannot be built).",
                    "Anyone you send it to can check it on the public page for verifying a safety case bundle.",
                ],
            )
        else:
            messages.info(request, f"Version {job.version} already covers this sign-off and phase.")
        return redirect(job)


class BundleJobDetailView(TemplateView):
    template_name = "cscr/job_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = _job(self.request, kwargs["pk"])
        context.update(job=job, deployment=job.deployment, crumbs=_crumbs(job.deployment))
        return context


@method_decorator(never_cache, name="dispatch")
class BundleJobProgressView(BundleJobDetailView):
    """The job page's progress region alone, which static/js/portal.js fetches and swaps in."""

    template_name = "cscr/_job_progress.html"


class BundleDownloadView(View):
    """Bundles leave only through here: permission-checked, sent as an attachment, audited."""

    def get(self, request, pk):
        job = _job(request, pk)
        if job.status != CSCRBundleJob.Status.COMPLETE:
            messages.info(request, "The bundle is not ready yet.")
            return redirect(job)
        audit_event_record(
            action="cscr.download",
            actor=request.user,
            organisation=job.deployment.organisation,
            target=job,
            changes={"bundle_sha256": job.bundle_sha256, "version": job.version},
        )
        response = FileResponse(
            storages["cscr"].open(job.storage_name, "rb"),
            as_attachment=True,
            filename=cscr_services.bundle_download_name(job),
            content_type="application/zip",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


@method_decorator(login_not_required, name="dispatch")
class BundleVerifyView(FormView):
    """Anyone, signed in or not, checks a bundle: nothing uploaded is kept, and the database is
    not consulted, only the bundle and the certificate this portal signs with."""

    template_name = "cscr/verify.html"
    form_class = BundleVerifyForm
    # Public: anonymous visitors may send a bundle as large as this page accepts.
    request_body_limit = BodyLimit("CSCR_VERIFY_MAX_UPLOAD_BYTES", signed_in_only=False)

    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        # The size-limited handler must be in place before anything reads the body; the CSRF check
        # then runs on the parsed form (see onboarding.uploads.HashingUploadHandler).
        request.upload_handlers = [HashingUploadHandler(request, max_bytes=settings.CSCR_VERIFY_MAX_UPLOAD_BYTES)]
        return csrf_protect(super().dispatch)(request, *args, **kwargs)

    def _rate_limited(self) -> bool:
        key = f"cscr-verify:{client_ip(self.request) or ''}"
        cache.add(key, 0, VERIFY_RATE_WINDOW_SECONDS)
        try:
            return cache.incr(key) > VERIFY_RATE_LIMIT
        except ValueError:  # expired between add and incr
            return False

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        valid = form.is_valid()
        refused = [message for error in getattr(request, "upload_errors", []) for message in error.messages]
        if refused:  # too large: the file was not received, so say why rather than "choose a file"
            form.errors["bundle"] = form.error_class(refused)
            return self.form_invalid(form)
        return self.form_valid(form) if valid else self.form_invalid(form)

    def form_valid(self, form):
        if self._rate_limited():
            form.add_error(None, "Too many bundles have been checked from your address. Try again in 10 minutes.")
            return self.form_invalid(form)
        uploaded = form.cleaned_data["bundle"]
        try:
            report = verification.verify_bundle(uploaded.file, trust_roots=signing.trusted_certificates())
        except verification.BundleUnreadable as error:
            form.add_error("bundle", str(error))
            return self.form_invalid(form)
        finally:
            uploaded.close()
        return self.render_to_response(
            self.get_context_data(form=BundleVerifyForm(), report=report, file_name=uploaded.name[:200])
        )
