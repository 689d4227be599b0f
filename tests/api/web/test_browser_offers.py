"""An offer in a real browser on a phone: from the offer e-mail's link to the step, now the
partner's."""

import re

import pytest
from playwright.async_api import expect

from tests.api.test_offers import CUSTOMER_TEXTS, offer_for, offer_step, offered, partners
from tests.api.web.test_browser import check_page, outbox_text
from tests.browser import PHONE, Live

# One database is enough to show the pages; the API tests cover both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_partner_accepts_an_offer_on_a_phone(live: Live) -> None:
    stack = live.stack
    [partner] = await partners(stack, 1)
    process_id = await offered(stack, offer_step([partner]))
    await offer_for(stack.http, partner, process_id)
    email = partner["owner_email"]
    offer_email = await outbox_text(live, "offer", email, process_id)
    offers_url = re.search(r"https?://\S+/portal/offers", offer_email)
    assert offers_url, offer_email

    phone = await live.context(PHONE)
    page = await phone.new_page()
    # The offer e-mail's link asks who they are, then sends a sign-in link back to the offers.
    await page.goto(offers_url.group(0))
    await expect(page).to_have_url(re.compile(r"/portal/sign-in\?next=/portal/offers"))
    await page.get_by_label("Your e-mail address").fill(email)
    await page.get_by_role("button", name="Send me a sign-in link").click()
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    magic = re.search(
        r"https?://\S+/portal/sign-in/[A-Za-z0-9_-]+", await outbox_text(live, "magic_link", email)
    )
    assert magic
    await page.goto(magic.group(0))
    await page.get_by_role("button", name="Continue to my tasks").click()

    # The offer: the job and where, until when; not who the customer is.
    await expect(page.get_by_role("heading", name="Offers")).to_be_visible()
    offer = page.get_by_role("listitem").filter(has_text="Installation in 50667 Köln")
    await expect(offer).to_have_count(1)
    await expect(offer).to_contain_text("Open until")
    main = await page.locator("main").text_content() or ""
    assert [text for text in CUSTOMER_TEXTS if text in main] == []
    await offer.get_by_text("You cannot take it? Decline").click()
    await expect(offer.get_by_label("Why you decline")).to_be_visible()
    await check_page(page)
    await live.screenshot(page, "portal-offers-phone")

    await offer.get_by_role("button", name="Accept the job").click()
    await expect(page.get_by_role("heading", name="Installation")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("the job is yours")
    await expect(page.get_by_text("Jana Becker")).to_be_visible()
    await expect(page.get_by_text("Lindenweg 4")).to_be_visible()
    await check_page(page)
    await page.get_by_role("link", name="Offers").click()
    await expect(page.get_by_text("No offers right now")).to_be_visible()
