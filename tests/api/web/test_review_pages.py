"""The process page and the portal with a condition, a review and a decline, through HTTP as
a browser sends the forms: the reviewer approves or sends the step back with a reason, the
partner reads it at the top of its step, a step whose condition did not hold is greyed with
the condition in words, the history says who did what and why."""

import re
import uuid
from typing import Any

from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser, signed_in_partner, signed_in_staff

REASON = "Auf dem Foto des Zählerschranks fehlt die Plombe <b>."


def branching_template(partner_id: str) -> dict[str, Any]:
    """Commission; the partner's installation, reviewed by the contact person; the grid
    registration only above 12 kW."""
    return {
        "name": f"Heat pump {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "fields": [{"key": "photos", "label": "Photos taken", "type": "boolean"}],
                "review": {"by": {"type": "contact"}, "max_rounds": 2},
            },
            {
                "key": "grid",
                "name": "Grid registration",
                "assignee": {"type": "contact"},
                "when": {
                    "all": [{"field": "opportunity.attributes.power_kw", "op": "gt", "value": 12}]
                },
            },
        ],
    }


async def handed_to_partner(stack: Stack, power_kw: int = 9) -> tuple[dict[str, Any], str]:
    """The partner and a process whose installation it has open."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Wärme & Co KG")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    template = await factories.published_template(http, admin, branching_template(partner["id"]))
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={
                "title": "Wärmepumpe Becker",
                "customer": {"name": "Jana Becker"},
                "attributes": {"power_kw": power_kw},
            },
            headers=admin,
        )
    )
    process = await factories.started(http, admin, template["id"], opportunity_id=opportunity["id"])
    response = await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    return partner, process["id"]


async def test_a_review_round_and_a_condition_on_the_process_page_and_in_the_portal(
    stack: Stack,
) -> None:
    partner, process_id = await handed_to_partner(stack)
    step_path = f"/portal/processes/{process_id}/steps/installation"
    page_path = f"/processes/{process_id}"
    async with browser(stack.http) as portal, browser(stack.http) as desk:
        partner_csrf = await signed_in_partner(portal, stack.admin, partner["owner_email"])
        staff_csrf = await signed_in_staff(desk, ADMIN_TOKEN)

        finished = await portal.post(
            f"{step_path}/complete", data={"csrf": partner_csrf, "field:photos": "on"}
        )
        assert finished.status_code == 303, finished.text
        assert finished.headers["location"] == "/portal?flash=submitted"
        tasks = (await portal.get(finished.headers["location"])).text
        assert "the step is sent for review" in tasks
        page = (await portal.get(step_path)).text
        assert '<span class="badge review">in review</span>' in page
        assert "Changes requested" not in page

        # The contact person's dashboard shows the step waiting for review.
        row = (await desk.get("/processes")).text.split("Wärmepumpe Becker", 1)[1]
        # (the step's name is the label of its box to tick for a bulk change)
        assert (
            '<strong>Installation</strong></label> · <span class="badge review">in review</span>'
            in row
        )
        # The contact person reviews: request changes needs a reason.
        page = (await desk.get(page_path)).text
        action = f"/processes/{process_id}/steps/installation/review"
        assert (
            f'action="{action}"' in page and '<span class="badge review">in review</span>' in page
        )
        refused = await desk.post(
            action, data={"csrf": staff_csrf, "decision": "request_changes", "reason": " "}
        )
        assert refused.status_code == 422
        assert '<p class="problem" role="alert">Say what needs to change' in refused.text
        sent_back = await desk.post(
            action,
            data={
                "csrf": staff_csrf,
                "decision": "request_changes",
                "reason": REASON,
                "due": "2030-05-04T10:00",  # a date picker's value: the process's local time
            },
        )
        assert sent_back.status_code == 303, sent_back.text
        assert sent_back.headers["location"].endswith("?flash=request_changes#step-installation")
        page = (await desk.get(sent_back.headers["location"])).text
        assert "Sent back: the assignee is told what to change." in page
        escaped = "Auf dem Foto des Zählerschranks fehlt die Plombe &lt;b&gt;."
        assert f"changes requested by Admin: “{escaped}”" in _text(page)
        assert f"changes requested · {escaped}" in _text(page)  # the history
        assert "deadline moved · Sat, 4 May 2030, 10:00" in _text(page)

        # The partner reads why, at the top of its step, and finishes again.
        page = (await portal.get(step_path)).text
        assert page.index('id="changes-requested"') < page.index("Finish the step")
        assert "4 May 2030, 10:00" in page
        assert escaped in page and "<b>" not in page.split("<main", 1)[1].split("</main>")[0]
        again = await portal.post(
            f"{step_path}/complete", data={"csrf": partner_csrf, "field:photos": "on"}
        )
        assert again.status_code == 303, again.text

        approved = await desk.post(action, data={"csrf": staff_csrf, "decision": "approve"})
        assert approved.status_code == 303, approved.text
        page = (await desk.get(page_path)).text
        assert f'action="{action}"' not in page
        # Not above 12 kW: the grid registration does not apply, greyed, its condition said.
        grid = _step_card(page, "grid")
        assert 'class="not_applicable' in grid and "not applicable" in grid
        assert "Does not apply: the step applies only if power_kw &gt; 12" in grid
        assert re.search(r'data-key="grid" data-status="not_applicable"', page)
        assert re.search(r'data-key="installation" data-status="completed"', page)
        assert "<title>only if power_kw &gt; 12</title>" in page
        history = _text(page)
        for said in (
            "finished, waiting for review",
            "approved",
            "does not apply: its condition did not hold",
        ):
            assert said in history, said


async def test_a_partner_hands_a_step_back_with_its_reason(stack: Stack) -> None:
    partner, process_id = await handed_to_partner(stack, power_kw=14)
    step_path = f"/portal/processes/{process_id}/steps/installation"
    async with browser(stack.http) as portal, browser(stack.http) as desk:
        csrf = await signed_in_partner(portal, stack.admin, partner["owner_email"])
        page = (await portal.get(step_path)).text
        assert "Hand the step back" in page and f'action="{step_path}/decline"' in page

        refused = await portal.post(f"{step_path}/decline", data={"csrf": csrf, "reason": ""})
        assert refused.status_code == 422 and 'role="alert"' in refused.text
        reason = "Wir haben im März keine Monteure frei."
        handed = await portal.post(f"{step_path}/decline", data={"csrf": csrf, "reason": reason})
        assert handed.status_code == 303, handed.text
        assert handed.headers["location"] == "/portal?flash=handed_back"
        tasks = (await portal.get("/portal?flash=handed_back")).text
        assert "Handed back: the contact person has the step now" in tasks
        assert "Installation" not in tasks.split("</main>")[0].split('role="status"')[1]
        assert (await portal.get(step_path)).status_code == 404

        await signed_in_staff(desk, ADMIN_TOKEN)
        page = (await desk.get(f"/processes/{process_id}")).text
        assert f"handed back by Erika Inhaberin: “{reason}”" in _text(page)
        assert f"handed back · {reason}" in _text(page)


def _text(page: str) -> str:
    """The page's words, tags left out and spaces collapsed (entities stay escaped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _step_card(page: str, key: str) -> str:
    found = re.search(rf'<li id="step-{key}".*?</li>\s*(?=<li id="step-|</ol>)', page, re.S)
    assert found, key
    return found.group(0)
