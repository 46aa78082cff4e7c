"""axe-core in the browser, under the portal's strict Content-Security-Policy.

`page.add_script_tag` is refused by `script-src 'self' 'nonce-…'`; evaluating the source through the
DevTools protocol (`page.evaluate`) is not subject to the page's CSP, so axe runs against exactly
the page a person gets.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
FRONTEND_BUILD = REPO_ROOT / "build" / "frontend"
AXE_PATH = FRONTEND_BUILD / "axe.min.js"  # copied from node_modules/axe-core by `make frontend`
REPORT_PATH = REPO_ROOT / "test-results" / "axe-report.txt"

# WCAG 2.0, 2.1 and 2.2 at levels A and AA: what the accessibility statement promises.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})

_RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return {
    version: axe.version,
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({target: n.target.map(String).join(" "), summary: n.failureSummary || ""})),
    })),
  };
}"""


@dataclass(frozen=True)
class CheckedPage:
    url: str
    label: str
    axe_version: str
    blocking: tuple[str, ...] = field(default=())  # serious/critical rule ids (the test failed on these)
    minor: tuple[str, ...] = field(default=())  # moderate/minor rule ids (reported, not failed on)


# Session-wide record of every page checked; the browser conftest prints it at the end of the run.
CHECKED_PAGES: list[CheckedPage] = []


@functools.cache
def axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


# axe judges colour contrast and layout as rendered: an unstyled page (static files not served)
# would pass or fail for the wrong reasons.
_STYLED_JS = """() => [...document.styleSheets].some(
  (sheet) => (sheet.href || '').includes('/static/nhsuk/nhsuk-frontend.min.css') && sheet.cssRules.length > 0
)"""


def run_axe(page: Page) -> dict:
    """Inject axe (once per document) and return its version and violations for the page."""
    page.wait_for_load_state("load")
    assert page.evaluate(_STYLED_JS), f"the NHS.UK stylesheet did not load on {page.url}"
    if not page.evaluate("() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        page.evaluate(axe_source())
    return page.evaluate(_RUN_AXE, WCAG_TAGS)


def format_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    at {node['target']}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, checked_pages: list[CheckedPage], *, label: str = "") -> dict:
    """Fail on any serious or critical axe violation on the current page; record the check.

    Also fails on Content-Security-Policy violations and script errors the console has reported so
    far, when the page came from the browser conftest's `page` fixture (which attaches the watcher).
    """
    result = run_axe(page)
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]
    minor = [v for v in result["violations"] if v["impact"] not in BLOCKING_IMPACTS]
    checked_pages.append(
        CheckedPage(
            url=page.url,
            label=label,
            axe_version=result["version"],
            blocking=tuple(v["id"] for v in blocking),
            minor=tuple(v["id"] for v in minor),
        )
    )
    assert not blocking, (
        f"axe-core {result['version']} found serious or critical violations on {page.url}"
        f"{f' ({label})' if label else ''}:\n{format_violations(blocking)}"
    )
    watch = getattr(page, "console_watch", None)
    if watch is not None:
        watch.assert_none()
    return result


# How far the page scrolls sideways, and the elements that stick out past the viewport's right
# edge (innermost first), to say what to fix. Used by the reflow checks (WCAG 1.4.10).
_OVERFLOW_JS = """async () => {
  // Let resize handlers run first: the NHS.UK header moves navigation items into its "More" menu
  // from a ResizeObserver, one animation frame after the viewport changes.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => requestAnimationFrame(resolve));
  const width = document.documentElement.clientWidth;
  const sticking = [...document.body.querySelectorAll('*')].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 0.5;
  });
  const innermost = sticking.filter((el) => !sticking.some((other) => other !== el && el.contains(other)));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    sticking: innermost.slice(0, 5).map(
      (el) => `${el.outerHTML.slice(0, 100)} (right edge ${Math.round(el.getBoundingClientRect().right)}px)`
    ),
  };
}"""


def horizontal_overflow(page: Page) -> dict:
    """{"scrollWidth": px, "sticking": [descriptions of elements past the right edge]}"""
    return page.evaluate(_OVERFLOW_JS)


def report(checked_pages: list[CheckedPage]) -> str:
    versions = sorted({c.axe_version for c in checked_pages})
    distinct = len({c.url for c in checked_pages})
    lines = [
        f"axe-core {', '.join(versions)}: checked {len(checked_pages)} pages ({distinct} distinct URLs), "
        f"rules tagged {', '.join(WCAG_TAGS)}"
    ]
    for checked in checked_pages:
        notes = []
        if checked.label:
            notes.append(checked.label)
        if checked.blocking:
            notes.append("FAILED: " + ", ".join(checked.blocking))
        if checked.minor:
            notes.append("moderate/minor: " + ", ".join(checked.minor))
        lines.append(f"  {checked.url}" + (f"  [{'; '.join(notes)}]" if notes else ""))
    return "\n".join(lines)
