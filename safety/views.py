"""Screens for clinical safety: the hazard log and its exports, hazards, controls and actions, the
CSO's queue and sign-off, go-live authorisation, incidents, supplier hazards and the risk matrix.

Each view fetches through a `..._visible_to(user)` selector (another organisation's objects are a
404, so "forbidden" and "missing" look alike to outsiders), then checks the person may act before
showing a form: someone who sees the object but lacks the role gets a 403 naming the role that may
(`RoleRule.require`). A PermissionDenied raised later by a service (the role revoked meanwhile)
stays a 404."""

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView, View

from certificates.selectors import certificate_count_of_deployment
from nir_portal.accounts import reauth
from nir_portal.accounts.models import CSOProfile, Organisation
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import add_service_errors
from nir_portal.next_steps import tell_next_steps
from nir_portal.permissions import get_visible_or_404
from safety import exports, permissions, selectors, services
from safety.forms import (
    ActionForm,
    ControlForm,
    GoLiveForm,
    HazardEditForm,
    HazardFilterForm,
    IncidentForm,
    JournalEntryForm,
    LocalHazardForm,
    SignOffForm,
    SupplierHazardForm,
    TransferDecisionForm,
)
from safety.lifecycle.duties import registration_check_refusal
from safety.models import DeploymentHazard
from safety.snapshots import snapshot_sha256


def _deployment(request, pk: int):
    return get_visible_or_404(request, selectors.deployments_with_hazard_log_visible_to(request.user), pk=pk)


def _hazard(request, pk: int) -> DeploymentHazard:
    return get_visible_or_404(request, selectors.hazards_visible_to(request.user), pk=pk)


def _hazard_url(hazard: DeploymentHazard) -> str:
    return reverse("safety:hazard-detail", kwargs={"pk": hazard.pk})


def _log_crumbs(deployment) -> list[tuple[str, str]]:
    return [
        (deployment.get_absolute_url(), deployment.name),
        (reverse("safety:hazard-log", kwargs={"pk": deployment.pk}), "Hazard log"),
    ]


def _parties(deployment):
    """The organisations that may own a control or action: the deploying organisation and its supplier."""
    return Organisation.objects.filter(
        pk__in=[deployment.organisation_id, deployment.product_version.product.supplier_id]
    )


# --- the hazard log -----------------------------------------------------------------------------------


class HazardLogView(TemplateView):
    template_name = "safety/hazard_log.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = _deployment(self.request, kwargs["pk"])
        filter_form = HazardFilterForm(self.request.GET)
        filters = filter_form.cleaned_data if filter_form.is_valid() else {}
        context.update(
            deployment=deployment,
            filter_form=filter_form,
            is_filtered=any(filters.values()),
            hazards=list(
                selectors.hazard_log_summary(
                    user=self.request.user,
                    deployment=deployment,
                    rating=filters.get("rating"),
                    status=filters.get("status"),
                )
            ),
            # One reverse() for the whole table rather than one per row.
            hazard_url_prefix=reverse("safety:hazard-detail", kwargs={"pk": 0}).removesuffix("0/"),
            sign_off=selectors.latest_sign_off(user=self.request.user, deployment=deployment),
            can_edit=permissions.can_edit_hazard_log(self.request.user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context


class HazardLogExportView(View):
    """The whole log as CSV or XLSX. Permission-checked like the page, and every export audited."""

    def get(self, request, pk, fmt):
        deployment = _deployment(request, pk)
        rows = exports.hazard_log_rows(selectors.hazard_log(user=request.user, deployment=deployment))
        audit_event_record(
            action="hazard_log.export",
            actor=request.user,
            organisation=deployment.organisation,
            target=deployment,
            changes={"format": fmt, "hazards": len(rows)},
        )
        if fmt == "xlsx":
            content = exports.hazard_log_xlsx(rows, title=f"Hazard log {deployment.organisation.ods_code}")
            content_type = exports.XLSX_CONTENT_TYPE
        else:
            content, content_type = exports.hazard_log_csv(rows), "text/csv; charset=utf-8"
        filename = f"hazard-log-{deployment.organisation.ods_code}-{deployment.pk}-{timezone.localdate():%Y%m%d}.{fmt}"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class LocalHazardCreateView(FormView):
    template_name = "safety/local_hazard_form.html"
    form_class = LocalHazardForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.EDIT_HAZARD_LOG.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "deployment": self.deployment,
            "crumbs": _log_crumbs(self.deployment),
        }

    def form_valid(self, form):
        try:
            hazard = services.hazard_add_local(actor=self.request.user, deployment=self.deployment, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"{hazard.reference} has been added. Assess its risk next.")
        return redirect("safety:hazard-edit", pk=hazard.pk)


# --- one hazard ------------------------------------------------------------------------------------------


class HazardDetailView(TemplateView):
    template_name = "safety/hazard_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        hazard = get_visible_or_404(
            self.request, selectors.hazard_detail(user=self.request.user, pk=kwargs["pk"]), pk=kwargs["pk"]
        )
        deployment = hazard.deployment
        matrix = hazard.risk_matrix
        context.update(
            hazard=hazard,
            deployment=deployment,
            labels={
                "initial_severity": selectors.scale_label(matrix, "severities", hazard.initial_severity),
                "initial_likelihood": selectors.scale_label(matrix, "likelihoods", hazard.initial_likelihood),
                "residual_severity": selectors.scale_label(matrix, "severities", hazard.residual_severity),
                "residual_likelihood": selectors.scale_label(matrix, "likelihoods", hazard.residual_likelihood),
            },
            acceptability=matrix.acceptability,
            history=selectors.hazard_history(hazard),
            certificate_register_size=certificate_count_of_deployment(deployment)
            if any(c.cites_certificate_register for c in hazard.controls.all())
            else 0,
            re_review_requests=selectors.re_review_requests_open(deployment=deployment, hazard=hazard),
            can_edit=permissions.can_edit_hazard_log(self.request.user, deployment),
            can_decide=hazard.source == DeploymentHazard.Source.SUPPLIER
            and permissions.can_sign_off(self.request.user, deployment),
            can_re_review=permissions.can_sign_off(self.request.user, deployment),
            crumbs=_log_crumbs(deployment),
        )
        return context


class HazardFormMixin:
    """Fetches the hazard and refuses, with a 403 naming the role, anyone who may see it but not
    make this change."""

    def dispatch(self, request, *args, **kwargs):
        self.hazard = _hazard(request, kwargs["pk"])
        self.check_allowed(request.user, self.hazard)
        return super().dispatch(request, *args, **kwargs)

    def check_allowed(self, user, hazard: DeploymentHazard) -> None:
        permissions.EDIT_HAZARD_LOG.require(user, hazard.deployment)

    def get_initial(self):
        return {**super().get_initial(), "expected_version": self.hazard.version}

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "hazard": self.hazard,
            "deployment": self.hazard.deployment,
            "crumbs": [*_log_crumbs(self.hazard.deployment), (_hazard_url(self.hazard), self.hazard.reference)],
        }

    def call_service(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            self.call_service(form)
        except ValidationError as error:
            if reauth.is_reauthentication_refusal(error):
                return reauth.send_to_reauthenticate(self.request)
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, self.success_message)
        return redirect(_hazard_url(self.hazard))


class HazardEditView(HazardFormMixin, FormView):
    template_name = "safety/hazard_form.html"
    form_class = HazardEditForm
    success_message = "The hazard has been saved."

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "matrix": self.hazard.risk_matrix}

    def get_initial(self):
        return {**super().get_initial(), **{name: getattr(self.hazard, name) for name in services.HAZARD_FIELDS}}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "matrix": self.hazard.risk_matrix}

    def call_service(self, form):
        fields = {name: form.cleaned_data[name] for name in services.HAZARD_FIELDS}
        services.hazard_update(
            actor=self.request.user,
            hazard=self.hazard,
            expected_version=form.cleaned_data["expected_version"],
            **fields,
        )


class HazardTransferDecisionView(HazardFormMixin, reauth.RecentMFARequiredMixin, FormView):
    """The CSO's decision binds them, so a stale session is sent to enter an authenticator code."""

    template_name = "safety/transfer_decision_form.html"
    form_class = TransferDecisionForm
    success_message = "Your decision on the transferred hazard has been recorded."

    def check_allowed(self, user, hazard):
        if hazard.source != DeploymentHazard.Source.SUPPLIER:
            raise Http404("Only a transferred hazard takes a decision.")
        permissions.SIGN_OFF.require(user, hazard.deployment)

    def call_service(self, form):
        services.hazard_transfer_decide(
            actor=self.request.user,
            hazard=self.hazard,
            mfa_verified_at=reauth.last_mfa_at(self.request),
            **form.cleaned_data,
        )


class ControlCreateView(HazardFormMixin, FormView):
    template_name = "safety/control_form.html"
    form_class = ControlForm
    success_message = "The control has been added."

    def get_form_kwargs(self):
        deployment = self.hazard.deployment
        return {
            **super().get_form_kwargs(),
            "owners": _parties(deployment),
            "revisions": selectors.accepted_evidence_revisions(deployment=deployment),
        }

    def get_initial(self):
        return {**super().get_initial(), "owner": self.hazard.deployment.organisation_id}

    def call_service(self, form):
        data = form.cleaned_data
        services.control_save(
            actor=self.request.user,
            hazard=self.hazard,
            expected_version=data["expected_version"],
            kind=data["kind"],
            description=data["description"],
            owner=data["owner"],
            is_verified=data["is_verified"],
            evidence_revisions=list(data["evidence_revisions"]),
            cites_certificate_register=data["cites_certificate_register"],
        )


class ActionCreateView(HazardFormMixin, FormView):
    template_name = "safety/action_form.html"
    form_class = ActionForm
    success_message = "The action has been added."

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "owners": _parties(self.hazard.deployment)}

    def get_initial(self):
        return {**super().get_initial(), "owner": self.hazard.deployment.organisation_id}

    def call_service(self, form):
        services.action_add(actor=self.request.user, hazard=self.hazard, **form.cleaned_data)


class ActionCompleteView(View):
    def post(self, request, pk):
        action = get_visible_or_404(request, selectors.actions_visible_to(request.user), pk=pk)
        permissions.EDIT_HAZARD_LOG.require(request.user, action.deployment)
        try:
            services.action_complete(actor=request.user, action=action)
            messages.success(request, "The action has been marked complete.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except PermissionDenied:
            raise Http404 from None
        if action.hazard_id:
            return redirect("safety:hazard-detail", pk=action.hazard_id)
        return redirect("safety:sign-off", pk=action.deployment_id)


# --- the CSO's queue, sign-off and go-live ----------------------------------------------------------------


class ReviewQueueView(TemplateView):
    template_name = "safety/review_queue.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "queue": selectors.cso_review_queue(self.request.user)}


def _registration_stale(profile) -> str:
    """Why the CSO's registration check is too old to sign with ("" when it is not)."""
    if profile is None:
        return ""
    try:
        registration_check_refusal(profile)
    except ValidationError as error:
        return error.messages[0]
    return ""


class SignOffView(reauth.RecentMFARequiredMixin, FormView):
    """The current sign-off, what blocks a new one, and the CSO's form. Signing binds the CSO, so it
    needs an MFA code entered within the last few minutes; a stale session is sent to enter one,
    and what was typed is kept for when they return."""

    template_name = "safety/sign_off.html"
    form_class = SignOffForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        self.can_sign = permissions.can_sign_off(request.user, self.deployment)
        if request.method == "POST":
            permissions.SIGN_OFF.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, deployment = self.request.user, self.deployment
        profile = CSOProfile.objects.filter(user=user).first() if self.can_sign else None
        context.update(
            deployment=deployment,
            sign_off=selectors.latest_sign_off(user=user, deployment=deployment),
            earlier=selectors.sign_offs_visible_to(user).filter(deployment=deployment)[1:20],
            blockers=services.sign_off_blockers(deployment),
            re_review_requests=selectors.re_review_requests_open(deployment=deployment),
            can_sign=self.can_sign,
            has_registration=profile is not None,
            registration_stale=_registration_stale(profile),
            has_recent_mfa=reauth.has_recent_mfa(self.request),
            can_authorise=permissions.can_authorise_go_live(user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context

    def form_valid(self, form):
        try:
            services.sign_off_create(
                actor=self.request.user,
                deployment=self.deployment,
                statement=form.cleaned_data["statement"],
                conditions=form.cleaned_data["conditions"],
                mfa_verified_at=reauth.last_mfa_at(self.request),
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, "You have signed off the hazard log.")
        organisation = self.deployment.organisation.name
        tell_next_steps(
            self.request,
            [
                f"An executive approver at {organisation} reviews the residual risk and authorises go-live.",
                "A change to the hazard log or to the evidence it relies on supersedes this sign-off; "
                "you would then sign off again.",
                "You can now produce the signed safety case report (CSCR bundle) from this page.",
            ],
        )
        return redirect("safety:sign-off", pk=self.deployment.pk)


class SignOffDetailView(TemplateView):
    """A sign-off as signed: the canonical snapshot in readable form, the raw JSON and its hash."""

    template_name = "safety/sign_off_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sign_off = get_visible_or_404(self.request, selectors.sign_offs_visible_to(self.request.user), pk=kwargs["pk"])
        snapshot = sign_off.snapshot
        context.update(
            sign_off=sign_off,
            deployment=sign_off.deployment,
            snapshot=snapshot,
            raw_json=json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False),
            hash_matches=snapshot_sha256(snapshot) == sign_off.snapshot_sha256,
            crumbs=[
                (sign_off.deployment.get_absolute_url(), sign_off.deployment.name),
                (reverse("safety:sign-off", kwargs={"pk": sign_off.deployment_id}), "Sign-off"),
            ],
        )
        return context


class GoLiveView(reauth.RecentMFARequiredMixin, FormView):
    """Top management authorises go-live and accepts the residual risk the CSO signed off; it binds
    the approver, so a stale session is sent to enter an authenticator code first."""

    template_name = "safety/go_live.html"
    form_class = GoLiveForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.AUTHORISE_GO_LIVE.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        user, deployment = self.request.user, self.deployment
        residual = selectors.hazard_log(user=user, deployment=deployment).filter(
            is_applicable=True, residual_rating__gte=2
        )
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "sign_off": selectors.latest_sign_off(user=user, deployment=deployment),
            "residual_hazards": residual,
            "crumbs": [(deployment.get_absolute_url(), deployment.name)],
        }

    def form_valid(self, form):
        try:
            services.go_live_authorise(
                actor=self.request.user,
                deployment=self.deployment,
                mfa_verified_at=reauth.last_mfa_at(self.request),
                **form.cleaned_data,
            )
        except ValidationError as error:
            return self.form_invalid_or_reauthenticate(form, error)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, "Go-live is authorised and the residual risk accepted.")
        return redirect(self.deployment)


# --- incidents ---------------------------------------------------------------------------------------------


class IncidentListView(TemplateView):
    template_name = "safety/incident_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployment = _deployment(self.request, kwargs["pk"])
        context.update(
            deployment=deployment,
            incidents=selectors.incidents_for_deployment(user=self.request.user, deployment=deployment),
            can_report=permissions.can_report_incident(self.request.user, deployment),
            crumbs=[(deployment.get_absolute_url(), deployment.name)],
        )
        return context


class IncidentCreateView(FormView):
    template_name = "safety/incident_form.html"
    form_class = IncidentForm

    def dispatch(self, request, *args, **kwargs):
        self.deployment = _deployment(request, kwargs["pk"])
        permissions.REPORT_INCIDENT.require(request.user, self.deployment)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        hazards = selectors.hazards_visible_to(self.request.user).filter(deployment=self.deployment).order_by("number")
        return {**super().get_form_kwargs(), "hazards": hazards}

    def get_initial(self):
        return {"reported_on": timezone.localdate(), "system_release": str(self.deployment.product_version)}

    def get_context_data(self, **kwargs):
        deployment = self.deployment
        return {
            **super().get_context_data(**kwargs),
            "deployment": deployment,
            "crumbs": [
                (deployment.get_absolute_url(), deployment.name),
                (reverse("safety:incident-list", kwargs={"pk": deployment.pk}), "Safety incidents"),
            ],
        }

    def form_valid(self, form):
        data = {**form.cleaned_data, "hazards": list(form.cleaned_data["hazards"])}
        try:
            incident = services.incident_report(actor=self.request.user, deployment=self.deployment, **data)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"Incident {incident.reference} has been recorded.")
        if data["hazards"]:
            tell_next_steps(
                self.request,
                [
                    f"The Clinical Safety Officer at {self.deployment.organisation.name} reviews the hazards it "
                    "relates to; a current sign-off that covers them is flagged for re-review.",
                    "Record what is done, and when the incident is made safe and closed, in its journal here.",
                ],
            )
        return redirect("safety:incident-detail", pk=incident.pk)


class IncidentDetailView(TemplateView):
    template_name = "safety/incident_detail.html"

    def get_incident(self):
        return get_visible_or_404(
            self.request, selectors.incident_detail(user=self.request.user, pk=self.kwargs["pk"]), pk=self.kwargs["pk"]
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incident = kwargs.get("incident") or self.get_incident()
        deployment = incident.deployment
        can_update = permissions.can_report_incident(self.request.user, deployment)
        context.update(
            incident=incident,
            deployment=deployment,
            can_update=can_update,
            can_escalate=permissions.can_escalate_incident(self.request.user, deployment),
            form=kwargs.get("form") or (JournalEntryForm() if can_update else None),
            crumbs=[
                (deployment.get_absolute_url(), deployment.name),
                (reverse("safety:incident-list", kwargs={"pk": deployment.pk}), "Safety incidents"),
            ],
        )
        return context


class IncidentJournalView(IncidentDetailView):
    """Adds a journal entry; an invalid one is shown again on the incident's page with its errors."""

    http_method_names = ["post"]

    def post(self, request, pk):
        incident = self.get_incident()
        permissions.REPORT_INCIDENT.require(request.user, incident.deployment)
        form = JournalEntryForm(request.POST)
        if form.is_valid():
            try:
                services.incident_journal_add(actor=request.user, incident=incident, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(request, "The journal entry has been added.")
                return redirect("safety:incident-detail", pk=incident.pk)
        return self.render_to_response(self.get_context_data(incident=incident, form=form))


# --- supplier hazards ----------------------------------------------------------------------------------------


class SupplierHazardListView(TemplateView):
    """The supplier's DCB0129 hazards for a version, and what each deployment decided on those it
    transferred."""

    template_name = "safety/supplier_hazards.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        version = get_visible_or_404(
            self.request, selectors.product_versions_visible_to(self.request.user), pk=kwargs["pk"]
        )
        context.update(
            product_version=version,
            acceptance=selectors.supplier_hazard_acceptance(user=self.request.user, product_version=version),
            deployment_count=version.deployments.count(),
            can_edit=permissions.can_edit_supplier_hazards(self.request.user, version),
        )
        return context


class SupplierHazardFormMixin:
    template_name = "safety/supplier_hazard_form.html"
    form_class = SupplierHazardForm
    hazard = None

    def get_context_data(self, **kwargs):
        version = self.product_version
        return {
            **super().get_context_data(**kwargs),
            "product_version": version,
            "hazard": self.hazard,
            "crumbs": [(reverse("safety:supplier-hazard-list", kwargs={"pk": version.pk}), f"Hazards of {version}")],
        }

    def form_valid(self, form):
        try:
            hazard = services.supplier_hazard_save(
                actor=self.request.user, product_version=self.product_version, hazard=self.hazard, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        except PermissionDenied:
            raise Http404 from None
        messages.success(self.request, f"{hazard.code} has been saved.")
        return redirect("safety:supplier-hazard-list", pk=self.product_version.pk)


class SupplierHazardCreateView(SupplierHazardFormMixin, FormView):
    def dispatch(self, request, *args, **kwargs):
        self.product_version = get_visible_or_404(
            request, selectors.product_versions_visible_to(request.user), pk=kwargs["pk"]
        )
        permissions.EDIT_SUPPLIER_HAZARDS.require(request.user, self.product_version)
        return super().dispatch(request, *args, **kwargs)


class SupplierHazardEditView(SupplierHazardFormMixin, FormView):
    def dispatch(self, request, *args, **kwargs):
        self.hazard = get_visible_or_404(request, selectors.supplier_hazards_visible_to(request.user), pk=kwargs["pk"])
        self.product_version = self.hazard.product_version
        permissions.EDIT_SUPPLIER_HAZARDS.require(request.user, self.product_version)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        fields = (
            "code",
            "name",
            "description",
            "clinical_impact",
            "causes",
            "supplier_controls",
            "is_transferred",
            "transfer_note",
        )
        return {name: getattr(self.hazard, name) for name in fields}


# --- the risk matrix -------------------------------------------------------------------------------------------


class RiskMatrixView(TemplateView):
    template_name = "safety/risk_matrix.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        matrix = selectors.risk_matrix_default()
        context.update(
            matrix=matrix,
            rows=selectors.risk_matrix_table(matrix) if matrix else [],
            acceptability=sorted(matrix.acceptability.items(), reverse=True) if matrix else [],
        )
        return context
