"""A step with a review over the HTTP API: the partner finishes, the contact person approves or
sends it back with a reason (which the partner reads in an e-mail), at most `max_rounds`
times; only the reviewer answers, and only while the step is in review."""

import uuid
from typing import Any

import pytest
from sqlmodel import Session, col, select

from partnerflow.models import ProcessNote
from tests import factories
from tests.conftest import Stack, eventually
from tests.personal_data import workflow_text
from workflows.partner_process import workflow_id_for

REASON = "Auf dem Foto des Zählerschranks fehlt die Plombe."


def review_template(partner_id: str, max_rounds: int = 2) -> dict[str, Any]:
    """Commission, the partner's installation checked by the contact person, then handover."""
    return {
        "name": f"Heat pump with review {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "fields": [{"key": "photos", "label": "Photos taken", "type": "boolean"}],
                "review": {"by": {"type": "contact"}, "max_rounds": max_rounds},
            },
            {"key": "handover", "name": "Hand over to customer", "assignee": {"type": "contact"}},
        ],
    }


@pytest.fixture
async def in_review(stack: Stack) -> dict[str, Any]:
    """A process whose installation the partner has just finished: it waits for review."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Wärme & Co KG")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    template = await factories.published_template(http, admin, review_template(partner["id"]))
    process = await factories.started(http, admin, template["id"])
    response = await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    world = {
        "process_id": process["id"],
        "partner": partner,
        "partner_headers": factories.bearer(partner["owner_token"]),
    }
    detail = await finish(stack, world)
    assert _step(detail, "installation")["status"] == "in_review"
    return world


async def finish(stack: Stack, world: dict[str, Any]) -> dict[str, Any]:
    response = await stack.http.post(
        f"/api/processes/{world['process_id']}/steps/installation/complete",
        json={"fields": {"photos": True}},
        headers=world["partner_headers"],
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


async def review(
    stack: Stack, world: dict[str, Any], headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return await stack.http.post(
        f"/api/processes/{world['process_id']}/steps/installation/review",
        json=body,
        headers=headers or stack.admin,
    )


def _reasons(stack: Stack, process_id: str) -> list[str]:
    """The reasons stored for the process (the database: what no answer shows)."""
    with Session(stack.engine) as session:
        return list(
            session.exec(
                select(ProcessNote.body).where(
                    ProcessNote.process_id == uuid.UUID(process_id),
                    col(ProcessNote.kind) == "review_reason",
                )
            )
        )


def _step(detail: dict[str, Any], key: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in detail["steps"] if s["key"] == key)
    return step


async def _tasks(stack: Stack, headers: dict[str, str]) -> list[tuple[str, str]]:
    response = await stack.http.get("/api/my/tasks", headers=headers)
    assert response.status_code == 200, response.text
    return [(t["step_key"], t["kind"]) for t in response.json()["data"]]


async def _emails(stack: Stack, process_id: str, kind: str, count: int) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        response = await stack.http.get(
            "/api/outbox", params={"process_id": process_id, "kind": kind}, headers=stack.admin
        )
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    return await eventually(listed, lambda found: len(found) >= count)


async def test_review_loop_request_changes_then_approve(
    stack: Stack, in_review: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    pid, partner = in_review["process_id"], in_review["partner"]
    partner_headers = in_review["partner_headers"]

    # In review: the reviewer's task, no longer the partner's; the reviewer was told.
    assert await _tasks(stack, admin) == [("installation", "review")]
    assert await _tasks(stack, partner_headers) == []
    notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
    told = [(n["kind"], n["step_key"]) for n in notices if n["process_id"] == pid]
    assert ("review_requested", "installation") in told

    # Changes requested without a reason: refused before anything is stored.
    response = await review(stack, in_review, decision="request_changes", reason="  ")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    assert _reasons(stack, pid) == []

    # With a reason (retried under the same Idempotency-Key: one request, one e-mail).
    retried = {**admin, "Idempotency-Key": "review-1"}
    response = await review(stack, in_review, retried, decision="request_changes", reason=REASON)
    assert response.status_code == 200, response.text
    again = await review(stack, in_review, retried, decision="request_changes", reason=REASON)
    assert again.status_code == 200 and again.json() == response.json()
    installation = _step(response.json(), "installation")
    assert installation["status"] == "active"
    assert installation["review_rounds"] == 1
    me = (await http.get("/api/me", headers=admin)).json()
    assert (installation["reviewer_user_id"], installation["reviewer_name"]) == (
        me["id"],
        me["name"],
    )
    sent_back = [e for e in response.json()["timeline"] if e["event"] == "changes_requested"]
    assert [(e["step_key"], e["detail"]) for e in sent_back] == [("installation", REASON)]

    # The partner is e-mailed the reason with a link to the step, and has its task back.
    [email] = await _emails(stack, pid, "changes_requested", 1)
    assert partner["email"] in email["to"]
    assert REASON in email["text"]
    assert f"/portal/processes/{pid}/steps/installation" in email["text"]
    assert await _tasks(stack, partner_headers) == [("installation", "step")]
    assert await _tasks(stack, admin) == []
    seen = (await http.get(f"/api/processes/{pid}", headers=partner_headers)).json()
    assert _step(seen, "installation")["changes_requested_reason"] == REASON
    assert [(e["event"], e["detail"]) for e in seen["timeline"]] == [
        ("step_submitted", None),
        ("changes_requested", REASON),
    ]
    partner_notices = (await http.get("/api/notifications", headers=partner_headers)).json()
    assert "changes_requested" in [n["kind"] for n in partner_notices["data"]]

    # The partner finishes again; the contact person approves; the next step opens.
    detail = await finish(stack, in_review)
    assert _step(detail, "installation")["status"] == "in_review"
    assert _step(detail, "installation")["changes_requested_reason"] is None
    response = await review(stack, in_review, decision="approve")
    assert response.status_code == 200, response.text
    approved = response.json()
    assert _step(approved, "installation")["status"] == "completed"
    assert _step(approved, "handover")["status"] == "active"
    events = [e["event"] for e in approved["timeline"] if e.get("step_key") == "installation"]
    assert events[-4:] == ["step_submitted", "changes_requested", "step_submitted", "step_approved"]
    assert await _tasks(stack, admin) == [("handover", "step")]
    # exactly one e-mail for the one request, retry and all
    assert len(await _emails(stack, pid, "changes_requested", 1)) == 1

    # The reason stayed in the database: the workflow's history carries its note's id only.
    history = await workflow_text(stack.env.client, workflow_id_for(pid))
    assert sent_back[0]["note_id"] in history
    assert "Zählerschrank" not in history

    # The request for changes counts on the partner's scorecard.
    scorecard = await http.get(f"/api/partners/{partner['id']}/scorecard", headers=admin)
    assert scorecard.status_code == 200, scorecard.text
    assert scorecard.json()["changes_requested"] == 1
    assert scorecard.json()["declined"] == 0


async def test_max_rounds_bounds_the_loop_and_a_new_deadline_may_come_along(
    stack: Stack, in_review: dict[str, Any]
) -> None:
    # A deadline the calendar cannot take is refused before anything is stored.
    response = await review(
        stack, in_review, decision="request_changes", reason=REASON, due_at="11.12.2026"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "due_at"]

    response = await review(
        stack, in_review, decision="request_changes", reason=REASON, due_at="2030-01-15"
    )
    assert response.status_code == 200, response.text
    assert _step(response.json(), "installation")["due_at"].startswith("2030-01-15")
    await finish(stack, in_review)
    response = await review(stack, in_review, decision="request_changes", reason="Noch einmal.")
    assert response.status_code == 200, response.text
    assert _step(response.json(), "installation")["review_rounds"] == 2
    await finish(stack, in_review)

    # A third request for changes with max_rounds 2: refused, and its reason not kept.
    response = await review(stack, in_review, decision="request_changes", reason="Ein drittes Mal")
    assert response.status_code == 409
    assert "2 times" in response.json()["detail"]
    assert sorted(_reasons(stack, in_review["process_id"])) == sorted([REASON, "Noch einmal."])
    # Approving is still possible.
    response = await review(stack, in_review, decision="approve")
    assert response.status_code == 200, response.text
    assert _step(response.json(), "installation")["status"] == "completed"


async def test_only_the_reviewer_answers_and_only_a_step_in_review(
    stack: Stack, in_review: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    # Someone else from the company, and the partner itself: may see it, may not answer.
    response = await review(stack, in_review, factories.bearer(member["token"]), decision="approve")
    assert response.status_code == 403
    response = await review(
        stack, in_review, in_review["partner_headers"], decision="request_changes", reason="x"
    )
    assert response.status_code == 403
    assert await _tasks(stack, factories.bearer(member["token"])) == []
    # A step that is not in review: the next step (pending), then the one already approved.
    response = await http.post(
        f"/api/processes/{in_review['process_id']}/steps/handover/review",
        json={"decision": "approve"},
        headers=admin,
    )
    assert response.status_code == 409
    assert (await review(stack, in_review, decision="approve")).status_code == 200
    response = await review(stack, in_review, decision="approve")
    assert response.status_code == 409
    assert response.json()["detail"] == "step 'installation' is completed, not in review"
    # An approved step is done: no deadline to move. A decision that does not exist is named.
    response = await review(stack, in_review, decision="approve", due_at="2030-01-15")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "due_at"]
    response = await review(stack, in_review, decision="maybe")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "decision"]


async def test_a_named_reviewer_has_the_task_and_answers(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Wärme & Co KG")
    await factories.granted(http, admin, partner["id"], "steps:complete")
    checker = await factories.member(http, admin, name="Paula Prüferin")
    checker_headers = factories.bearer(checker["token"])
    body = review_template(partner["id"])
    body["steps"][1]["review"]["by"] = {"type": "user", "user_id": checker["id"]}
    template = await factories.published_template(http, admin, body)
    process = await factories.started(http, admin, template["id"])
    world = {
        "process_id": process["id"],
        "partner_headers": factories.bearer(partner["owner_token"]),
    }
    await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    detail = await finish(stack, world)
    assert _step(detail, "installation")["reviewer_name"] == "Paula Prüferin"

    # Hers to answer, not the contact person's (who, as an admin here, may still act for her).
    assert await _tasks(stack, checker_headers) == [("installation", "review")]
    assert await _tasks(stack, admin) == []
    notices = (await http.get("/api/notifications", headers=checker_headers)).json()["data"]
    assert [(n["kind"], n["step_key"]) for n in notices] == [("review_requested", "installation")]
    response = await review(stack, world, checker_headers, decision="approve")
    assert response.status_code == 200, response.text
    assert _step(response.json(), "handover")["status"] == "active"
    assert await _tasks(stack, checker_headers) == []
