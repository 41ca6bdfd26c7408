"""Browser tests of the web console: Playwright's expect() timeout for the module."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.browser import EXPECT_TIMEOUT_MS

expect.set_options(timeout=EXPECT_TIMEOUT_MS)
