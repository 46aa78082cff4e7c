"""Browser tests: Debian's chromium, driven by Playwright, against pytest-django's live server.

The live server answers /static/ through Django's staticfiles handler and /assets/ through
WhiteNoise (WHITENOISE_ROOT), so pages render with the real NHS.UK stylesheet and scripts under the
portal's real Content-Security-Policy. Every page a test visits is checked with axe-core (see
`tests/browser/axe.py`); the pages checked are listed at the end of the run.
"""

import os
import time
from pathlib import Path

# Playwright's sync API runs an event loop in the test's thread; without this Django refuses ORM
# calls made from that thread (factories, assertions on rows).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest
from django.test import Client
from playwright.sync_api import BrowserContext, ConsoleMessage, WebError

from onboarding.services import framework as framework_services
from safety.services.reference import safety_reference_data_load
from tests.browser import axe
from tests.conftest import require
from tests.onboarding import evidence_fixtures as fx

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
FRONTEND_CSS = axe.FRONTEND_BUILD / "static" / "nhsuk" / "nhsuk-frontend.min.css"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.path)).is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not axe.CHECKED_PAGES:
        return
    report = axe.report(axe.CHECKED_PAGES)
    axe.REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    axe.REPORT_PATH.write_text(report + "\n")
    terminalreporter.section("axe-core accessibility checks")
    terminalreporter.write(report + "\n")
    terminalreporter.write(f"(written to {axe.REPORT_PATH.relative_to(axe.REPO_ROOT)})\n")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    require(
        axe.AXE_PATH.exists() and FRONTEND_CSS.exists(),
        f"{axe.AXE_PATH} or the NHS.UK assets are missing: run `make frontend`",
    )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def checked_pages() -> list[axe.CheckedPage]:
    """Every page axe has checked in this run, reported at the end of the session."""
    return axe.CHECKED_PAGES


class ConsoleWatch:
    """Collects what a browser context reports that means a page is broken for someone:
    Content-Security-Policy violations, the NHS.UK frontend refusing to initialise its components,
    and uncaught script errors."""

    PATTERNS = ("Content Security Policy", "NHS.UK frontend", "NHSUKFrontendError")

    def __init__(self) -> None:
        self.problems: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if any(pattern in message.text for pattern in self.PATTERNS):
            where = message.page.url if message.page else "?"
            self.problems.append(f"{where}: console {message.type}: {message.text.splitlines()[0]}")

    def on_web_error(self, web_error: WebError) -> None:
        where = web_error.page.url if web_error.page else "?"
        self.problems.append(f"{where}: uncaught error: {web_error.error}")

    def assert_none(self) -> None:
        found, self.problems = self.problems, []
        assert not found, "The browser reported problems:\n" + "\n".join(found)


@pytest.fixture
def console_watch() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def context(context: BrowserContext, console_watch: ConsoleWatch):
    """pytest-playwright's context, watched for CSP violations and script errors on every page."""
    context.on("console", console_watch.on_console)
    context.on("weberror", console_watch.on_web_error)
    context.set_default_timeout(10_000)
    yield context
    console_watch.assert_none()


@pytest.fixture
def page(context: BrowserContext, console_watch: ConsoleWatch):
    page = context.new_page()
    # axe.assert_accessible reads this, so every page checked also fails on what the console saw.
    page.console_watch = console_watch
    return page


@pytest.fixture
def framework(db):
    """The default onboarding framework, published; take it before `world`, so that the world's
    deployments are assessed against it (their checklists have requirements)."""
    published, _ = framework_services.framework_load(actor=None, data=fx.framework_data(), publish=True)
    return published


@pytest.fixture
def safety_reference_data(db):
    """The risk matrix and hazard library; take it before `world`, so that the world's deployments
    start their hazard logs from the library."""
    return safety_reference_data_load()


def signed_in_client(user) -> Client:
    """A test client signed in as `user`, its session marked as freshly (re-)authenticated as a
    real sign-in followed by a password check leaves it, so pages behind allauth's
    re-authentication render instead of asking for the password again."""
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "email": user.email, "reauthenticated": True}
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


@pytest.fixture
def sign_in(live_server):
    """Sign a person into a browser context by giving it a signed-in test client's session cookie.

    Faster than the sign-in form with TOTP, which test_sign_in_journey and test_keyboard drive.
    Returns the client, whose session the browser now shares.
    """

    def _sign_in(context: BrowserContext, user) -> Client:
        client = signed_in_client(user)
        context.clear_cookies()
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        return client

    return _sign_in
