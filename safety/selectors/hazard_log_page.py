"""Reads for the hazard log page, its most visited page with the longest table: the deployment
(with what the page names of it) and the log's rows, each in one fixed statement.

Both statements are written out rather than built by the ORM: building and compiling them cost
more than running them (benchmarks/hazard_log.py). They are made from the models' tables and
columns once per process, every value is a parameter, and who may read the log is decided as
`deployments_with_hazard_log_visible_to` and `hazards_visible_to` decide it."""

from functools import cache
from typing import NamedTuple, cast

from django.db import connection
from django.db.models import Field, Model

from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, Product, ProductVersion
from safety import permissions as safety_permissions
from safety.models import ClinicalRiskManagementPlan, DeploymentHazard, HazardControl, RiskMatrix, SignOff
from safety.selectors import NOT_ASSESSED


class HazardLogRow(NamedTuple):
    """One row of the hazard log page: plain values, no model instance to build per hazard (a
    named tuple: made straight from the database row)."""

    pk: int
    number: int
    name: str
    source: str
    is_applicable: bool
    transfer_decision: str
    initial_rating: int | None
    residual_rating: int | None
    status: str
    control_count: int
    register_citations: int  # live controls citing the certificate register

    @property
    def reference(self) -> str:
        return f"H{self.number:03d}"


HAZARD_LOG_ROW_FIELDS = [f for f in HazardLogRow._fields if f not in ("control_count", "register_citations")]


# --- the deployment -----------------------------------------------------------------------------------

# What the page names of the deployment and its relations (each also loads its primary key); every
# other field is left deferred, so reading one costs a query (and a query-count test notices).
PAGE_DEPLOYMENT_FIELDS: tuple[tuple[type[Model], tuple[str, ...]], ...] = (
    (Deployment, ("name", "organisation", "product_version")),
    (Organisation, ("name",)),
    (ProductVersion, ("product", "version")),
    (Product, ("name",)),
    (ClinicalRiskManagementPlan, ("deployment", "risk_matrix")),
    (RiskMatrix, ("name", "version")),
)


@cache
def _page_deployment_fields() -> list[tuple[type[Model], list[Field]]]:
    """Each model's loaded fields, in the order of its concrete fields (as `Model.from_db` takes them)."""
    loaded = []
    for model, names in PAGE_DEPLOYMENT_FIELDS:
        wanted = {model._meta.pk.name, *names}
        loaded.append((model, [f for f in model._meta.concrete_fields if f.name in wanted]))
    return loaded


@cache
def _latest_sign_off_sql(field_name: str) -> str:
    """A field of the deployment's latest sign-off (the order of `latest_sign_off`), as a correlated
    subquery on the deployments' table."""
    sign_off, deployment = SignOff._meta, Deployment._meta

    def s(name: str) -> str:
        return f"s.{_column(SignOff, name)}"

    return (
        f"SELECT {s(field_name)} FROM {sign_off.db_table} s "  # noqa: S608  model tables and columns
        f"WHERE {s('deployment')} = {deployment.db_table}.{deployment.pk.column} "
        f"ORDER BY {s('signed_at')} DESC, {s('pk')} DESC LIMIT 1"
    )


def _column(model: type[Model], name: str) -> str:
    meta = model._meta
    column = cast(Field, meta.pk if name == "pk" else meta.get_field(name)).column
    if column is None:
        raise ValueError(f"{model.__name__}.{name} has no column of its own")
    return column


@cache
def _page_deployment_sql() -> tuple[str, str]:
    """The statement (for one deployment by primary key) and the condition that narrows it to some
    organisations' deployments."""
    d = Deployment._meta.db_table  # not aliased: the latest sign-off's subquery names it
    aliases = [d, "o", "v", "p", "r", "m"]
    loaded = _page_deployment_fields()
    columns = ", ".join(f"{a}.{f.column}" for a, (_, fields) in zip(aliases, loaded, strict=True) for f in fields)
    sign_off = f"({_latest_sign_off_sql('status')}), ({_latest_sign_off_sql('needs_re_review')})"
    o, v, p, r, m = ((model._meta.db_table, _column(model, "pk")) for model, _ in loaded[1:])
    plan, version = ClinicalRiskManagementPlan, ProductVersion
    tables = (
        f"{d} JOIN {o[0]} o ON o.{o[1]} = {d}.{_column(Deployment, 'organisation')}"
        f" JOIN {v[0]} v ON v.{v[1]} = {d}.{_column(Deployment, 'product_version')}"
        f" JOIN {p[0]} p ON p.{p[1]} = v.{_column(version, 'product')}"
        f" LEFT JOIN {r[0]} r ON r.{_column(plan, 'deployment')} = {d}.{_column(Deployment, 'pk')}"
        f" LEFT JOIN {m[0]} m ON m.{m[1]} = r.{_column(plan, 'risk_matrix')}"
    )
    select = f"SELECT {columns}, {sign_off} FROM {tables} WHERE {d}.{_column(Deployment, 'pk')} = %s"  # noqa: S608  model tables, columns
    return select, f" AND {d}.{_column(Deployment, 'organisation')} = ANY(%s)"


def hazard_log_page_deployment(user, *, pk: int) -> Deployment | None:
    """The deployment whose hazard log the person asks for, if they may read its log (None
    otherwise, or if there is none): with its organisation's name, product version, risk matrix's
    name, and its latest sign-off's status and re-review flag (see `hazard_log_page_sign_off`)."""
    rule = safety_permissions.VIEW_HAZARD_LOG
    sql, narrowed = _page_deployment_sql()
    params: list = [pk]
    if not rule.held_nationally(user):
        organisations = sorted(rule.organisations_of(user))
        if not organisations:
            return None
        sql += narrowed
        params.append(organisations)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = iter(row)
    loaded = [
        model.from_db(connection.alias, [f.attname for f in fields], [next(values) for _ in fields])
        for model, fields in _page_deployment_fields()
    ]
    deployment, version = cast(Deployment, loaded[0]), cast(ProductVersion, loaded[2])
    plan = cast(ClinicalRiskManagementPlan, loaded[4])
    version.product = cast(Product, loaded[3])
    deployment.organisation, deployment.product_version = cast(Organisation, loaded[1]), version
    if plan.pk is None:
        Deployment.risk_plan.related.set_cached_value(deployment, None)  # no plan: known, not to be queried
    else:
        plan.risk_matrix = cast(RiskMatrix, loaded[5])
        deployment.risk_plan = plan
    # What `hazard_log_page_sign_off` reads: attributes of this page's deployment, not of the model.
    status, needs_re_review = values
    deployment.__dict__.update(latest_sign_off_status=status, latest_sign_off_needs_re_review=needs_re_review)
    return deployment


def hazard_log_page_sign_off(deployment: Deployment) -> SignOff | None:
    """The latest sign-off of a deployment from `hazard_log_page_deployment`, as far as the page
    shows it (status, re-review flag); None when it has none. The person may read it: the
    deployment was found among those whose log they may read, the rule `latest_sign_off` checks."""
    status = getattr(deployment, "latest_sign_off_status", None)
    if status is None:
        return None
    needs_re_review = getattr(deployment, "latest_sign_off_needs_re_review", False)
    return SignOff(deployment=deployment, status=status, needs_re_review=needs_re_review)


# --- the rows -----------------------------------------------------------------------------------------


@cache
def _hazard_log_summary_sql() -> tuple[str, str, str, str]:
    """The summary query's parts, from the models' tables and columns (worked out once)."""
    hazard, control = DeploymentHazard._meta, HazardControl._meta

    def h(name: str) -> str:
        return f"h.{_column(DeploymentHazard, name)}"

    def c(name: str) -> str:
        return f"c.{_column(HazardControl, name)}"

    live = f"NOT {c('is_withdrawn')}"
    register = f"{live} AND {c('cites_certificate_register')}"
    # Counted for each hazard through the controls' hazard index: cheaper than joining every control
    # to its hazard's row and grouping them again (which sorted all of them, wide rows and all).
    counts = (
        f"(SELECT COUNT(*) FILTER (WHERE {live}) AS live, COUNT(*) FILTER (WHERE {register}) AS register "  # noqa: S608  model tables, columns
        f"FROM {control.db_table} c WHERE {c('hazard')} = {h('id')}) n"
    )
    columns = ", ".join(h(f) for f in HAZARD_LOG_ROW_FIELDS)
    select = (
        f"SELECT {columns}, n.live, n.register FROM {hazard.db_table} h CROSS JOIN LATERAL {counts} "  # noqa: S608  model tables, columns
        f"WHERE {h('deployment')} = %s"
    )
    return select, f" ORDER BY {h('number')}", h("residual_rating"), h("status")


def hazard_log_summary(
    *, user, deployment: Deployment, rating: str | int | None = None, status: str | None = None
) -> list[HazardLogRow]:
    """The hazard log page's rows: the filtered log with each hazard's count of live controls, and of
    those citing the certificate register, in one query. Who may read the log is decided from the
    person's memberships already in memory, as `hazards_visible_to` decides it, so the query is on
    the deployment's own hazards alone; the filters are those of `selectors._log_filtered`."""
    if not safety_permissions.can_view_hazard_log(user, deployment):
        return []
    select, order, residual_rating, status_column = _hazard_log_summary_sql()
    sql = select
    params: list[int | str] = [deployment.pk]
    if rating == NOT_ASSESSED:
        sql += f" AND {residual_rating} IS NULL"
    elif rating not in (None, ""):
        sql += f" AND {residual_rating} = %s"
        params.append(int(rating))
    if status:
        sql += f" AND {status_column} = %s"
        params.append(status)
    with connection.cursor() as cursor:
        cursor.execute(sql + order, params)
        return list(map(HazardLogRow._make, cursor.fetchall()))
