"""What the dashboards count, against arrangements whose answers are known: evidence completion per
area (the checklist's own rule), DSPT status, expiring evidence, overdue reviews, open hazards by
residual rating, sign-off and go-live, and what waits for each role; filters, sorting, search, the
heatmap's drill-down and the exports of the filtered view."""

import csv
import io
import re
import time
from datetime import date, datetime, timedelta

import pytest
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from dashboards import selectors
from dashboards.models import DeploymentSummary
from dashboards.summary import summaries_refresh
from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import Deployment, EvidenceLink
from onboarding.selectors import deployment_checklist
from safety.models import DeploymentHazard
from safety.services.hazards import hazard_transfer_decide
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.dashboards.conftest import seed_scale
from tests.onboarding import evidence_fixtures as fx


def rows(html: bytes) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-testid="deployment-row-(\d+)"', html.decode())]


def csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def score(deployment, severity="minor", likelihood="low", **lookups) -> None:
    """Assess hazards directly (arrangement, not the behaviour under test); a write that bypasses
    the services refreshes the dashboards' summary itself, as seed_scale does."""
    matrix = deployment.risk_plan.risk_matrix
    DeploymentHazard.objects.filter(deployment=deployment, **lookups).update(
        residual_severity=severity,
        residual_likelihood=likelihood,
        residual_rating=matrix.rating(severity, likelihood),
        residual_justification="Impractical to reduce further.",
    )
    summaries_refresh(deployment_ids=[deployment.pk])


# --- the rules --------------------------------------------------------------------------------------


def test_a_review_is_overdue_after_ten_working_days_not_counting_weekends():
    monday = timezone.make_aware(datetime(2026, 11, 30, 10, 0))
    wednesday = timezone.make_aware(datetime(2026, 12, 2, 9, 30))

    assert selectors.overdue_review_cutoff(monday) == timezone.make_aware(datetime(2026, 11, 16, 10, 0))
    assert selectors.overdue_review_cutoff(wednesday) == timezone.make_aware(datetime(2026, 11, 18, 9, 30))


@pytest.mark.django_db
def test_expiring_and_overdue_count_the_edges_of_their_windows_exactly(world):
    # Given deployment A's summary holding dates on either side of each edge (arrangement written
    # straight to the row, as the measures read nothing else): expiring counts accepted evidence
    # expiring from today to 30 days on, overdue what was submitted before the cutoff
    now = timezone.now()
    today, cutoff = timezone.localdate(now), selectors.overdue_review_cutoff(now)
    tick = timedelta(microseconds=1)
    expiries = [today - timedelta(days=1), today, today, today + timedelta(days=30), today + timedelta(days=31)]
    waiting = [cutoff - timedelta(days=3), cutoff - tick, cutoff, cutoff + tick]
    DeploymentSummary.objects.filter(deployment=world.deployment_a).update(
        accepted_expiries=expiries, waiting_since=waiting
    )
    DeploymentSummary.objects.filter(deployment=world.deployment_b).update(accepted_expiries=[], waiting_since=[])

    # Then each deployment's measures and the totals count today twice, the last day of the window,
    # and what came strictly before the cutoff; an empty list counts nothing
    measures = selectors.measures_by_deployment([world.deployment_a.pk, world.deployment_b.pk], now=now)
    assert (measures[world.deployment_a.pk].expiring_count, measures[world.deployment_a.pk].overdue_count) == (3, 2)
    assert (measures[world.deployment_b.pk].expiring_count, measures[world.deployment_b.pk].overdue_count) == (0, 0)
    for scope in (Deployment.objects.all(), Deployment.objects.filter(pk=world.deployment_a.pk)):
        summary = selectors.dashboard_summary(scope, now=now)
        assert (summary.expiring, summary.overdue) == (3, 2)


def test_area_completion_agrees_with_every_deployments_onboarding_checklist(national_lead):
    seed_scale(12)

    deployments = list(Deployment.objects.select_related("framework", "organisation"))
    progress = selectors.area_progress_by_deployment([d.pk for d in deployments])

    for deployment in deployments:
        checklist = deployment_checklist(user=national_lead, deployment=deployment)
        expected = {
            a.area.code: (a.mandatory_accepted, a.mandatory_total) for a in checklist.areas if a.mandatory_total
        }
        found = {code: (p.accepted, p.total) for code, p in progress[deployment.pk].items()}
        assert found == expected, deployment


def test_the_measures_of_each_deployment(world, signed_in):
    # Given trust A with its DSPT publication accepted, training evidence expiring in a fortnight,
    # a sign-off, and an open hazard rated 3; trust B with a lapsed DSPT and a review waiting 20 days
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    a_contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    b_contributor = world.member(world.trust_b, Role.EVIDENCE_CONTRIBUTOR)
    today = timezone.localdate()
    dspt = fx.trust_evidence(
        a_contributor,
        world.deployment_a,
        ["GOV-02"],
        effective_date=date(today.year, 7, 1) if today.month > 6 else date(today.year - 1, 7, 1),
    )
    fx.accepted(reviewer, dspt, world.deployment_a)
    training = fx.trust_evidence(
        a_contributor, world.deployment_a, ["TRN-01"], effective_date=fx_months_before(today + timedelta(days=14), 12)
    )
    fx.accepted(reviewer, training, world.deployment_a)
    lapsed = fx.trust_evidence(b_contributor, world.deployment_b, ["GOV-02"], effective_date=date(2025, 9, 1))
    fx.accepted(reviewer, lapsed, world.deployment_b)
    waiting = fx.trust_evidence(b_contributor, world.deployment_b, ["GOV-03"])
    EvidenceLink.objects.filter(evidence=waiting).update(submitted_at=timezone.now() - timedelta(days=20))
    summaries_refresh(deployment_ids=[world.deployment_b.pk])
    score(world.deployment_a)
    score(world.deployment_a, "significant", "high", number=1)
    cso = world.member(world.trust_a, Role.CSO)
    CSOProfile.objects.create(
        user=cso,
        professional_body="GMC",
        registration_number="1234567",
        registration_checked_on=factories.recent_registration_check(),
    )
    sign_off_create(
        actor=cso, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )

    # When the national lead opens the dashboard
    measures = selectors.measures_by_deployment([world.deployment_a.pk, world.deployment_b.pk])
    page = signed_in(national_lead_of(world)).get(reverse("dashboards:national"))

    # Then each deployment's measures are as arranged
    a, b = measures[world.deployment_a.pk], measures[world.deployment_b.pk]
    assert (a.dspt_state, b.dspt_state) == ("met", "lapsed")
    assert (a.expiring_count, b.expiring_count) == (1, 0)
    assert (a.overdue_count, b.overdue_count) == (0, 1)
    assert (a.sign_off_state, b.sign_off_state) == ("current", "none")
    assert (a.go_live_state, b.go_live_state) == ("none", "none")
    assert (
        a.highest_rating == 3
        and a.hazards[3] == 1
        and a.hazards[1] == DeploymentHazard.objects.filter(deployment=world.deployment_a, residual_rating=1).count()
    )
    assert b.highest_rating is None and b.hazards[selectors.UNRATED] > 0
    html = page.content.decode()
    assert "Standards met" in html and "Lapsed" in html
    assert 'data-testid="total-deployments">2' in html
    progress = selectors.area_progress_by_deployment([world.deployment_a.pk])[world.deployment_a.pk]
    assert (progress["governance"].accepted, progress["training"].accepted) == (1, 1)


def fx_months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, min(day.day, 28))


def national_lead_of(world):
    return world.national_admin


# --- filters, sorting, search and the lists behind the numbers -------------------------------------


@pytest.fixture
def seeded(db, national_lead):
    seed_scale(24, seed=3)
    return national_lead


def highest_open_rating() -> dict[int, int | None]:
    open_hazards = Q(hazards__is_applicable=True) & ~Q(hazards__status="closed")
    return dict(
        Deployment.objects.annotate(top=Max("hazards__residual_rating", filter=open_hazards)).values_list("pk", "top")
    )


def test_each_filter_narrows_the_dashboard_to_the_deployments_it_names(seeded, signed_in):
    client = signed_in(seeded)
    first = Deployment.objects.select_related("organisation", "product_version__product").order_by("pk").first()
    top = highest_open_rating()
    measures = selectors.measures_by_deployment(list(Deployment.objects.values_list("pk", flat=True)))
    cases = {
        f"region={first.organisation.region}": Deployment.objects.filter(
            organisation__region=first.organisation.region
        ),
        f"supplier={first.product_version.product.supplier_id}": Deployment.objects.filter(
            product_version__product__supplier_id=first.product_version.product.supplier_id
        ),
        f"product={first.product_version.product_id}": Deployment.objects.filter(
            product_version__product_id=first.product_version.product_id
        ),
        f"stage={first.stage}": Deployment.objects.filter(stage=first.stage),
        f"q={first.organisation.ods_code}": Deployment.objects.filter(organisation=first.organisation),
        f"rating={top[first.pk] or 'none'}": Deployment.objects.filter(
            pk__in=[pk for pk, rating in top.items() if rating == top[first.pk]]
        ),
        f"sign_off={measures[first.pk].sign_off_state}": Deployment.objects.filter(
            pk__in=[pk for pk, m in measures.items() if m.sign_off_state == measures[first.pk].sign_off_state]
        ),
    }
    for query, expected in cases.items():
        shown = rows(client.get(reverse("dashboards:national") + "?" + query).content)
        assert sorted(shown) == sorted(expected.values_list("pk", flat=True)), query


def test_sorting_by_time_in_stage_puts_the_longest_waiting_first_and_reverses(seeded, signed_in):
    client = signed_in(seeded)
    by_time = list(Deployment.objects.order_by("stage_changed_at", "pk").values_list("pk", flat=True))

    longest_first = rows(client.get(reverse("dashboards:national") + "?sort=in_stage").content)
    newest_first = rows(client.get(reverse("dashboards:national") + "?sort=-in_stage").content)
    by_progress = rows(client.get(reverse("dashboards:national") + "?sort=progress").content)

    assert longest_first == by_time
    assert newest_first == list(reversed(by_time))
    progress = selectors.area_progress_by_deployment(by_time)
    shares = [
        sum(a.accepted for a in progress[pk].values()) / sum(a.total for a in progress[pk].values())
        for pk in by_progress
    ]
    assert shares == sorted(shares)


def test_a_heatmap_cell_lists_exactly_the_deployments_behind_its_number(seeded, signed_in):
    client = signed_in(seeded)
    summary = selectors.dashboard_summary(Deployment.objects.all())
    progress = selectors.area_progress_by_deployment(list(Deployment.objects.values_list("pk", flat=True)))

    for area in summary.heatmap:
        for band, count in area.cells.items():
            expected = sorted(pk for pk, areas in progress.items() if areas[area.code].band == band)
            page = client.get(reverse("dashboards:national-deployments") + f"?area={area.code}&band={band}")
            shown = [int(pk) for pk in re.findall(r'href="/deployments/(\d+)/"', page.content.decode())]
            assert len(expected) == count
            assert sorted(shown) == expected, (area.code, band)


def test_the_totals_add_up_the_rows_and_each_number_links_to_its_list(seeded, signed_in):
    client = signed_in(seeded)
    ids = list(Deployment.objects.values_list("pk", flat=True))
    measures = selectors.measures_by_deployment(ids)
    summary = selectors.dashboard_summary(Deployment.objects.all())

    assert summary.total == len(ids)
    assert summary.expiring == sum(m.expiring_count for m in measures.values())
    assert summary.overdue == sum(m.overdue_count for m in measures.values())
    assert summary.sign_off["current"] == sum(m.sign_off_state == "current" for m in measures.values())
    assert sum(n for _stage, _label, n in summary.stages) == len(ids)
    expiring = client.get(reverse("dashboards:national-evidence") + "?measure=expiring")
    overdue = client.get(reverse("dashboards:national-evidence") + "?measure=overdue")
    assert expiring.content.count(b'data-testid="drilldown-row"') == min(summary.expiring, 50)
    assert overdue.content.count(b'data-testid="drilldown-row"') == min(summary.overdue, 50)
    rated = dict(summary.hazards_by_rating)
    for rating in (3, "unrated"):
        page = client.get(reverse("dashboards:national-hazards") + f"?hazard_rating={rating}")
        assert f"{rated[rating]} open hazard".encode() in page.content


def test_the_totals_of_every_view_add_up_each_deployments_own_measures(seeded):
    # Given 24 deployments seeded at random, and views of all of them (read without a scope) and
    # of some (read through one)
    first = Deployment.objects.order_by("pk").first()
    some = Deployment.objects.filter(pk__in=Deployment.objects.order_by("pk").values("pk")[:9])
    for deployments in (Deployment.objects.all(), Deployment.objects.filter(stage=first.stage), some):
        ids = list(deployments.values_list("pk", flat=True))
        measures = selectors.measures_by_deployment(ids)
        progress = selectors.area_progress_by_deployment(ids)
        # When their totals are read from the packed shares of the summary rows (the areas of all)
        summary = selectors.dashboard_summary(deployments, areas_of=Deployment.objects.all())

        # Then every total is the sum of the deployments' own measures, area by area
        listed = measures.values()
        assert summary.total == len(ids) == sum(n for _stage, _label, n in summary.stages)
        for name, states in (("sign_off", selectors.SignOffState), ("go_live", selectors.GoLiveState)):
            for state in states.values:
                assert getattr(summary, name)[state] == sum(getattr(m, f"{name}_state") == state for m in listed)
        for state in selectors.DsptState.values:
            assert summary.dspt[state] == sum(m.dspt_state == state for m in listed)
        assert dict(summary.hazards_by_rating) == {
            rating: sum(m.hazards[rating] for m in listed) for rating in [*selectors.RATINGS, selectors.UNRATED]
        }
        for area in summary.heatmap:
            shown = [p[area.code] for p in progress.values() if area.code in p]
            assert (area.accepted, area.total) == (sum(p.accepted for p in shown), sum(p.total for p in shown))
            for band in selectors.Band.values:
                assert area.count(band) == sum(p.band == band for p in shown), (area.code, band)
        assert summary.heatmap and summary.total > 0
        assert summary.areas == selectors.areas_for(Deployment.objects.all())
        assert [area.code for area in summary.heatmap] == [code for code, _name in summary.areas]


def test_a_dashboard_pages_rows_carry_the_same_measures_as_the_lists_and_exports(seeded):
    # Given 24 deployments seeded at random, the national view's first page (read as plain rows in
    # one query) and the same deployments as the drill-downs and exports read them (models with
    # their measures added)
    filters = selectors.DashboardFilters(sort="overdue")  # most overdue first
    page = selectors.dashboard_page(scope=Deployment.objects.all(), filters=filters, page_number=1)
    rows = list(page.page.object_list)
    models = list(Deployment.objects.filter(pk__in=[row.pk for row in rows]))
    selectors.attach_row_measures(models, areas=page.areas)
    by_pk = {deployment.pk: deployment for deployment in models}

    # Then every measure agrees, row by row, in the order asked for
    fields = [
        "name",
        "stage",
        "sign_off_state",
        "go_live_state",
        "dspt_state",
        "expiring_count",
        "overdue_count",
        "highest_rating",
        "hazards_by_rating",
        "open_hazards",
        "area_progress",
        "mandatory_accepted",
        "mandatory_total",
        "days_in_stage",
        "detail_url",
        "checklist_url",
        "certificates_expiring",
    ]
    assert len(rows) == 24 and any(row.overdue_count for row in rows)
    for row in rows:
        model = by_pk[row.pk]
        assert {f: getattr(row, f) for f in fields} == {f: getattr(model, f) for f in fields}, row.pk
        assert [cell[:3] for cell in row.area_cells] == [cell[:3] for cell in model.area_cells]
        assert (row.organisation_name, row.supplier_name) == (
            model.organisation.name,
            model.product_version.product.supplier.name,
        )
        assert row.stage_label == model.get_stage_display()
    assert [row.overdue_count for row in rows] == sorted((row.overdue_count for row in rows), reverse=True)


def test_the_exports_hold_exactly_the_filtered_rows_in_both_formats(seeded, signed_in):
    client = signed_in(seeded)
    first = Deployment.objects.select_related("product_version__product").order_by("pk").first()
    query = f"?supplier={first.product_version.product.supplier_id}&sort=deployment"
    expected = Deployment.objects.filter(
        product_version__product__supplier_id=first.product_version.product.supplier_id
    )

    exported = csv_rows(client.get(reverse("dashboards:national-export-csv") + query).content)
    workbook = load_workbook(io.BytesIO(client.get(reverse("dashboards:national-export-xlsx") + query).content))
    sheet = list(workbook.active.iter_rows(values_only=True))

    assert sorted((r["Deployment"], r["ODS code"]) for r in exported) == sorted(
        expected.values_list("name", "organisation__ods_code")
    )
    assert [r["Deployment"] for r in exported] == list(
        expected.order_by("name", "organisation__name", "pk").values_list("name", flat=True)
    )
    assert len(sheet) - 1 == len(exported) and sheet[0][0] == "Deployment"
    assert [row[0] for row in sheet[1:]] == [r["Deployment"] for r in exported]
    assert {"Training: mandatory accepted", "DSPT status", "Reviews overdue"} <= set(exported[0])


def test_a_formula_in_a_name_is_exported_as_text(world, signed_in):
    Deployment.objects.filter(pk=world.deployment_a.pk).update(name='=HYPERLINK("http://x")')

    exported = csv_rows(signed_in(world.national_admin).get(reverse("dashboards:national-export-csv")).content)

    assert '\'=HYPERLINK("http://x")' in [r["Deployment"] for r in exported]


# --- what waits for each role, and the supplier's view ---------------------------------------------


def test_the_trust_dashboard_shows_what_waits_for_each_of_the_persons_roles(world, signed_in):
    supplier_contributor = world.member(world.supplier, Role.SUPPLIER_CONTRIBUTOR)
    fx.supplier_evidence(supplier_contributor, world.product_version, ["INT-02"])  # reviewed by the trust's lead
    cso = world.member(world.trust_a, Role.CSO)
    CSOProfile.objects.create(
        user=cso,
        professional_body="GMC",
        registration_number="1234567",
        registration_checked_on=factories.recent_registration_check(),
    )
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    executive = world.member(world.trust_a, Role.EXECUTIVE_APPROVER)
    viewer = world.member(world.trust_a, Role.VIEWER)

    as_lead = signed_in(lead).get(reverse("dashboards:trust")).content.decode()
    as_cso = signed_in(cso).get(reverse("dashboards:trust")).content.decode()
    score(world.deployment_a)
    sign_off_create(
        actor=cso, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )
    as_executive = signed_in(executive).get(reverse("dashboards:trust")).content.decode()
    as_viewer = signed_in(viewer).get(reverse("dashboards:trust")).content.decode()

    hazards = DeploymentHazard.objects.filter(deployment=world.deployment_a, is_applicable=True).count()
    assert re.search(r'data-testid="waiting-reviews"><span class="dash-number">1</span>', as_lead)
    assert re.search(rf'data-testid="waiting-cso"><span class="dash-number">{hazards}</span>', as_cso)
    assert re.search(r'data-testid="waiting-go-live"><span class="dash-number">1</span>', as_executive)
    assert "Trust A NIR" in as_executive.split('data-testid="waiting-go-live"')[1]
    assert 'data-testid="waiting"' not in as_viewer


def test_the_supplier_sees_where_its_evidence_was_accepted_or_sent_back_and_the_decisions_on_its_hazards(
    world, signed_in
):
    supplier_cso = world.member(world.supplier, Role.SUPPLIER_CSO)
    evidence = fx.supplier_evidence(supplier_cso, world.product_version, ["INT-01"])  # reviewed by each trust's CSO
    cso_a, cso_b = world.member(world.trust_a, Role.CSO), world.member(world.trust_b, Role.CSO)
    fx.accepted(cso_a, evidence, world.deployment_a)
    fx.decide(cso_b, evidence, world.deployment_b, "request_changes", "Name the interface owner.")
    supplier_hazard = supplier_hazard_save(
        actor=supplier_cso,
        product_version=world.product_version,
        code="SUP-1",
        name="Timeout not shown",
        description="d",
        clinical_impact="i",
        causes="c",
        supplier_controls="s",
        is_transferred=True,
        transfer_note="Train staff.",
    )
    transferred = DeploymentHazard.objects.get(deployment=world.deployment_a, supplier_hazard=supplier_hazard)
    hazard_transfer_decide(
        actor=cso_a,
        hazard=transferred,
        decision="accepted",
        justification="Fits our workflow.",
        expected_version=transferred.version,
        mfa_verified_at=time.time(),
    )
    client = signed_in(supplier_cso)

    page = client.get(reverse("dashboards:supplier")).content.decode()
    sent_back = client.get(reverse("dashboards:supplier-evidence") + "?measure=changes_requested").content.decode()
    decisions = client.get(reverse("dashboards:supplier-hazards")).content.decode()

    assert "Accepted: 1</a>" in page and "Sent back: 1</a>" in page and "Not decided: 1</a>" in page
    assert sent_back.count('data-testid="drilldown-row"') == 1 and "Trust B NIR" in sent_back
    assert "Fits our workflow." in decisions and "Not decided" in decisions
    # Only the decision columns of a trust's log reach the supplier.
    assert "Residual" not in decisions and "residual" not in decisions


def test_the_cached_dashboard_shows_a_change_at_once_and_never_mixes_up_two_views(world, signed_in):
    client = signed_in(world.national_admin)
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    today = timezone.localdate()
    before = client.get(reverse("dashboards:national")).content.decode()
    narrowed = client.get(reverse("dashboards:national") + "?dspt=met").content.decode()

    # When evidence is accepted through the service (which writes the audit trail)
    dspt = fx.trust_evidence(
        contributor,
        world.deployment_a,
        ["GOV-02"],
        effective_date=date(today.year if today.month > 6 else today.year - 1, 7, 1),
    )
    fx.accepted(reviewer, dspt, world.deployment_a)
    after = client.get(reverse("dashboards:national")).content.decode()

    assert "Standards met: 0" in before and "Standards met: 1" in after
    assert 'data-testid="total-deployments">2' in before and 'data-testid="total-deployments">0' in narrowed
    assert 'data-testid="total-deployments">2' in after
