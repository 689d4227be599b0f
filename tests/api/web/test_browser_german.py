"""The partner portal in German in a real browser on a phone: a browser that asks for German
signs in, records an appointment, uploads, finishes its step, sees its tasks and an offer,
every page in German (no text the German catalog lacks) and its dates as Germans write them.
Screenshots end in `-de`."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests import factories
from tests.api.test_offers import offer_for, offer_step, offered
from tests.api.web.test_browser import PDF, check_page, outbox_text
from tests.browser import PHONE, Live
from tests.i18n_check import untranslated

# One database is enough to show the pages; the API tests cover both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CUSTOMERS = ("Jana Becker", "Weingut Roth")
# What the test makes and the pages show as it is (names, addresses, labels, instructions).
DATA = [
    *CUSTOMERS,
    "Sonnenschein Solar GmbH",
    "Erika Inhaberin",
    "PV-Installation",
    "Installation",
    "Commission partner",
    "Agree the date with the customer, install, upload the invoice.",
    "Installed on",
    "Invoice",
    "invoice",
    "Rechnung-4711.pdf",
    "Lindenweg 4",
    "Köln",
]


async def german_partner_at_work(live: Live) -> tuple[dict[str, Any], str, str]:
    """A partner allowed to work its steps, with an installation due in a week and one
    overdue (made through the API), and a job offered to it; the partner, the first
    installation's id and the offered process's template name."""
    http, admin = live.stack.http, live.stack.admin
    partner = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    partner["headers"] = factories.bearer(partner["owner_token"])
    await factories.granted(
        http, admin, partner["id"], "steps:complete", "steps:set_deadline", "documents:upload"
    )
    processes = []
    for deadline, customer in (({"after": "P7D"}, CUSTOMERS[0]), ({"after": "PT1S"}, CUSTOMERS[1])):
        template = await factories.published_template(
            http, admin, factories.installation_template(partner["id"], deadline, "PV-Installation")
        )
        process = await factories.commissioned_for(http, admin, template["id"], customer)
        processes.append(process["id"])
    offer = await offer_for(http, partner, await offered(live.stack, offer_step([partner])))
    return partner, processes[0], offer["template_name"]


async def all_german(page: Page, *data: str) -> None:
    """The page says `<html lang="de">` and nothing the German catalog lacks."""
    assert await page.get_attribute("html", "lang") == "de"
    assert untranslated(await page.content(), [*DATA, *data]) == []


async def test_partner_works_in_german_on_a_phone(live: Live, tmp_path: Path) -> None:
    partner, process_id, offered_name = await german_partner_at_work(live)
    email = partner["owner_email"]
    handover = await outbox_text(live, "handover", email, process_id)
    step_url = re.search(r"https?://\S+/portal/processes/\S+/steps/installation", handover)
    assert step_url, handover

    phone = await live.context(PHONE, locale="de-DE")
    page = await phone.new_page()
    # The hand-over e-mail's link asks who they are, in German, then sends a sign-in link.
    await page.goto(step_url.group(0))
    await expect(page.get_by_role("heading", name="Partnerportal")).to_be_visible()
    await all_german(page)
    await page.get_by_label("Ihre E-Mail-Adresse").fill(email)
    await page.get_by_role("button", name="Anmeldelink senden").click()
    await expect(page.get_by_role("heading", name="Sehen Sie in Ihre E-Mails")).to_be_visible()
    await all_german(page, email)
    magic = re.search(
        r"https?://\S+/portal/sign-in/[A-Za-z0-9_-]+", await outbox_text(live, "magic_link", email)
    )
    assert magic
    await page.goto(magic.group(0))
    await all_german(page, email)
    await page.get_by_role("button", name="Weiter zu meinen Aufgaben").click()

    # The step, in German: the appointment as Germans write dates, the upload, the finish.
    await expect(page.get_by_role("heading", name="Installation")).to_be_visible()
    await page.get_by_label("Datum und Uhrzeit des Termins").fill("2026-12-11T14:00")
    await page.get_by_role("button", name="Termin eintragen").click()
    await expect(page.get_by_role("status")).to_contain_text("Der Termin ist als Frist")
    await expect(page.locator(".due time")).to_contain_text("Fr., 11. Dez. 2026, 14:00")
    invoice = tmp_path / "Rechnung-4711.pdf"
    invoice.write_bytes(PDF)
    await page.get_by_label("Datei").set_input_files(invoice)
    await page.get_by_role("button", name="Hochladen").click()
    await expect(page.get_by_role("status")).to_contain_text("Das Dokument ist hochgeladen.")
    await expect(page.get_by_text("Invoice (erforderlich): 1 hochgeladen")).to_be_visible()
    await page.get_by_label("Installed on").fill("2026-12-11")
    await check_page(page)
    await all_german(page)
    await live.screenshot(page, "portal-step-phone-de")

    await page.get_by_role("button", name="Schritt abschließen").click()
    await expect(page.get_by_role("heading", name="Meine Aufgaben")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Der Schritt ist abgeschlossen")
    # What is left: the overdue one, marked, and the offer waiting
    tasks = page.locator(".task")
    await expect(tasks).to_have_count(1)
    await expect(tasks.nth(0)).to_contain_text(CUSTOMERS[1])
    await expect(tasks.nth(0)).to_contain_text("Überfällig")
    await expect(page.get_by_text("1 Auftrag für Sie angeboten")).to_be_visible()
    await check_page(page)
    await all_german(page)
    await live.screenshot(page, "portal-tasks-phone-de")

    # The offer: where and until when, in German; the customer not yet.
    await page.get_by_role("link", name="Angebote").first.click()
    await expect(page.get_by_role("heading", name="Angebote")).to_be_visible()
    offer = page.get_by_role("listitem").filter(has_text="Installation in 50667 Köln")
    await expect(offer).to_contain_text("Offen bis")
    await offer.get_by_text("Sie können ihn nicht übernehmen? Ablehnen").click()
    await expect(offer.get_by_label("Warum Sie ablehnen")).to_be_visible()
    await check_page(page)
    await all_german(page, offered_name, "50667")
    await live.screenshot(page, "portal-offers-phone-de")
