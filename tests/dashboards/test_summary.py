"""The dashboards' per-deployment summary rows: kept in step inside each writing transaction, by
each kind of write (deployment opened, evidence created, submitted, reviewed, revised and expired,
framework changed, hazards assessed, sign-off, supersession, go-live), never left behind by a
rollback, and shown by a cached national dashboard on the very next request."""

import re
import time
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboards import selectors
from dashboards.models import DeploymentSummary, totals_unpack
from dashboards.summary import summaries_out_of_step, summaries_refresh
from nir_portal.accounts.models import CSOProfile, Role
from onboarding.models import Requirement
from onboarding.services.evidence.contributions import evidence_revise, evidence_submit
from onboarding.services.evidence.expiry import evidence_expire_due
from safety.models import DeploymentHazard
from safety.services.go_live import go_live_authorise
from safety.services.hazards import hazard_transfer_decide, hazard_update
from safety.services.sign_off import sign_off_create
from tests import factories
from tests.onboarding import evidence_fixtures as fx


def summary(deployment) -> DeploymentSummary:
    return DeploymentSummary.objects.get(deployment=deployment)


def in_step(*deployments) -> None:
    assert summaries_out_of_step(deployment_ids=[d.pk for d in deployments]) == []


def cso_of(world, organisation):
    cso = world.member(organisation, Role.CSO)
    CSOProfile.objects.create(
        user=cso, professional_body="GMC", registration_number="7654321", registration_checked_on=date(2026, 1, 5)
    )
    return cso


def assess_every_hazard(actor, deployment, severity="minor", likelihood="low") -> None:
    for hazard in DeploymentHazard.objects.filter(deployment=deployment).order_by("number"):
        if hazard.transfer_decision == DeploymentHazard.TransferDecision.PENDING:
            hazard = hazard_transfer_decide(
                actor=actor,
                hazard=hazard,
                decision="accepted",
                justification="Reviewed locally.",
                expected_version=hazard.version,
            )
        hazard_update(
            actor=actor,
            hazard=hazard,
            expected_version=hazard.version,
            initial_severity=severity,
            initial_likelihood=likelihood,
            residual_severity=severity,
            residual_likelihood=likelihood,
            residual_justification="Impractical to reduce further.",
        )


def test_a_new_deployment_has_its_summary_counting_its_new_hazard_log(world):
    # Given a deployment just opened through the service (its hazard log started from the library)
    hazards = DeploymentHazard.objects.filter(deployment=world.deployment_a, is_applicable=True).count()

    # Then its summary exists, in step, counting every hazard as open and not yet assessed
    row = summary(world.deployment_a)
    assert hazards > 0
    assert (row.open_unrated, row.highest_rating) == (hazards, None)
    assert (row.sign_off_state, row.go_live_state) == ("none", "none")
    assert row.mandatory_total > 0 and row.mandatory_accepted == 0
    in_step(world.deployment_a, world.deployment_b)


def test_evidence_writes_keep_the_summary_in_step(world):
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    today = timezone.localdate()
    dspt_year = date(today.year, 7, 1) if today.month > 6 else date(today.year - 1, 7, 1)

    # Created as a draft, then submitted: waiting for review
    dspt = fx.trust_evidence(contributor, world.deployment_a, ["GOV-02"], effective_date=dspt_year, submit=False)
    in_step(world.deployment_a)
    assert summary(world.deployment_a).waiting_since == []
    evidence_submit(actor=contributor, evidence=dspt)
    in_step(world.deployment_a)
    assert len(summary(world.deployment_a).waiting_since) == 1

    # Accepted: the DSPT is met and a mandatory requirement counts
    before = summary(world.deployment_a).mandatory_accepted
    fx.accepted(reviewer, dspt, world.deployment_a)
    in_step(world.deployment_a)
    row = summary(world.deployment_a)
    assert (row.waiting_since, row.mandatory_accepted) == ([], before + 1)
    assert selectors.measures_by_deployment([world.deployment_a.pk])[world.deployment_a.pk].dspt_state == "met"

    # Revised: waiting again, no longer accepted
    latest = dspt.revisions.order_by("-number").first()
    evidence_revise(
        actor=contributor,
        evidence=dspt,
        statement="Republished.",
        effective_date=dspt_year,
        files=[],
        based_on_revision=latest.number,
    )
    in_step(world.deployment_a)
    assert summary(world.deployment_a).mandatory_accepted == before

    # Accepted again, then expired by the daily job: lapsed
    fx.accepted(reviewer, dspt, world.deployment_a)
    expiry = dspt.revisions.order_by("-number").first().expiry_date
    evidence_expire_due(today=expiry + timedelta(days=1))
    in_step(world.deployment_a)
    assert summary(world.deployment_a).dspt_expired
    assert selectors.measures_by_deployment([world.deployment_a.pk])[world.deployment_a.pk].dspt_state == "lapsed"
    in_step(world.deployment_b)


def test_supplier_evidence_moves_every_deployment_of_the_version(world):
    lead = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)

    fx.supplier_evidence(lead, world.product_version, ["INT-01"])

    assert len(summary(world.deployment_a).waiting_since) == 1
    assert len(summary(world.deployment_b).waiting_since) == 1
    in_step(world.deployment_a, world.deployment_b)


def test_hazard_sign_off_supersession_and_go_live_keep_the_summary_in_step(world):
    cso = cso_of(world, world.trust_a)
    approver = world.member(world.trust_a, Role.EXECUTIVE_APPROVER)

    # Assessed: rated, no longer "not assessed"
    assess_every_hazard(cso, world.deployment_a)
    in_step(world.deployment_a)
    row = summary(world.deployment_a)
    assert (row.open_unrated, row.highest_rating) == (0, 1)

    # Signed off, then go-live authorised
    sign_off_create(
        actor=cso, deployment=world.deployment_a, statement="Safe.", conditions=[], mfa_verified_at=time.time()
    )
    in_step(world.deployment_a)
    assert summary(world.deployment_a).sign_off_state == "current"
    factories.ready_for_go_live(world.deployment_a)
    in_step(world.deployment_a)
    go_live_authorise(actor=approver, deployment=world.deployment_a, statement="Accepted.", mfa_verified_at=time.time())
    in_step(world.deployment_a)
    assert summary(world.deployment_a).go_live_state == "authorised"

    # A hazard reassessed supersedes the sign-off that go-live relied on
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a, is_applicable=True).first()
    hazard_update(
        actor=cso,
        hazard=hazard,
        expected_version=hazard.version,
        residual_severity="major",
        residual_likelihood="medium",
        residual_justification="Further reduction is impractical.",
    )
    in_step(world.deployment_a)
    row = summary(world.deployment_a)
    assert (row.sign_off_state, row.go_live_state, row.highest_rating, row.open_r3) == (
        "superseded",
        "superseded",
        3,
        1,
    )
    in_step(world.deployment_b)


def test_a_rolled_back_write_leaves_the_summary_as_it_was(world):
    cso = cso_of(world, world.trust_a)
    before = summary(world.deployment_a).refreshed_at
    hazard = DeploymentHazard.objects.filter(deployment=world.deployment_a, is_applicable=True).first()

    with pytest.raises(RuntimeError), transaction.atomic():
        hazard_update(
            actor=cso,
            hazard=hazard,
            expected_version=hazard.version,
            residual_severity="major",
            residual_likelihood="medium",
            residual_justification="Further reduction is impractical.",
        )
        assert summary(world.deployment_a).highest_rating == 3
        raise RuntimeError("the request failed after the change")

    assert summary(world.deployment_a).refreshed_at == before
    in_step(world.deployment_a)


def test_a_write_that_bypasses_the_services_is_found_out_of_step_until_refreshed(world):
    DeploymentHazard.objects.filter(deployment=world.deployment_b).update(status="closed")

    assert summaries_out_of_step() == [world.deployment_b.pk]
    summaries_refresh(deployment_ids=[world.deployment_b.pk])
    assert summaries_out_of_step() == []


def test_a_cached_national_dashboard_shows_a_change_to_one_deployment_on_the_next_request(world, signed_in, settings):
    # Given the dashboard's content cached (the cache on, as in production)
    settings.DASHBOARD_CACHE_SECONDS = 60
    cache.clear()
    cso = cso_of(world, world.trust_a)
    client = signed_in(world.national_admin)
    url = reverse("dashboards:national") + f"?deployment={world.deployment_a.pk}"
    first = client.get(url).content.decode()
    with CaptureQueriesContext(connection) as second:
        client.get(url)
    # Served from the cache: the measures were not read again.
    assert not [q for q in second.captured_queries if "dashboards_deploymentsummary s" in q["sql"]]
    assert "Rated 1: 0" in first

    # When one deployment's hazards are assessed through the service
    assess_every_hazard(cso, world.deployment_a)

    # Then the very next request shows it
    after = client.get(url).content.decode()
    rated = DeploymentHazard.objects.filter(
        deployment=world.deployment_a, is_applicable=True, residual_rating=1
    ).count()
    assert rated > 0 and f"Rated 1: {rated}" in after


def heatmap_cell(html: str, area: str, band: str) -> int:
    found = re.search(rf'data-testid="heatmap-cell-{area}-{band}">(\d+)<', html)
    assert found, (area, band)
    return int(found.group(1))


def test_the_heatmap_kept_in_the_summary_rows_moves_on_the_next_request(world, signed_in, settings):
    # Given a cached national dashboard narrowed to one deployment, none of GOV-02's area accepted
    settings.DASHBOARD_CACHE_SECONDS = 60
    cache.clear()
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)
    contributor = world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR)
    area = Requirement.objects.get(framework=world.deployment_a.framework, code="GOV-02").area.code
    client = signed_in(world.national_admin)
    url = reverse("dashboards:national") + f"?deployment={world.deployment_a.pk}"
    before = client.get(url).content.decode()
    assert heatmap_cell(before, area, "not_started") == 1

    # When evidence for GOV-02 is accepted through the services
    dspt = fx.trust_evidence(contributor, world.deployment_a, ["GOV-02"], submit=True)
    fx.accepted(reviewer, dspt, world.deployment_a)

    # Then the summary row's share of the totals holds it, in step with a fresh computation...
    in_step(world.deployment_a, world.deployment_b)
    row = summary(world.deployment_a)
    _fixed, heat = totals_unpack(row.totals_vector, row.area_layout)
    total = heat[area]["total"]
    assert (heat[area]["accepted"], heat[area]["not_started"]) == (1, 0)
    assert heat[area]["complete"] == (1 if total == 1 else 0) and [1, total] == row.area_progress[area]
    # ...and the very next request moves the deployment to its new band in the heatmap
    after = client.get(url).content.decode()
    band = "complete" if total == 1 else "in_progress"
    assert heatmap_cell(after, area, "not_started") == 0
    assert heatmap_cell(after, area, band) == 1


def test_a_share_of_the_totals_written_around_the_services_is_found_out_of_step(world):
    DeploymentSummary.objects.filter(deployment=world.deployment_a).update(totals_vector=0, area_layout="")

    assert summaries_out_of_step() == [world.deployment_a.pk]
    summaries_refresh(deployment_ids=[world.deployment_a.pk])
    assert summaries_out_of_step() == []
    row = summary(world.deployment_a)
    assert row.area_layout.split() == sorted(row.area_progress)
    fixed, heat = totals_unpack(row.totals_vector, row.area_layout)
    assert fixed["sign_off:none"] == 1 and fixed["hazards:unrated"] == row.open_unrated > 0
    assert {code: [parts["accepted"], parts["total"]] for code, parts in heat.items()} == row.area_progress


def test_the_check_command_fails_on_a_row_out_of_step_until_refreshed(world):
    DeploymentSummary.objects.filter(deployment=world.deployment_b).update(totals_vector=7)

    with pytest.raises(CommandError, match=f"1 summary rows out of step \\(deployments {world.deployment_b.pk}\\)"):
        call_command("dashboard_summaries", "--check", stdout=StringIO())
    call_command("dashboard_summaries", "--refresh", stdout=StringIO())
    out = StringIO()
    call_command("dashboard_summaries", "--check", stdout=out)
    assert "in step" in out.getvalue()
