"""A real browser on the real stack: Debian's Chromium driven by Playwright, against uvicorn
serving the app on a free port, with a worker and the Temporal dev server behind it.

Chromium comes from the system (`apt-get install chromium`; `.ci/run` installs it), never
from a download by Playwright. Without it the browser tests skip, except where
`PARTNERFLOW_REQUIRE_BROWSER` is set (CI), where a missing browser is a failure.
Screenshots go to `PARTNERFLOW_SCREENSHOTS` when set (`make screenshots` sets it to
docs/screenshots), else to the test's temporary folder.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Stack, free_port, running_stack

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    # The machine's network is closed: no calls home, no component updates, no sync.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def chromium_path() -> str:
    configured = os.environ.get("PARTNERFLOW_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("PARTNERFLOW_REQUIRE_BROWSER"):
            pytest.fail("no Chromium: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium here: `apt-get install chromium` to run the browser tests")
    return found


@dataclass
class Live:
    stack: Stack
    base_url: str
    browser: Browser
    screenshots: Path

    async def context(
        self, viewport: dict[str, int] = DESKTOP, locale: str = "en-GB"
    ) -> BrowserContext:
        """A browser window; `locale` is the language it asks pages for (Accept-Language)."""
        phone = viewport["width"] < 600
        context = await self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport,  # type: ignore[arg-type]
            is_mobile=phone,
            has_touch=phone,
            locale=locale,
            timezone_id="Europe/Berlin",
        )
        context.set_default_timeout(15_000)
        return context

    async def screenshot(self, page: Page, name: str) -> None:
        """The whole page. The window is made as tall as the page for it: Chromium's own
        full-page capture lays sandboxed frames out again, too narrow."""
        viewport = page.viewport_size
        assert viewport is not None
        height: int = await page.evaluate("() => document.documentElement.scrollHeight")
        await page.set_viewport_size({"width": viewport["width"], "height": height})
        await page.screenshot(path=str(self.screenshots / f"{name}.png"))
        await page.set_viewport_size(viewport)


def screenshot_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PARTNERFLOW_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@asynccontextmanager
async def live_stack(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[Live]:
    executable = chromium_path()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    screenshots = screenshot_folder(tmp_path)
    async with running_stack(temporal_env, database_url, engine, public_url=base_url) as stack:
        # The app's lifespan already runs inside running_stack; uvicorn only serves it.
        config = uvicorn.Config(
            stack.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=executable, args=CHROMIUM_ARGS
                )
                try:
                    yield Live(stack, base_url, browser, screenshots)
                finally:
                    await browser.close()
        finally:
            server.should_exit = True
            await serving


async def unlabelled_controls(page: Page) -> list[str]:
    """Every visible input, select and textarea without an accessible label."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    return found


async def overflow_width(page: Page) -> int:
    """How far the page is wider than the screen (0: no sideways scrolling on a phone)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    return width
