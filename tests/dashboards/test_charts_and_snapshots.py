"""The charts are accessible pictures that need neither JavaScript nor inline styles; the weekly
snapshot behind the go-live trend is recorded from the stage history by a beat job, safely twice;
seed_scale makes realistic volumes and refuses to run outside development."""

import re
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from dashboards import charts
from dashboards.selectors import Band, HeatmapArea
from dashboards.services import week_start_of, weekly_snapshot_record
from dashboards.tasks import dashboard_weekly_snapshot
from onboarding.models import Deployment, DeploymentStageChange, EvidenceRevision, Review, WeeklySnapshot
from safety.models import DeploymentHazard, GoLiveAuthorisation, SignOff
from tests.dashboards.conftest import seed_scale

STAGES = [("setup", "Setup and eligibility", 3), ("governance", "Governance <assurance>", 7), ("live", "Live", 0)]


def snapshot(week_start: date, go_lives: int) -> WeeklySnapshot:
    return WeeklySnapshot(week_start=week_start, counts_by_stage={"live": go_lives, "setup": 2}, go_live_count=go_lives)


@pytest.mark.parametrize(
    "svg",
    [
        charts.funnel_svg(STAGES),
        charts.heatmap_svg([HeatmapArea("gov", "Governance & <b>", {"complete": 2, "not_started": 1})], Band.choices),
        charts.trend_svg([snapshot(date(2026, 11, 2), 1), snapshot(date(2026, 11, 9), 4)]),
        charts.trend_svg([]),
    ],
)
def test_each_chart_is_a_titled_described_picture_without_script_or_inline_style(svg):
    assert svg.startswith("<svg") and 'role="img"' in svg
    chart_id = re.search(r'aria-labelledby="(\S+)-title \1-desc"', svg).group(1)
    assert f'<title id="{chart_id}-title">' in svg and f'<desc id="{chart_id}-desc">' in svg
    assert "style=" not in svg and "<style" not in svg and "<script" not in svg and "<a " not in svg
    assert "<b>" not in svg and "<assurance>" not in svg  # text is escaped


def test_the_text_summaries_say_what_the_pictures_show():
    funnel = charts.funnel_summary(STAGES)
    heatmap = charts.heatmap_summary(
        [HeatmapArea("gov", "Governance", {"complete": 2, "not_started": 1})], Band.choices
    )
    trend = charts.trend_summary([snapshot(date(2026, 11, 2), 1), snapshot(date(2026, 11, 9), 4)])

    assert funnel.startswith("10 deployments by stage") and "governance <assurance> (7)" in funnel
    assert "Governance, with 1 of 3 deployments having none accepted" in heatmap
    assert "1 in the week of 02 November 2026, 4 in the week of 09 November 2026" in trend


def test_a_heat_level_is_the_share_of_the_rows_deployments():
    assert [charts.heat_level(n, 10) for n in (0, 1, 2, 5, 10)] == [0, 1, 1, 3, 5]


def test_the_dashboard_page_links_its_own_stylesheet_and_no_inline_style(world, signed_in):
    page = signed_in(world.national_admin).get(reverse("dashboards:national")).content.decode()

    assert '<link rel="stylesheet" href="/static/css/dashboards.css">' in page
    assert " style=" not in page and "<style" not in page
    assert page.count('role="img"') >= 4  # the NHS logo and the three charts


# --- the weekly snapshot ----------------------------------------------------------------------------


def test_the_beat_job_records_last_weeks_snapshot_from_the_stage_history_and_is_safe_to_run_twice(world):
    last_monday = week_start_of(timezone.localdate()) - timedelta(days=7)
    DeploymentStageChange.objects.filter(deployment=world.deployment_b).update(
        changed_at=timezone.now() - timedelta(days=30)
    )
    DeploymentStageChange.objects.create(
        deployment=world.deployment_b,
        from_stage="setup",
        to_stage="live",
        changed_at=timezone.now() - timedelta(days=20),
    )
    DeploymentStageChange.objects.filter(deployment=world.deployment_a).update(changed_at=timezone.now())

    first = dashboard_weekly_snapshot.apply().get()
    again = dashboard_weekly_snapshot.apply().get()

    recorded = WeeklySnapshot.objects.get()
    assert first == again == last_monday.isoformat()
    # Deployment A was opened only this week: last week's snapshot counts deployment B alone.
    assert recorded.counts_by_stage == {"live": 1} and recorded.go_live_count == 1


def test_a_snapshot_of_an_earlier_week_reflects_that_week(world):
    DeploymentStageChange.objects.update(changed_at=timezone.now() - timedelta(days=60))
    DeploymentStageChange.objects.create(
        deployment=world.deployment_a,
        from_stage="setup",
        to_stage="governance",
        changed_at=timezone.now() - timedelta(days=3),
    )
    week = week_start_of(timezone.localdate()) - timedelta(weeks=3)

    recorded = weekly_snapshot_record(week_start=week)

    assert recorded.counts_by_stage == {"setup": 2} and recorded.go_live_count == 0


def test_the_beat_schedule_runs_the_snapshot_weekly():
    entry = settings.CELERY_BEAT_SCHEDULE["dashboard-weekly-snapshot"]

    assert entry["task"] == dashboard_weekly_snapshot.name
    assert "dashboards.tasks" in settings.CELERY_IMPORTS
    assert entry["schedule"].day_of_week == {1}


# --- seed_scale -------------------------------------------------------------------------------------


def test_seed_scale_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    settings.TESTING = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_scale", deployments=3)
    assert not Deployment.objects.exists()


def test_seed_scale_creates_deployments_at_every_stage_with_their_history_evidence_and_hazard_logs(db):
    output = seed_scale(60)

    deployments = Deployment.objects.all()
    assert deployments.count() == 60 and "Created" in output
    assert len(set(deployments.values_list("stage", flat=True))) >= 6
    assert DeploymentStageChange.objects.count() > 60
    assert EvidenceRevision.objects.filter(number=2).exists() and Review.objects.filter(decision="accept").exists()
    assert DeploymentHazard.objects.filter(residual_rating__isnull=False).exists()
    assert SignOff.objects.filter(status="current").exists() and SignOff.objects.filter(status="superseded").exists()
    assert GoLiveAuthorisation.objects.exists()
    assert WeeklySnapshot.objects.count() == 26
    live = deployments.filter(stage__in=["go_live_authorised", "live"]).first()
    assert live.organisation.region and live.stage_changes.count() >= 5
