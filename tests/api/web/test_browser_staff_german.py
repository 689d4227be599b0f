"""The contact person in German in a real browser: a browser that asks for German signs in,
finds the overdue process first on the dashboard and a finished one with who did it and when,
every page in German (no text the German catalog lacks) and its dates as Germans write them.
Screenshots end in `-de`."""

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests import factories
from tests.api.web.test_browser import check_page
from tests.browser import Live
from tests.conftest import ADMIN_TOKEN, eventually
from tests.i18n_check import untranslated

# One database is enough to show the pages; the API tests cover both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CUSTOMERS = ("Jana Becker", "Familie Schulte", "Weingut Roth")
TEMPLATE = "PV-Installation"
# What the test makes and the pages show as it is (names, labels, instructions).
DATA = [
    *CUSTOMERS,
    *(f"PV-Anlage {customer}" for customer in CUSTOMERS),
    TEMPLATE,
    "Sonnenschein Solar GmbH",
    "Erika Inhaberin",
    "Admin",
    "Partner beauftragen",
    "Installation",
    "Termin mit dem Kunden vereinbaren, installieren.",
    "Installiert am",
]


async def processes_at_the_partner(live: Live) -> None:
    """Three installations handed to a partner (made through the API): Jana Becker's done by
    the partner, Familie Schulte's due in a week, Weingut Roth's overdue."""
    http, admin = live.stack.http, live.stack.admin
    partner = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    deadlines = ({"after": "P7D"}, {"after": "P7D"}, {"after": "PT1S"})
    overdue = ""
    for deadline, customer in zip(deadlines, CUSTOMERS, strict=True):
        body = factories.installation_template(partner["id"], deadline, TEMPLATE)
        commission, installation = body["steps"]
        commission["name"] = "Partner beauftragen"
        installation["instructions"] = "Termin mit dem Kunden vereinbaren, installieren."
        installation["fields"][0]["label"] = "Installiert am"
        installation["documents"] = []  # the partner finishes it through the API
        template = await factories.published_template(http, admin, body)
        process = await factories.commissioned_for(http, admin, template["id"], customer)
        if customer == CUSTOMERS[0]:
            done = await http.post(
                f"/api/processes/{process['id']}/steps/installation/complete",
                json={"fields": {"installed_on": "2026-12-11"}},
                headers=factories.bearer(partner["owner_token"]),
            )
            assert done.status_code == 200, done.text
        if customer == CUSTOMERS[2]:
            overdue = process["id"]

    async def roth_installation() -> dict[str, Any]:
        detail = (await http.get(f"/api/processes/{overdue}", headers=admin)).json()
        step: dict[str, Any] = next(s for s in detail["steps"] if s["key"] == "installation")
        return step

    # Its deadline a second after it opened: passed before anyone looks.
    assert (await eventually(roth_installation, lambda step: step["overdue"]))["overdue"]


async def all_german(page: Page) -> None:
    """The page says `<html lang="de">` and nothing the German catalog lacks."""
    assert await page.get_attribute("html", "lang") == "de"
    assert untranslated(await page.content(), DATA) == []


async def test_contact_person_works_in_german(live: Live) -> None:
    await processes_at_the_partner(live)
    desk = await (await live.context(locale="de-DE")).new_page()
    await desk.goto("/processes")
    await expect(desk).to_have_url(re.compile(r"/sign-in\?next=/processes"))
    await all_german(desk)
    await desk.get_by_label("Ihr API-Token").fill(ADMIN_TOKEN)
    await desk.keyboard.press("Enter")

    # Running processes, the overdue one first and marked, deadlines as Germans write them.
    await expect(desk.get_by_role("heading", name="Vorgänge")).to_be_visible()
    rows = desk.get_by_role("row")
    await expect(rows.nth(1)).to_contain_text("Weingut Roth")
    await expect(rows.nth(1)).to_contain_text("überfällig")
    await expect(rows.nth(2)).to_contain_text("Familie Schulte")
    await expect(rows.nth(2)).to_contain_text("in 7 Tagen")
    await expect(desk.get_by_text("Offene Schritte nach Fristwoche").first).to_be_visible()
    await check_page(desk)
    await all_german(desk)
    await live.screenshot(desk, "dashboard-de")

    # The finished one: who did it and when, what they recorded, the history.
    await desk.get_by_label("Anzeigen").select_option("completed")
    await desk.get_by_role("button", name="Anwenden").click()
    row = desk.get_by_role("row").filter(has_text="PV-Anlage Jana Becker")
    await expect(row).to_contain_text("2 von 2 Schritten erledigt")
    await row.get_by_role("link").click()
    step = desk.locator("#step-installation")
    await expect(step).to_contain_text("erledigt")
    await expect(step).to_contain_text("von Erika Inhaberin")
    await expect(step).to_contain_text(re.compile(r"Abgeschlossen am \w{2}\., \d{1,2}\. \w{3}"))
    await expect(desk.get_by_role("heading", name="Verlauf")).to_be_visible()
    await expect(desk.get_by_role("cell", name="Vorgang abgeschlossen")).to_be_visible()
    await expect(
        desk.get_by_role("link", name="Workflow in der Temporal-Oberfläche öffnen")
    ).to_be_visible()
    await check_page(desk)
    await all_german(desk)
    await live.screenshot(desk, "process-de")
