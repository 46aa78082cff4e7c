"""The dashboards' GET form: filters, search and sort, so a filtered view has a URL of its own that
its drill-downs and exports carry. Supplier and product choices are narrowed to the products of the
deployments the person can see."""

from functools import cached_property
from urllib.parse import urlencode

from django import forms

from dashboards.selectors import (
    DASHBOARD_STAGES,
    NO_OPEN_RATED,
    RATINGS,
    UNRATED,
    Band,
    DashboardFilters,
    DecisionMeasure,
    DsptState,
    EvidenceMeasure,
    GoLiveState,
    SignOffState,
)
from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment

# The fields a dashboard's links carry to its drill-downs, exports and other sort orders.
FILTER_FIELDS = ("region", "supplier", "product", "stage", "rating", "sign_off", "certificates", "q")
NARROWING_FIELDS = ("deployment", "area", "band", "dspt", "go_live", "measure", "hazard_rating", "decision")


class SharedChoicesMixin:
    """A choice field whose copy in each form shares its declared list of choices, as it shares its
    label and validators, instead of deep-copying the list as Django's `ChoiceField` does: no form
    changes the list in place (a form that narrows its choices assigns a new one). The dashboards
    build this form on every request, a cached page included; the deep copies were half its cost."""

    __deepcopy__ = forms.Field.__deepcopy__


class Choice(SharedChoicesMixin, forms.ChoiceField):
    pass


class TypedChoice(SharedChoicesMixin, forms.TypedChoiceField):
    pass


class DashboardFilterForm(forms.Form):
    region = Choice(label="Region", required=False, choices=[("", "All regions"), *Organisation.Region.choices])
    # Their choices are the products of what the person can see: set for each form (see __init__).
    supplier = TypedChoice(label="Supplier", required=False, coerce=int, empty_value=None)
    product = TypedChoice(label="Product", required=False, coerce=int, empty_value=None)
    stage = Choice(
        label="Stage",
        required=False,
        choices=[("", "All stages"), *[(s, Deployment.Stage(s).label) for s in DASHBOARD_STAGES]],
    )
    rating = Choice(
        label="Highest open residual risk rating",
        required=False,
        choices=[("", "Any"), *[(str(r), str(r)) for r in RATINGS], (NO_OPEN_RATED, "No open hazard assessed")],
    )
    sign_off = Choice(label="Sign-off", required=False, choices=[("", "Any"), *SignOffState.choices])
    certificates = forms.IntegerField(
        label="Certificates expiring within (days)",
        required=False,
        min_value=0,
        max_value=3650,
        help_text="Expired certificates included",
    )
    q = forms.CharField(
        label="Search", required=False, max_length=100, help_text="Deployment or organisation name, or ODS code"
    )
    sort = forms.CharField(required=False, max_length=30, widget=forms.HiddenInput)
    # Set by the links behind the numbers, never shown as fields.
    # Applied within the dashboard's scope, so an id outside it finds nothing.
    deployment = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    area = forms.SlugField(required=False, max_length=40, widget=forms.HiddenInput)
    band = Choice(required=False, choices=[("", ""), *Band.choices], widget=forms.HiddenInput)
    dspt = Choice(required=False, choices=[("", ""), *DsptState.choices], widget=forms.HiddenInput)
    go_live = Choice(required=False, choices=[("", ""), *GoLiveState.choices], widget=forms.HiddenInput)
    measure = Choice(required=False, choices=[("", ""), *EvidenceMeasure.choices], widget=forms.HiddenInput)
    hazard_rating = Choice(
        required=False,
        choices=[("", ""), *[(str(r), str(r)) for r in RATINGS], (UNRATED, "Not assessed")],
        widget=forms.HiddenInput,
    )
    decision = Choice(required=False, choices=[("", ""), *DecisionMeasure.choices], widget=forms.HiddenInput)

    def __init__(self, data=None, *, products=(), active: tuple[str, ...] = FILTER_FIELDS, **kwargs):
        """`products` may be a callable: it is then called only when the supplier or product choices
        are needed (a value to check, or the form rendered), so a page served from its cached copy
        with neither filter set never queries them."""
        super().__init__(data, **kwargs)
        self.active = tuple(name for name in FILTER_FIELDS if name in active)
        self._products = products
        self.fields["supplier"].choices = self._supplier_choices
        self.fields["product"].choices = self._product_choices

    @cached_property
    def products(self) -> list:
        """`dashboards.selectors.ProductChoice`s."""
        return list(self._products() if callable(self._products) else self._products)

    # Built once each: a select asks for its choices more than once while it renders.
    @cached_property
    def supplier_choice_list(self) -> list:
        suppliers = {p.supplier_id: p.supplier_name for p in self.products}
        return [("", "All suppliers"), *sorted(suppliers.items(), key=lambda s: s[1])]

    @cached_property
    def product_choice_list(self) -> list:
        return [("", "All products"), *[(p.pk, f"{p.name} ({p.supplier_name})") for p in self.products]]

    def _supplier_choices(self) -> list:
        return self.supplier_choice_list

    def _product_choices(self) -> list:
        return self.product_choice_list

    @property
    def shown(self) -> list:
        """The bound fields of the filters this dashboard offers, in order."""
        return [self[name] for name in self.active]

    def filters(self) -> DashboardFilters:
        """The valid filters; an invalid value (a stale link) is ignored, not an error page."""
        self.is_valid()
        data = {
            name: self.cleaned_data.get(name)
            for name in self.fields
            if name not in self.errors and (name in self.active or name not in FILTER_FIELDS)
        }
        return DashboardFilters(
            region=data.get("region") or "",
            supplier=data.get("supplier"),
            product=data.get("product"),
            stage=data.get("stage") or "",
            rating=data.get("rating") or "",
            sign_off=data.get("sign_off") or "",
            q=(data.get("q") or "").strip(),
            sort=data.get("sort") or "",
            deployment=data.get("deployment"),
            area=data.get("area") or "",
            band=data.get("band") or "",
            dspt=data.get("dspt") or "",
            go_live=data.get("go_live") or "",
            certificates=data.get("certificates"),
        )

    def value(self, name: str) -> str:
        if not self.is_valid() and name in self.errors:
            return ""
        value = self.cleaned_data.get(name)
        return "" if value is None else str(value)

    def carried(self, *, with_sort: bool = True) -> str:
        """The filters (and sort) as a query string ending in "&", for links to append to."""
        names = (*self.active, "sort") if with_sort else self.active
        pairs = [(name, self.value(name)) for name in names if self.value(name)]
        return urlencode(pairs) + "&" if pairs else ""

    def narrowing(self) -> str:
        """A drill-down's narrowing as a query string ending in "&" (for its page links)."""
        pairs = [(name, self.value(name)) for name in NARROWING_FIELDS if self.value(name)]
        return urlencode(pairs) + "&" if pairs else ""

    @property
    def is_filtered(self) -> bool:
        return any(self.value(name) for name in self.active)

    def described(self) -> list[tuple[str, str]]:
        """[(label, chosen value's label)] of the filters in use, to say what a list shows."""
        described = []
        for name in self.active:
            value = self.value(name)
            if not value:
                continue
            field = self.fields[name]
            label = {str(k): v for k, v in getattr(field, "choices", [])}.get(value, value)
            described.append((str(field.label), str(label)))
        return described
