"""Playwright (PyPI) driving Debian's chromium (``make browser-deps``) for console tests.

Playwright's own browser download is never used: ``executable_path`` points at the
system chromium. One browser per test module; each test gets a fresh context (its
own sessionStorage, like a new tab) whose console errors and page errors are
collected so a test can assert there were none.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
EXPECT_TIMEOUT_MS = 30_000
"""Auto-waiting assertions wait this long: generous for a loaded machine."""


def screenshot_path(name: str) -> str:
    """Where a test keeps a screenshot for people to look at: outside pytest's rotating
    temp folders (CONSOLE_SCREENSHOT_DIR, default <tmp>/comfyui-gateway-console)."""
    folder = os.environ.get("CONSOLE_SCREENSHOT_DIR") or os.path.join(
        tempfile.gettempdir(), "comfyui-gateway-console"
    )
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{name}.png")


def chromium_path() -> str:
    path = shutil.which("chromium")
    assert path, "chromium missing: run `make browser-deps` (Debian's chromium package)"
    return path


@contextmanager
def launched_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


@dataclass
class Tab:
    """A page in a context of its own, with what it logged as errors.

    Chromium logs every non-2xx fetch as a console error ("Failed to load resource:
    ... status of 400"); a test that provokes a refusal on purpose names its status in
    ``expected_refusals``. Script errors are never excused.
    """

    page: Page
    errors: list[str] = field(default_factory=list)
    expected_refusals: set[int] = field(default_factory=set)

    def assert_no_console_errors(self) -> None:
        unexpected = [text for text in self.errors if not self._expected(text)]
        assert not unexpected, f"console errors: {unexpected}"

    def _expected(self, text: str) -> bool:
        return text.startswith("Failed to load resource") and any(
            f"status of {status} " in text for status in self.expected_refusals
        )


@contextmanager
def new_tab(browser: Browser, *, width: int = 1280, height: int = 900) -> Iterator[Tab]:
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
    try:
        yield tab
    finally:
        context.close()
