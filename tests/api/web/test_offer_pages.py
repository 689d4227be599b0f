"""The portal's offers through HTTP as a browser sends it: the list (where, not for whom), accept
(on to the step, now the partner's), decline with a reason, and an offer someone else took."""

import pytest

from tests.api.test_offers import CUSTOMER_TEXTS, REASON, offer_for, offer_step, offered, partners
from tests.conftest import Stack
from tests.web import browser, signed_in_partner

# One database is enough to show the pages; the API tests cover both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_partner_accepts_and_declines_offers_in_the_portal(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    mine, other = await partners(stack, 2)
    taken = await offered(stack, offer_step([mine, other]))  # the other partner takes it
    to_accept = await offered(stack, offer_step([mine]))
    to_decline = await offered(stack, offer_step([mine]))
    offers = {pid: await offer_for(http, mine, pid) for pid in (taken, to_accept, to_decline)}
    theirs = await offer_for(http, other, taken)

    async with browser(http) as partner:
        csrf = await signed_in_partner(partner, admin, mine["owner_email"])

        # The task list points to the offers; they show where the job is, not for whom.
        tasks = await partner.get("/portal")
        assert "3 jobs offered to you" in tasks.text
        page = await partner.get("/portal/offers")
        assert page.status_code == 200
        assert page.text.count("Installation in 50667 Köln") == 3
        assert [text for text in CUSTOMER_TEXTS if text in page.text] == []

        # Another partner's offer does not exist here.
        response = await partner.post(f"/portal/offers/{theirs['id']}/accept", data={"csrf": csrf})
        assert response.status_code == 404

        # Too late: the other partner took it first; the list says so and no longer has it.
        took = await http.post(f"/api/offers/{theirs['id']}/accept", headers=other["headers"])
        assert took.status_code == 200, took.text
        url = f"/portal/offers/{offers[taken]['id']}"
        response = await partner.post(f"{url}/accept", data={"csrf": csrf})
        assert response.status_code == 409
        assert "no longer" in response.text
        assert response.text.count("Installation in 50667 Köln") == 2
        assert [text for text in CUSTOMER_TEXTS if text in response.text] == []

        # Declining needs a reason, said above the list; the form stays open.
        url = f"/portal/offers/{offers[to_decline]['id']}"
        response = await partner.post(f"{url}/decline", data={"csrf": csrf, "reason": " "})
        assert response.status_code == 422
        assert "Say why you turn the offer down" in response.text
        response = await partner.post(f"{url}/decline", data={"csrf": csrf, "reason": REASON})
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/offers?flash=declined"
        page = await partner.get(response.headers["location"])
        assert "Declined" in page.text
        assert page.text.count("Installation in 50667 Köln") == 1

        # Accepted: on to the step, with the customer it is for.
        url = f"/portal/offers/{offers[to_accept]['id']}"
        response = await partner.post(f"{url}/accept", data={"csrf": csrf})
        assert response.status_code == 303
        step_path = f"/portal/processes/{to_accept}/steps/installation"
        assert response.headers["location"] == f"{step_path}?flash=accepted"
        page = await partner.get(response.headers["location"])
        assert "the job is yours" in page.text
        assert "Jana Becker" in page.text and "Lindenweg 4" in page.text
        page = await partner.get("/portal/offers")
        assert "No offers right now" in page.text
        tasks = await partner.get("/portal")
        assert "offered to you" not in tasks.text and "Jana Becker" in tasks.text
