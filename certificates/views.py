"""Screens of the certificate register: a deployment's or product version's register, adding and
renewing a certificate, one entry with its history, and the whole register with its exports."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.generic import FormView, TemplateView, View

from certificates import exports, permissions, selectors, services
from certificates.forms import CertificateEntryForm, CertificateRenewForm, RegisterFilterForm
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import add_service_errors
from nir_portal.permissions import get_visible_or_404
from nir_portal.request_limits import BodyLimit
from onboarding.selectors import deployments_visible_to


def _upload(uploaded) -> services.Upload:
    # Read at most one byte past the limit: enough for the service to refuse an oversized file.
    return services.Upload(name=uploaded.name, data=uploaded.read(settings.CERTIFICATE_MAX_FILE_BYTES + 1))


class HolderMixin:
    """Resolves the deployment or product version in the URL, scoped to the person (404 outside)."""

    holder_kind = "deployment"

    def holder(self) -> dict:
        if self.holder_kind == "product_version":
            pk = self.kwargs.get("version_pk", self.kwargs.get("pk"))
            visible = selectors.product_versions_visible_to(self.request.user)
            return {"product_version": get_visible_or_404(self.request, visible, pk=pk)}
        pk = self.kwargs.get("deployment_pk", self.kwargs.get("pk"))
        return {"deployment": get_visible_or_404(self.request, deployments_visible_to(self.request.user), pk=pk)}


class DeploymentCertificatesView(HolderMixin, TemplateView):
    template_name = "certificates/entry_list.html"
    holder_kind = "deployment"

    def get_context_data(self, **kwargs):
        holder = self.holder()
        deployment = holder["deployment"]
        entries = selectors.entries_of_deployment(user=self.request.user, deployment=deployment)
        return {
            **super().get_context_data(**kwargs),
            **holder,
            "rows": selectors.register_rows(entries.order_by("current_revision__not_after", "name")),
            "can_keep": permissions.can_keep_certificates(self.request.user, deployment=deployment),
        }


class ProductVersionCertificatesView(HolderMixin, TemplateView):
    template_name = "certificates/entry_list.html"
    holder_kind = "product_version"

    def get_context_data(self, **kwargs):
        holder = self.holder()
        version = holder["product_version"]
        entries = selectors.entries_of_product_version(user=self.request.user, product_version=version)
        return {
            **super().get_context_data(**kwargs),
            **holder,
            "rows": selectors.register_rows(entries.order_by("current_revision__not_after", "name")),
            "can_keep": permissions.can_keep_certificates(self.request.user, product_version=version),
        }


class CertificateCreateView(HolderMixin, FormView):
    request_body_limit = BodyLimit("CERTIFICATE_MAX_FILE_BYTES")
    template_name = "certificates/entry_form.html"
    form_class = CertificateEntryForm
    holder_kind = "deployment"

    def dispatch(self, request, *args, **kwargs):
        self.held_by = self.holder()
        if not permissions.can_keep_certificates(request.user, **self.held_by):
            raise permissions.keep_refusal(request.user, **self.held_by)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        organisation = permissions.holder_organisation(**self.held_by)
        return {**super().get_form_kwargs(), "owners": selectors.owner_choices(organisation)}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **self.held_by}

    def form_valid(self, form):
        data = {k: v for k, v in form.cleaned_data.items() if k != "file"}
        try:
            entry = services.certificate_entry_create(
                actor=self.request.user, **self.held_by, **data, upload=_upload(form.cleaned_data["file"])
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Certificate {entry.name} has been added to the register.")
        return redirect(entry)


class CertificateDetailView(TemplateView):
    template_name = "certificates/entry_detail.html"

    def get_context_data(self, **kwargs):
        entry = get_visible_or_404(
            self.request, selectors.entry_detail(user=self.request.user, pk=kwargs["pk"]), pk=kwargs["pk"]
        )
        now = timezone.now()
        return {
            **super().get_context_data(**kwargs),
            "entry": entry,
            "revision": entry.current_revision,
            "flags": entry.current_revision.flags(now) if entry.current_revision else [],
            "days_left": entry.current_revision.days_left(now) if entry.current_revision else None,
            "can_keep": permissions.can_keep_entry(self.request.user, entry),
        }


class CertificateRenewView(FormView):
    request_body_limit = BodyLimit("CERTIFICATE_MAX_FILE_BYTES")
    template_name = "certificates/renew_form.html"
    form_class = CertificateRenewForm

    def dispatch(self, request, *args, **kwargs):
        self.entry = get_visible_or_404(
            request, selectors.certificate_entries_visible_to(request.user), pk=kwargs["pk"]
        )
        if not permissions.can_keep_entry(request.user, self.entry):
            raise permissions.keep_refusal(
                request.user, deployment=self.entry.deployment, product_version=self.entry.product_version
            )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "entry": self.entry}

    def form_valid(self, form):
        try:
            revision = services.certificate_entry_renew(
                actor=self.request.user, entry=self.entry, upload=_upload(form.cleaned_data["file"])
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Revision {revision.number} of {self.entry.name} is now the current one.")
        return redirect(self.entry)


class RegisterMixin:
    def register(self):
        self.form = RegisterFilterForm(self.request.GET or None)
        return selectors.register(user=self.request.user, within_days=self.form.within_days())


class RegisterView(RegisterMixin, TemplateView):
    """Every certificate the person may see, soonest expiry first, with a filter and exports."""

    template_name = "certificates/register.html"

    def get_context_data(self, **kwargs):
        rows = selectors.register_rows(self.register())
        return {
            **super().get_context_data(**kwargs),
            "form": self.form,
            "rows": rows,
            "query": self.request.GET.urlencode(),
        }


class RegisterExportView(RegisterMixin, View):
    """The register as filtered, as CSV or XLSX; every export is audited."""

    def get(self, request, fmt):
        data = exports.rows(selectors.register_rows(self.register()))
        audit_event_record(
            action="certificates.export",
            actor=request.user,
            organisation=request.active_organisation,
            object_type="certificates.register",
            changes={"format": fmt, "rows": len(data), "days": self.form.within_days()},
        )
        if fmt == "xlsx":
            response = HttpResponse(exports.to_xlsx(data), content_type=exports.XLSX_CONTENT_TYPE)
        else:
            response = HttpResponse(exports.to_csv(data), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="nir-certificate-register-{timezone.localdate():%Y%m%d}.{fmt}"'
        )
        return response
