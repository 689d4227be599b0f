"""The dashboard's bulk form, through HTTP as a browser sends it: the open steps of one partner
listed with a box to tick each, "every open step this filter shows", reassign / set the
deadline / skip, and a page with each step's result."""

import re
import uuid
from typing import Any

from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser, signed_in_staff

ROOFS = ("roof-a", "roof-b")


def roofs_by(partner_id: str) -> dict[str, Any]:
    return {
        "name": f"Estate {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": key,
                "name": f"Roof {key[-1].upper()}",
                "requires": [],
                "assignee": {"type": "partner", "partner_id": partner_id},
            }
            for key in ROOFS
        ],
    }


def ticked(page: str) -> list[str]:
    """The values of the step boxes a page offers to tick."""
    return re.findall(r'name="step" value="([^"]+)"', page)


def results(page: str) -> list[str]:
    """The status of each result row."""
    return re.findall(r'class="bulk-result" data-status="(\d+)"', page)


async def test_a_partners_open_steps_reassigned_from_the_dashboard(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    dropped = await factories.partner(http, admin, name="Partner X")
    taking_over = await factories.partner(http, admin, name="Partner Y")
    member = await factories.member(http, admin)
    template = await factories.published_template(http, admin, roofs_by(dropped["id"]))
    elsewhere = await factories.published_template(http, admin, roofs_by(taking_over["id"]))
    opportunity = await factories.opportunity(http, admin)

    async def start(template_id: str) -> str:
        process = await factories.started(
            http, admin, template_id, opportunity_id=opportunity["id"]
        )
        return str(process["id"])

    process_ids = [await start(template["id"]) for _ in range(3)]
    other_process = await start(elsewhere["id"])
    of_x = f"partner:{dropped['id']}"
    to_y = f"partner:{taking_over['id']}"

    async with browser(http) as desk, browser(http) as colleague:
        csrf = await signed_in_staff(desk, ADMIN_TOKEN)
        dashboard = await desk.get("/processes", params={"holder": of_x})
        assert dashboard.status_code == 200, dashboard.text
        offered = ticked(dashboard.text)
        assert sorted(offered) == sorted(f"{p}:{key}" for p in process_ids for key in ROOFS)
        assert other_process not in dashboard.text  # the filter: partner X's steps only

        # A member who is not the processes' contact person: her row says no.
        member_csrf = await signed_in_staff(colleague, member["token"])
        refused = await colleague.post(
            "/steps/bulk",
            data={"csrf": member_csrf, "step": offered[0], "action": "skip", "reason": "x"},
        )
        assert refused.status_code == 200, refused.text
        assert results(refused.text) == ["403"]
        assert "Not allowed" in refused.text

        # One ticked row, reassigned.
        one = await desk.post(
            "/steps/bulk",
            data={"csrf": csrf, "holder": of_x, "step": offered[0], "action": "reassign",
                  "assignee": to_y},
        )  # fmt: skip
        assert one.status_code == 200, one.text
        assert results(one.text) == ["200"]
        assert "1 of 1 step changed" in one.text

        # Nothing chosen, or no one to hand to: nothing changes, the page says why.
        empty = await desk.post(
            "/steps/bulk", data={"csrf": csrf, "holder": of_x, "action": "reassign"}
        )
        assert empty.status_code == 422, empty.text
        assert "Select at least one step" in empty.text
        nobody = await desk.post(
            "/steps/bulk",
            data={"csrf": csrf, "holder": of_x, "all": "true", "action": "reassign",
                  "assignee": ""},
        )  # fmt: skip
        assert nobody.status_code == 422, nobody.text
        assert "Say who gets the steps" in nobody.text

        # Every open step the filter shows (the five partner X still has): a new deadline,
        # then partner Y.
        moved = await desk.post(
            "/steps/bulk",
            data={"csrf": csrf, "holder": of_x, "all": "true", "action": "set_deadline",
                  "due_at": "2031-03-14"},
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
        assert results(moved.text) == ["200"] * 5
        handed = await desk.post(
            "/steps/bulk",
            data={"csrf": csrf, "holder": of_x, "all": "true", "action": "reassign",
                  "assignee": to_y},
        )  # fmt: skip
        assert results(handed.text) == ["200"] * 5
        assert "5 of 5 steps changed" in handed.text
        after = await desk.get("/processes", params={"holder": of_x})
        assert ticked(after.text) == []

    tasks = await http.get(
        "/api/my/tasks", params={"limit": 50}, headers=factories.bearer(taking_over["owner_token"])
    )
    assert tasks.json()["count"] == 2 * 3 + 2  # partner X's six, and its own two
