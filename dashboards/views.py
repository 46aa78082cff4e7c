"""The dashboards: national (national team only), a trust's and a supplier's, the lists behind
their numbers, and the national view's exports.

Each view takes its scope from a `dashboards.selectors.*_scope(user, ...)` selector: someone outside
it gets a 404, as for any object they may not see. The filters are a GET form, so every filtered
view, drill-down and export has a URL of its own.

The national dashboard's content is the same for every national user, so its template caches it
(setting DASHBOARD_CACHE_SECONDS, default 60; 0 turns the cache off) keyed by the data's
fingerprint (`dashboards.selectors.dashboard_data_version`: the newest ids of what it counts and of
the audit trail, the newest summary refresh, and the transactions still writing to those tables)
and the query, and stamped with the minute it was computed in (the overdue and days-in-stage
measures move with time). A change committed anywhere therefore shows on the next request, even
one whose transaction took its ids before another's and committed after it; only what time alone
changes can be up to a minute old (a copy of an earlier minute is served while one request
recomputes it).
"""

import uuid
from functools import cached_property

from django.conf import settings
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from dashboards import charts, exports, selectors
from dashboards.forms import DashboardFilterForm
from nir_portal.audit.services import audit_event_record

SCOPES = {
    "national": lambda request: selectors.national_scope(request.user),
    "trust": lambda request: selectors.trust_scope(request.user, request.active_organisation),
    "supplier": lambda request: selectors.supplier_scope(request.user, request.active_organisation),
}


class ScopedMixin:
    """Resolves the dashboard's scope (404 outside it) and its GET form of filters."""

    scope_name = "national"
    filter_fields: tuple[str, ...] = (
        "region",
        "supplier",
        "product",
        "stage",
        "rating",
        "sign_off",
        "certificates",
        "q",
    )

    def dispatch(self, request, *args, **kwargs):
        self.scope = SCOPES[self.scope_name](request)
        if self.scope is None:
            raise Http404("No such page, or you do not have access to it.")
        self.form = DashboardFilterForm(
            request.GET, products=lambda: selectors.filter_choices(self.scope), active=self.filter_fields
        )
        self.filters = self.form.filters()
        if self.scope_name == "supplier":
            # A supplier filters only by what it may see: never by a trust's hazards or sign-off.
            self.filters = selectors.supplier_filters(self.filters)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "form": self.form,
            "carried": self.form.carried(),
            "narrowing": self.form.narrowing(),
            "certificate_days": selectors.certificate_days(self.filters),
            "organisation": self.request.active_organisation,
            "dashboard_url": reverse(f"dashboards:{self.scope_name}"),
            "dashboard_title": "national dashboard"
            if self.scope_name == "national"
            else f"{self.request.active_organisation.name} dashboard",
        }


def sort_headers(form: DashboardFilterForm, keys: list[str]) -> dict[str, dict[str, str]]:
    """For each sortable column: the link that sorts by it (or reverses it) and its aria-sort."""
    current = form.value("sort") or selectors.DEFAULT_SORT
    carried = form.carried(with_sort=False)
    headers = {}
    for key in keys:
        column = selectors.SORT_COLUMNS[key]
        reverse_order = {"ascending": "descending", "descending": "ascending"}[column.natural]
        if current == key:
            headers[key] = {"url": f"?{carried}sort=-{key}", "aria": column.natural}
        elif current == f"-{key}":
            headers[key] = {"url": f"?{carried}sort={key}", "aria": reverse_order}
        else:
            headers[key] = {"url": f"?{carried}sort={key}", "aria": "none"}
    return headers


class NationalContent:
    """The national dashboard's content, computed only when the page's cached copy is missing or
    out of date (the template caches it keyed by the data's fingerprint and the query, per minute)."""

    ONWARD = (selectors.Deployment.Stage.SUSPENDED, selectors.Deployment.Stage.DECOMMISSIONED)

    def __init__(self, *, scope, filters, page_number):
        self.scope, self.filters, self.page_number = scope, filters, page_number
        self.bands = selectors.Band.choices

    @cached_property
    def view(self) -> selectors.DashboardPage:
        return selectors.dashboard_page(scope=self.scope, filters=self.filters, page_number=self.page_number)

    @cached_property
    def trend(self):
        return selectors.weekly_trend()

    @cached_property
    def charts(self) -> dict:
        summary = self.view.summary
        return {
            "funnel_svg": charts.funnel_svg(summary.stages, onward=self.ONWARD),
            "funnel_summary": charts.funnel_summary(summary.stages),
            "heatmap_svg": charts.heatmap_svg(summary.heatmap, self.bands),
            "heatmap_summary": charts.heatmap_summary(summary.heatmap, self.bands),
            "heat_levels": [
                (
                    area,
                    [
                        (band, label, area.count(band), charts.heat_level(area.count(band), area.deployments))
                        for band, label in self.bands
                    ],
                )
                for area in summary.heatmap
            ],
            "trend_svg": charts.trend_svg(self.trend),
            "trend_summary": charts.trend_summary(self.trend),
        }


class NationalDashboardView(ScopedMixin, TemplateView):
    template_name = "dashboards/national.html"

    def get_context_data(self, **kwargs):
        page_number = self.request.GET.get("page", "")
        minute = timezone.now().strftime("%Y%m%d%H%M")  # "overdue" and "days in stage" move with time
        seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 60)
        # With caching off, a key of its own makes sure no copy cached earlier is read either.
        version = selectors.dashboard_data_version() if seconds else uuid.uuid4().hex
        return {
            **super().get_context_data(**kwargs),
            "content": NationalContent(scope=self.scope, filters=self.filters, page_number=page_number),
            "cache_seconds": seconds,
            "cache_key": f"{version}|{self.form.carried()}|{self.form.narrowing()}|{page_number}",
            # What time alone moves: a copy of an earlier minute is recomputed by one request while
            # the others are served that copy (dashboards.templatetags.dashboard_cache).
            "cache_minute": minute,
            "sort": sort_headers(self.form, list(selectors.SORT_COLUMNS)),
            "bands": selectors.Band.choices,
            "overdue_days": selectors.OVERDUE_REVIEW_WORKING_DAYS,
        }


class NationalExportView(ScopedMixin, View):
    """The current filtered national view, every row, as CSV or XLSX; every export is audited."""

    def get(self, request, fmt):
        deployments = list(selectors.dashboard_deployments(scope=self.scope, filters=self.filters))
        selectors.attach_row_measures(deployments)
        areas = selectors.areas_for(self.scope)
        header, rows = exports.columns(areas), exports.national_rows(deployments, areas)
        audit_event_record(
            action="dashboard.export",
            actor=request.user,
            organisation=request.active_organisation,
            object_type="dashboard",
            object_id="national",
            changes={"format": fmt, "rows": len(rows), "filters": self.form.carried()},
        )
        if fmt == "xlsx":
            response = HttpResponse(
                exports.to_xlsx(header, rows, title="NIR deployments"),
                content_type=exports.XLSX_CONTENT_TYPE,
            )
        else:
            response = HttpResponse(exports.to_csv(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="nir-deployments-{timezone.localdate():%Y%m%d}.{fmt}"'
        return response


class DeploymentDrilldownView(ScopedMixin, TemplateView):
    """The deployments behind a number of the national dashboard (a stage, a heatmap cell...)."""

    template_name = "dashboards/deployments.html"

    def get_context_data(self, **kwargs):
        deployments = selectors.dashboard_deployments(scope=self.scope, filters=self.filters)
        page = selectors.paginate(deployments, self.request.GET.get("page"))
        page.object_list = list(page.object_list)
        selectors.attach_row_measures(page.object_list)
        return {**super().get_context_data(**kwargs), "page": page, "narrowed": _narrowed(self.form)}


class EvidenceDrilldownView(ScopedMixin, TemplateView):
    """The evidence behind an evidence number: expiring, overdue, DSPT, or one area's."""

    template_name = "dashboards/evidence.html"

    def get_context_data(self, **kwargs):
        deployments = selectors.filter_deployments(self.scope, self.filters)
        links = selectors.drilldown_evidence(
            user=self.request.user,
            deployments=deployments,
            measure=self.form.value("measure"),
            area=self.filters.area,
            owner=self.request.active_organisation if self.scope_name == "supplier" else None,
        )
        page = selectors.paginate(links, self.request.GET.get("page"))
        return {**super().get_context_data(**kwargs), "page": page, "narrowed": _narrowed(self.form)}


class HazardDrilldownView(ScopedMixin, TemplateView):
    """The open hazards behind a hazard number."""

    template_name = "dashboards/hazards.html"

    def get_context_data(self, **kwargs):
        deployments = selectors.filter_deployments(self.scope, self.filters)
        hazards = selectors.drilldown_hazards(
            user=self.request.user, deployments=deployments, rating=self.form.value("hazard_rating")
        )
        page = selectors.paginate(hazards, self.request.GET.get("page"))
        return {**super().get_context_data(**kwargs), "page": page, "narrowed": _narrowed(self.form)}


def _narrowed(form: DashboardFilterForm) -> list[tuple[str, str]]:
    """What a drill-down list is narrowed to, in words, beyond the dashboard's filters."""
    described = form.described()
    labels = {
        "measure": dict(selectors.EvidenceMeasure.choices),
        "band": dict(selectors.Band.choices),
        "dspt": dict(selectors.DsptState.choices),
        "go_live": dict(selectors.GoLiveState.choices),
        "decision": dict(selectors.DecisionMeasure.choices),
    }
    for name, title in (
        ("measure", "Evidence"),
        ("area", "Onboarding area"),
        ("band", "Mandatory requirements"),
        ("dspt", "DSPT status"),
        ("go_live", "Go-live"),
        ("hazard_rating", "Residual rating"),
        ("decision", "Decision"),
    ):
        value = form.value(name)
        if value:
            described.append((title, str(labels.get(name, {}).get(value, value))))
    return described


TRUST_FILTERS = ("product", "stage", "rating", "sign_off", "certificates", "q")
SUPPLIER_FILTERS = ("product", "stage", "q")


class TrustDashboardView(ScopedMixin, TemplateView):
    scope_name = "trust"
    filter_fields = TRUST_FILTERS
    template_name = "dashboards/trust.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        view = selectors.dashboard_page(
            scope=self.scope, filters=self.filters, page_number=self.request.GET.get("page")
        )
        waiting = selectors.trust_waiting(
            user=self.request.user, organisation=self.request.active_organisation, scope=self.scope
        )
        keys = ["deployment", "stage", "in_stage", "progress", "rating", "sign_off", "expiring", "overdue", "dspt"]
        context.update(
            view=view,
            waiting=waiting,
            sort=sort_headers(self.form, keys),
            overdue_days=selectors.OVERDUE_REVIEW_WORKING_DAYS,
        )
        return context


class TrustEvidenceDrilldownView(EvidenceDrilldownView):
    scope_name = "trust"
    filter_fields = TRUST_FILTERS


class TrustHazardDrilldownView(HazardDrilldownView):
    scope_name = "trust"
    filter_fields = TRUST_FILTERS


class SupplierDashboardView(ScopedMixin, TemplateView):
    scope_name = "supplier"
    filter_fields = SUPPLIER_FILTERS
    template_name = "dashboards/supplier.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deployments = selectors.supplier_deployments(
            scope=self.scope, supplier=self.request.active_organisation, filters=self.filters
        )
        page = selectors.paginate(deployments, self.request.GET.get("page"), selectors.DASHBOARD_PAGE_SIZE)
        context.update(
            page=page,
            totals=selectors.supplier_totals(deployments, supplier=self.request.active_organisation),
            sort=sort_headers(self.form, ["deployment", "organisation", "stage", "in_stage"]),
        )
        return context


class SupplierEvidenceDrilldownView(EvidenceDrilldownView):
    scope_name = "supplier"
    filter_fields = SUPPLIER_FILTERS


class SupplierHazardDrilldownView(ScopedMixin, TemplateView):
    """Each deployment's decision on the supplier's transferred hazards (decision columns only)."""

    scope_name = "supplier"
    filter_fields = SUPPLIER_FILTERS
    template_name = "dashboards/supplier_hazards.html"

    def get_context_data(self, **kwargs):
        deployments = selectors.filter_deployments(self.scope, self.filters)
        decisions = selectors.supplier_hazard_decisions(
            deployments=deployments, supplier=self.request.active_organisation, decision=self.form.value("decision")
        )
        page = selectors.paginate(decisions, self.request.GET.get("page"))
        return {**super().get_context_data(**kwargs), "page": page, "narrowed": _narrowed(self.form)}
