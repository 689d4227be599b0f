"""A partner hands a step back over the HTTP API: the contact person has it, a notice and an
e-mail with the reason; the partner no longer sees it; the timeline and the partner's
scorecard record it."""

from typing import Any

import pytest

from tests import factories
from tests.conftest import Stack, eventually
from tests.personal_data import workflow_text
from workflows.partner_process import workflow_id_for

REASON = "Unser einziger Monteur für Wärmepumpen ist bis März krank."


@pytest.fixture
async def assigned(stack: Stack) -> dict[str, Any]:
    """A process whose installation, the partner's only step in it, is open."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Wärme & Co KG")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    colleague = await factories.partner_user(http, admin, partner["id"])
    process = await factories.commissioned(http, admin, partner["id"])
    return {
        "process_id": process["id"],
        "partner": partner,
        "partner_headers": factories.bearer(colleague["token"]),
        "colleague": colleague,
    }


async def decline(stack: Stack, world: dict[str, Any], headers: dict[str, str], **body: Any) -> Any:
    return await stack.http.post(
        f"/api/processes/{world['process_id']}/steps/installation/decline",
        json=body,
        headers=headers,
    )


async def test_partner_hands_a_step_back(stack: Stack, assigned: dict[str, Any]) -> None:
    http, admin = stack.http, stack.admin
    pid, partner = assigned["process_id"], assigned["partner"]
    partner_headers = assigned["partner_headers"]

    # A reason is required, and named when it is missing or blank.
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = await decline(stack, assigned, partner_headers, **body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    # The company's own people do not hand steps back: they reassign or skip them.
    response = await decline(stack, assigned, admin, reason=REASON)
    assert response.status_code == 403

    response = await decline(stack, assigned, partner_headers, reason=REASON)
    assert response.status_code == 200, response.text
    assert response.json()["steps"] == []  # the partner's view: nothing of its own left

    # The contact person has the step: in the process, in their tasks, told by a notice.
    detail = (await http.get(f"/api/processes/{pid}", headers=admin)).json()
    installation = next(s for s in detail["steps"] if s["key"] == "installation")
    me = (await http.get("/api/me", headers=admin)).json()
    assert installation["status"] == "active"
    assert installation["assignee"] == {"type": "contact", "user_id": me["id"]}
    [declined] = [e for e in detail["timeline"] if e["event"] == "step_declined"]
    assert declined["step_key"] == "installation"
    assert declined["user_id"] == assigned["colleague"]["id"]
    assert declined["detail"] == REASON
    tasks = (await http.get("/api/my/tasks", headers=admin)).json()["data"]
    assert [(t["process_id"], t["step_key"], t["kind"]) for t in tasks] == [
        (pid, "installation", "step")
    ]
    notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
    assert ("step_declined", "installation") in [
        (n["kind"], n["step_key"]) for n in notices if n["process_id"] == pid
    ]

    # The e-mail to the contact person quotes the reason and names the partner.
    async def emails() -> list[dict[str, Any]]:
        response = await http.get(
            "/api/outbox", params={"process_id": pid, "kind": "step_declined"}, headers=admin
        )
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    [email] = await eventually(emails, lambda found: len(found) == 1)
    assert email["to"] == me["email"]
    assert REASON in email["text"] and partner["name"] in email["text"]
    assert f"/processes/{pid}" in email["text"]

    # The partner no longer sees the step, nor the process it had no other step in.
    assert (await http.get(f"/api/processes/{pid}", headers=partner_headers)).status_code == 404
    steps_url = f"/api/processes/{pid}/steps/installation"
    for response in (
        await http.get(f"{steps_url}/comments", headers=partner_headers),
        await http.post(
            f"{steps_url}/complete",
            json={"fields": {"installed_on": "2026-12-11"}},
            headers=partner_headers,
        ),
        await decline(stack, assigned, partner_headers, reason=REASON),
    ):
        assert response.status_code == 404, response.text
    assert (await http.get("/api/my/tasks", headers=partner_headers)).json()["data"] == []
    listed = (await http.get("/api/processes", headers=partner_headers)).json()
    assert listed["count"] == 0

    # The reason stayed in the database: the workflow's history carries its note's id only.
    history = await workflow_text(stack.env.client, workflow_id_for(pid))
    assert declined["note_id"] in history
    assert "Monteur" not in history

    # The decline counts on the partner's scorecard (its own, and as staff see it).
    own = (await http.get("/api/my/scorecard", headers=partner_headers)).json()
    assert (own["declined"], own["changes_requested"]) == (1, 0)
    staff = await http.get(f"/api/partners/{partner['id']}/scorecard", headers=admin)
    assert staff.json()["declined"] == 1


async def test_only_an_active_step_of_ones_own_is_handed_back(
    stack: Stack, assigned: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    pid = assigned["process_id"]
    # The contact person's step in the same process: the partner sees the process, not this.
    response = await http.post(
        f"/api/processes/{pid}/steps/commission_partner/decline",
        json={"reason": REASON},
        headers=assigned["partner_headers"],
    )
    assert response.status_code == 409  # completed already
    # Another partner does not see the process at all.
    other = await factories.partner(http, admin, name="Andere GmbH")
    response = await decline(stack, assigned, factories.bearer(other["owner_token"]), reason="x")
    assert response.status_code == 404
    # Refused declines leave no reason behind, and the step where it was.
    detail = (await http.get(f"/api/processes/{pid}", headers=admin)).json()
    assert [e for e in detail["timeline"] if e["event"] == "step_declined"] == []
    installation = next(s for s in detail["steps"] if s["key"] == "installation")
    assert installation["assignee"]["partner_id"] == assigned["partner"]["id"]
    scorecard = await http.get(
        f"/api/partners/{assigned['partner']['id']}/scorecard", headers=admin
    )
    assert scorecard.json()["declined"] == 0
