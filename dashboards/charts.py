"""Server-rendered SVG charts for the dashboards: a funnel of deployments by stage, a heatmap of
deployments by onboarding area and progress, and the weekly trend of deployments reaching go-live.

Each chart is a picture (`role="img"` with a <title> and <desc>) that needs no JavaScript and no
inline styles (the Content-Security-Policy allows neither): colours are SVG presentation attributes
or classes from static/css/dashboards.css. The page shows a text summary and the same data as a
table next to every chart; the table's numbers are the links (a picture with role="img" may hold
no links of its own).
"""

import math
from collections.abc import Sequence
from html import escape  # as django.utils.html.escape, without its lazy-string wrapper

from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
TEXT = "#212b32"
AXIS = "#4c6272"
BLUE = "#005eb8"
GREY = "#768692"
HEAT_LEVELS = 5


def heat_level(count: int, total: int) -> int:
    """0 for an empty cell, else 1-5 by the share of the row's deployments in it."""
    if not count or not total:
        return 0
    return max(1, min(HEAT_LEVELS, math.ceil(HEAT_LEVELS * count / total)))


def _svg(chart_id: str, title: str, description: str, height: int, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308  every text piece is escaped where it is built
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dash-chart" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" focusable="false" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'data-testid="{chart_id}">'
        f'<title id="{chart_id}-title">{escape(str(title))}</title>'
        f'<desc id="{chart_id}-desc">{escape(str(description))}</desc>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "dash-chart__text", fill=TEXT) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" dominant-baseline="middle" class="{css}" '
        f'fill="{fill}">{escape(str(text))}</text>'
    )


# --- funnel ---------------------------------------------------------------------------------------

FUNNEL_ROW = 34
FUNNEL_LABEL = 230
FUNNEL_BAR = 330


def funnel_summary(stages: Sequence[tuple[str, str, int]]) -> str:
    total = sum(count for _, _, count in stages)
    if not total:
        return "There are no deployments in this view."
    parts = [f"{label}: {count}" for _, label, count in stages if count]
    busiest = max(stages, key=lambda s: s[2])
    return (
        f"{total} deployment{'s' if total != 1 else ''} by stage ({'; '.join(parts)}). "
        f"The most are at {busiest[1].lower()} ({busiest[2]})."
    )


def funnel_svg(stages: Sequence[tuple[str, str, int]], *, onward: Sequence[str] = ()) -> SafeString:
    """Bars centred on one axis, one per stage in onboarding order: the funnel narrows where
    deployments are stuck. Stages in `onward` (suspended, decommissioned) are drawn grey."""
    largest = max((count for _, _, count in stages), default=0) or 1
    height = FUNNEL_ROW * len(stages) + 8
    centre = FUNNEL_LABEL + FUNNEL_BAR / 2
    body = []
    for index, (stage, label, count) in enumerate(stages):
        y = 4 + index * FUNNEL_ROW
        width = max(2.0, FUNNEL_BAR * count / largest) if count else 0
        colour = GREY if stage in onward else BLUE
        body.append(_text(FUNNEL_LABEL - 10, y + FUNNEL_ROW / 2, label, anchor="end"))
        if width:
            body.append(
                f'<rect x="{centre - width / 2:.1f}" y="{y + 4}" width="{width:.1f}" height="{FUNNEL_ROW - 8}" '
                f'rx="3" fill="{colour}" class="dash-funnel__bar"/>'
            )
        body.append(_text(FUNNEL_LABEL + FUNNEL_BAR + 12, y + FUNNEL_ROW / 2, str(count), css="dash-chart__value"))
    return _svg("funnel-chart", "Deployments by stage", funnel_summary(stages), height, body)


# --- heatmap --------------------------------------------------------------------------------------

HEAT_ROW = 32
HEAT_LABEL = 250
HEAT_HEADER = 40


def heatmap_summary(areas, bands: Sequence[tuple[str, str]]) -> str:
    counted = [area for area in areas if area.deployments]
    if not counted:
        return "No deployment in this view has onboarding requirements to show."
    not_started, complete = bands[0][0], bands[-1][0]
    lagging = max(counted, key=lambda a: a.count(not_started) / a.deployments)
    leading = max(counted, key=lambda a: a.count(complete) / a.deployments)
    return (
        f"Deployments by onboarding area and how many of its mandatory requirements are accepted. "
        f"Least started: {lagging.name}, with {lagging.count(not_started)} of {lagging.deployments} deployments "
        f"having none accepted. Most complete: {leading.name}, with {leading.count(complete)} of "
        f"{leading.deployments} having all accepted."
    )


def heatmap_svg(areas, bands: Sequence[tuple[str, str]]) -> SafeString:
    """Rows are onboarding areas, columns how far deployments have got with the area (none, some,
    all mandatory requirements accepted); each cell's shade is its share of the row's deployments."""
    column = (WIDTH - HEAT_LABEL) / max(1, len(bands))
    height = HEAT_HEADER + HEAT_ROW * len(areas) + 4
    body = [
        _text(HEAT_LABEL + column * (i + 0.5), HEAT_HEADER / 2, label, anchor="middle", css="dash-chart__heading")
        for i, (_band, label) in enumerate(bands)
    ]
    for row, area in enumerate(areas):
        y = HEAT_HEADER + row * HEAT_ROW
        body.append(_text(HEAT_LABEL - 10, y + HEAT_ROW / 2, area.name, anchor="end"))
        for i, (band, _label) in enumerate(bands):
            count = area.count(band)
            level = heat_level(count, area.deployments)
            x = HEAT_LABEL + column * i
            body.append(
                f'<rect x="{x + 2:.1f}" y="{y + 2}" width="{column - 4:.1f}" height="{HEAT_ROW - 4}" '
                f'class="dash-heat dash-heat--{level}"/>'
            )
            body.append(
                _text(
                    x + column / 2,
                    y + HEAT_ROW / 2,
                    str(count),
                    anchor="middle",
                    css=f"dash-chart__value dash-heat-text--{level}",
                    fill="currentColor",
                )
            )
    return _svg(
        "heatmap-chart", "Deployments by onboarding area and progress", heatmap_summary(areas, bands), height, body
    )


# --- trend ----------------------------------------------------------------------------------------

TREND_HEIGHT = 240
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 56, 24, 16, 40


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return value


def trend_summary(snapshots) -> str:
    if not snapshots:
        return "No weekly snapshots have been recorded yet."
    first, last = snapshots[0], snapshots[-1]
    return (
        f"Deployments that had reached go-live, week by week: {first.go_live_count} in the week of "
        f"{first.week_start:%d %B %Y}, {last.go_live_count} in the week of {last.week_start:%d %B %Y} "
        f"({len(snapshots)} weekly snapshot{'s' if len(snapshots) != 1 else ''})."
    )


def trend_svg(snapshots) -> SafeString:
    """A line of the number of deployments that had reached go-live at the end of each week."""
    plot_width = WIDTH - TREND_LEFT - TREND_RIGHT
    plot_height = TREND_HEIGHT - TREND_TOP - TREND_BOTTOM
    top = _nice_ceiling(max((s.go_live_count for s in snapshots), default=0))
    base_y = TREND_TOP + plot_height
    body = [
        f'<line x1="{TREND_LEFT}" y1="{base_y}" x2="{WIDTH - TREND_RIGHT}" y2="{base_y}" stroke="{AXIS}"/>',
        f'<line x1="{TREND_LEFT}" y1="{TREND_TOP}" x2="{TREND_LEFT}" y2="{base_y}" stroke="{AXIS}"/>',
        _text(TREND_LEFT - 8, base_y, "0", anchor="end"),
        _text(TREND_LEFT - 8, TREND_TOP, str(top), anchor="end"),
        f'<line x1="{TREND_LEFT}" y1="{TREND_TOP}" x2="{WIDTH - TREND_RIGHT}" y2="{TREND_TOP}" stroke="#d8dde0"/>',
    ]
    if snapshots:
        step = plot_width / max(1, len(snapshots) - 1)
        points = [
            (
                TREND_LEFT + (i * step if len(snapshots) > 1 else plot_width / 2),
                base_y - plot_height * s.go_live_count / top,
            )
            for i, s in enumerate(snapshots)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="3"/>')
        body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{BLUE}"/>' for x, y in points)
        body.append(_text(points[0][0], base_y + 22, f"{snapshots[0].week_start:%d %b %Y}", anchor="start"))
        if len(snapshots) > 1:
            body.append(_text(points[-1][0], base_y + 22, f"{snapshots[-1].week_start:%d %b %Y}", anchor="end"))
    return _svg("trend-chart", "Deployments reaching go-live, by week", trend_summary(snapshots), TREND_HEIGHT, body)
