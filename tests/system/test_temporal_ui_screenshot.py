"""The Temporal UI tells a process's story: its summary and details, and what each timer and
activity is for, in a real browser (Debian's Chromium) on a dev server that serves the UI (the
one `make up` runs). `make screenshots` keeps the picture for the README's operators section
(docs/screenshots/temporal-process.png)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, async_playwright, expect
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from partnerflow.temporal import DATA_CONVERTER
from tests import factories
from tests.browser import CHROMIUM_ARGS, chromium_path, screenshot_folder
from tests.conftest import BIN, free_port, running_stack
from workflows.search_attributes import dev_server_args

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
async def temporal_ui() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server of its own with its web UI on a free port (the suite's runs headless)."""
    chromium_path()  # no browser, no need for the server either
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=dev_server_args(),
        dev_server_log_level="error",
        ui=True,
        ui_port=port,
    )
    yield env, f"http://127.0.0.1:{port}"
    await env.shutdown()


async def _screenshot(page: Page, path: Path) -> None:
    """The whole page: the window made as tall as the page (Chromium's full-page capture
    lays the sandboxed frames the UI shows user metadata in out again, too narrow)."""
    viewport = page.viewport_size
    assert viewport is not None
    height: int = await page.evaluate("() => document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": viewport["width"], "height": height})
    await page.screenshot(path=str(path))
    await page.set_viewport_size(viewport)


async def _until_shown(page: Page, main: Locator, text: str, attempts: int = 3) -> None:
    """Wait for `text` in the page, loading it again if it stays away: on a loaded machine
    (CI, five test workers on two cores) the UI once drew the timeline's axis but none of
    its rows for 20 s, with the history's 22 events counted in the tab beside it."""
    for attempt in range(1, attempts + 1):
        try:
            await expect(main).to_contain_text(text, timeout=20_000)
            return
        except AssertionError:
            if attempt == attempts:
                raise
            await page.reload()


async def test_the_temporal_ui_shows_a_processs_summary_details_and_its_steps_timers(
    temporal_ui: tuple[WorkflowEnvironment, str], database_url: str, engine: Engine,
    tmp_path: Path,
) -> None:  # fmt: skip
    env, ui_url = temporal_ui
    async with running_stack(env, database_url, engine) as stack:
        http, admin = stack.http, stack.admin
        partner = await factories.partner(http, admin)
        body = factories.two_step_template(partner["id"])
        body["name"] = "PV installation"
        body["steps"][1].update(deadline={"after": "P3D"}, reminders=["P1D"])
        template = await factories.published_template(http, admin, body)
        process = await factories.started(http, admin, template["id"])
        await factories.commission(http, admin, process["id"])
        await factories.outbox(http, admin, process["id"], count=1)  # the hand-over went out

        folder = screenshot_folder(tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context(
                    viewport={"width": 1400, "height": 1300}, locale="en-GB",
                    timezone_id="Europe/Berlin",
                )  # fmt: skip
                context.set_default_timeout(20_000)
                page = await context.new_page()
                await page.goto(f"{ui_url}/namespaces/default/workflows/process-{process['id']}")
                main = page.locator("main")
                # The timeline: each activity and timer with its summary.
                await _until_shown(page, main, "reminder 1 for step installation")
                await expect(main).to_contain_text("hand-over e-mail for step installation")
                # The read-model write is a local activity (code version 5): the UI shows its
                # marker by the activity's name (its summary is kept in the history).
                await expect(main).to_contain_text("record_transition")
                await _screenshot(page, folder / "temporal-process.png")

                # User Metadata: the summary, the details with the link back, where it stands.
                await page.get_by_role("tab", name="User Metadata").click()
                frames = page.frame_locator("main iframe")
                summary, details, current = (frames.nth(i).locator("body") for i in range(3))
                await expect(summary).to_contain_text(
                    f"PV installation v1, opportunity {process['opportunity_id']}"
                )
                link = details.get_by_role("link", name="Open the process in Partnerflow")
                await expect(link).to_have_attribute(
                    "href", f"http://partnerflow.test/processes/{process['id']}"
                )
                await expect(current).to_contain_text(f"with partner {partner['id']}, due")
                await _screenshot(page, folder / "temporal-process-metadata.png")
            finally:
                await browser.close()
