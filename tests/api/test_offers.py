"""Offers over the HTTP API: a step offered to several partners goes to the first who accepts,
however many accept at once; a ranked offer moves on when a turn ends or a partner declines;
nobody taking it hands it to the contact person. Before a partner has the step it sees where
the job is (postal code and city), never who the customer is."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.reconcile import ReconcileActivities
from partnerflow.models import ProcessNote, ProcessOffer
from tests import factories
from tests.conftest import Stack, eventually, gone_temporal
from tests.personal_data import workflow_text
from workflows.partner_process import workflow_id_for
from workflows.reconcile_messages import ReconcileInput

# What of the customer (factories.opportunity) a partner must not see before it has the step.
CUSTOMER_TEXTS = ("Becker", "Lindenweg", "jana.becker", "555 0100")
REASON = "Unser Gerüst steht bis Ende des Monats auf einer anderen Baustelle."


def offer_step(
    partners: list[dict[str, Any]], *, mode: str = "first_accept", wait: str = "PT2S",
    expires: str = "PT10M",
) -> dict[str, Any]:  # fmt: skip
    return {
        "key": "installation",
        "name": "Installation",
        "instructions": "Install the PV system and record the date it was done.",
        "assignee": {
            "type": "offer",
            "partners": [partner["id"] for partner in partners],
            "mode": mode,
            "wait": wait,
            "expires": expires,
        },
        "fields": [
            {"key": "installed_on", "label": "Installed on", "type": "date", "required": True}
        ],
    }


async def offered(stack: Stack, step: dict[str, Any]) -> str:
    """A process whose first step is the offer; its id."""
    body = {"name": f"PV offered {uuid.uuid4().hex[:6]}", "steps": [step]}
    template = await factories.published_template(stack.http, stack.admin, body)
    process = await factories.started(stack.http, stack.admin, template["id"])
    return str(process["id"])


async def partners(stack: Stack, count: int) -> list[dict[str, Any]]:
    """Active partners, each with the headers of its first user."""
    made = await asyncio.gather(
        *(factories.partner(stack.http, stack.admin, name=f"Solar {n} GmbH") for n in range(count))
    )
    for partner in made:
        partner["headers"] = factories.bearer(partner["owner_token"])
    return list(made)


async def offers_of(http: httpx.AsyncClient, partner: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.get("/api/my/offers", headers=partner["headers"])
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def offer_for(
    http: httpx.AsyncClient, partner: dict[str, Any], process_id: str
) -> dict[str, Any]:
    """The partner's open offer in the process, once it has one."""

    async def mine() -> list[dict[str, Any]]:
        return [o for o in await offers_of(http, partner) if o["process_id"] == process_id]

    found = await eventually(mine, bool)
    assert len(found) == 1, found
    return found[0]


async def emails(stack: Stack, process_id: str, kind: str, count: int) -> list[dict[str, Any]]:
    """The process's e-mails of a kind, once `count` are there."""

    async def listed() -> list[dict[str, Any]]:
        response = await stack.http.get(
            "/api/outbox", params={"process_id": process_id, "kind": kind}, headers=stack.admin
        )
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    return await eventually(listed, lambda found: len(found) >= count)


def addressed(sent: list[dict[str, Any]], among: list[dict[str, Any]]) -> list[str]:
    """The partners the e-mails went to (each to the partner's address and its users')."""
    return sorted(p["id"] for e in sent for p in among if p["email"] in e["to"].split(", "))


def accept(http: httpx.AsyncClient, partner: dict[str, Any], offer_id: str) -> Any:
    return http.post(f"/api/offers/{offer_id}/accept", headers=partner["headers"])


def decline(http: httpx.AsyncClient, partner: dict[str, Any], offer_id: str, body: Any) -> Any:
    return http.post(f"/api/offers/{offer_id}/decline", json=body, headers=partner["headers"])


async def test_ten_partners_accept_at_once_and_one_gets_the_job(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    ten = await partners(stack, 10)
    process_id = await offered(stack, offer_step(ten))
    offers = [await offer_for(http, partner, process_id) for partner in ten]

    # Where and what, not for whom: the list and the e-mail name the place, never the customer.
    first = offers[0]
    assert (first["step_key"], first["step_name"]) == ("installation", "Installation")
    assert (first["postal_code"], first["city"]) == ("50667", "Köln")
    assert first["template_name"].startswith("PV offered")
    listed = (await http.get("/api/my/offers", headers=ten[0]["headers"])).text
    assert [text for text in CUSTOMER_TEXTS if text in listed] == []
    sent = await emails(stack, process_id, "offer", 10)
    assert addressed(sent, ten) == sorted(p["id"] for p in ten)
    for email in sent:
        assert "Installation" in email["subject"] and "50667 Köln" in email["subject"]
        assert "/portal/offers" in email["text"]
        assert "Das Angebot gilt bis" in email["text"]  # the template's language: German
        shown = email["subject"] + email["html"] + email["text"]
        assert [text for text in CUSTOMER_TEXTS if text in shown] == []
    # Nor does the process show itself to a partner before it has a step in it.
    assert (
        await http.get(f"/api/processes/{process_id}", headers=ten[0]["headers"])
    ).status_code == 404

    # Another partner's offer does not exist for a partner; staff answer no offers.
    assert (await accept(http, ten[1], first["id"])).status_code == 404
    assert (await decline(http, ten[1], first["id"], {"reason": REASON})).status_code == 404
    assert (await http.post(f"/api/offers/{first['id']}/accept", headers=admin)).status_code == 403
    assert (await http.get("/api/my/offers", headers=admin)).status_code == 403

    answers = await asyncio.gather(
        *(accept(http, partner, offer["id"]) for partner, offer in zip(ten, offers, strict=True))
    )
    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [200] + [409] * 9, [a.text for a in answers]
    winner = ten[statuses.index(200)]
    losers = [partner for partner in ten if partner is not winner]

    # The winner has the step, and now sees whom it is for.
    detail = answers[statuses.index(200)].json()
    [step] = detail["steps"]
    assert (step["key"], step["status"]) == ("installation", "active")
    assert step["assignee"]["partner_id"] == winner["id"]
    assert detail["customer"]["name"] == "Jana Becker"
    tasks = (await http.get("/api/my/tasks", headers=winner["headers"])).json()["data"]
    assert [(t["process_id"], t["step_key"]) for t in tasks] == [(process_id, "installation")]

    # One hand-over, to the winner; the nine others are told the offer is closed.
    [handover] = await emails(stack, process_id, "handover", 1)
    assert addressed([handover], ten) == [winner["id"]]
    withdrawn = await emails(stack, process_id, "offer_withdrawn", 9)
    assert addressed(withdrawn, ten) == sorted(p["id"] for p in losers)
    for email in withdrawn:
        shown = email["subject"] + email["text"]
        assert "nicht mehr offen" in shown
        assert [text for text in CUSTOMER_TEXTS if text in shown] == []
    assert len(await emails(stack, process_id, "handover", 1)) == 1

    # Nobody has an offer left, a second accept is too late, and the losers see nothing.
    for partner in ten:
        assert await offers_of(http, partner) == []
    assert (await accept(http, winner, offers[statuses.index(200)]["id"])).status_code == 409
    loser = losers[0]
    assert (
        await http.get(f"/api/processes/{process_id}", headers=loser["headers"])
    ).status_code == 404


async def test_a_ranked_offer_moves_on_and_one_nobody_takes_goes_to_the_contact(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    first, second, third, fourth = await partners(stack, 4)
    ranked = await offered(
        # each turn long enough for a loaded machine to read and answer within it
        stack,
        offer_step([first, second, third], mode="ranked", wait="PT6S", expires="PT10M"),
    )
    # Beside it, an offer nobody answers: after its expiry the contact person has the step.
    unanswered = await offered(stack, offer_step([fourth], expires="PT3S"))

    # The first in rank has it; the second only once the first's turn ends unanswered.
    offer = await offer_for(http, first, ranked)
    assert [o for o in await offers_of(http, second) if o["process_id"] == ranked] == []
    turn = await offer_for(http, second, ranked)
    assert [o for o in await offers_of(http, first) if o["process_id"] == ranked] == []
    late = await accept(http, first, offer["id"])
    assert late.status_code == 409, late.text  # its turn is over

    # The second declines, saying why: a reason is required.
    for body in ({}, {"reason": ""}, {"reason": "x" * 2001}, {"reason": "nein\x00"}):
        response = await decline(http, second, turn["id"], body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    response = await decline(http, second, turn["id"], {"reason": "   "})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "reason"]
    response = await decline(http, second, turn["id"], {"reason": REASON})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "declined"
    assert (await decline(http, second, turn["id"], {"reason": REASON})).status_code == 409

    # At once the third's turn; it accepts and has the step.
    last = await offer_for(http, third, ranked)
    response = await accept(http, third, last["id"])
    assert response.status_code == 200, response.text
    [step] = response.json()["steps"]
    assert step["assignee"]["partner_id"] == third["id"]

    # Staff read why the second declined; the workflow's history has only the reason's id.
    detail = (await http.get(f"/api/processes/{ranked}", headers=admin)).json()
    [declined] = [e for e in detail["timeline"] if e["event"] == "offer_declined"]
    assert declined["detail"] == REASON
    history = await workflow_text(stack.env.client, workflow_id_for(ranked))
    assert declined["note_id"] in history and "Gerüst" not in history

    # The offer nobody took: the contact person has the step and a notice saying so.
    async def contact_step() -> dict[str, Any]:
        found = (await http.get(f"/api/processes/{unanswered}", headers=admin)).json()
        step: dict[str, Any] = found["steps"][0]
        return step

    step = await eventually(contact_step, lambda s: s["status"] == "active")
    me = (await http.get("/api/me", headers=admin)).json()
    assert step["assignee"] == {"type": "contact", "user_id": me["id"]}
    notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
    assert ("offer_expired", "installation") in [
        (n["kind"], n["step_key"]) for n in notices if n["process_id"] == unanswered
    ]
    tasks = (await http.get("/api/my/tasks", headers=admin)).json()["data"]
    assert (unanswered, "installation") in [(t["process_id"], t["step_key"]) for t in tasks]
    assert await offers_of(http, fourth) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_accept_retried_with_its_idempotency_key_gets_the_first_answer(
    stack: Stack,
) -> None:
    http = stack.http
    [partner] = await partners(stack, 1)
    process_id = await offered(stack, offer_step([partner]))
    offer = await offer_for(http, partner, process_id)
    headers = {**partner["headers"], "Idempotency-Key": "accept-once"}
    url = f"/api/offers/{offer['id']}/accept"
    first, again = await http.post(url, headers=headers), await http.post(url, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.json() == again.json()
    assert (await http.post(url, headers=partner["headers"])).status_code == 409

    # A decline retried with its key: the first answer again, and one reason stored.
    process_id = await offered(stack, offer_step([partner]))
    offer = await offer_for(http, partner, process_id)
    headers = {**partner["headers"], "Idempotency-Key": "decline-once"}
    url = f"/api/offers/{offer['id']}/decline"
    first = await http.post(url, json={"reason": REASON}, headers=headers)
    again = await http.post(url, json={"reason": REASON}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.json() == again.json() and first.json()["status"] == "declined"
    with Session(stack.engine) as session:
        kinds = session.exec(
            select(ProcessNote.kind).where(ProcessNote.process_id == uuid.UUID(process_id))
        ).all()
    assert kinds == ["offer_decline_reason"]
    assert (
        await http.post("/api/offers/not-an-id/accept", headers=partner["headers"])
    ).status_code == 422


async def test_an_offer_to_a_partner_revoked_unseen_is_withdrawn_by_the_reconciler(
    stack: Stack,
) -> None:
    """Revoked while Temporal was away: the ranked offer still waits for the partner, so the
    reconciler's round finds it and the process withdraws it and asks the next."""
    http, admin = stack.http, stack.admin
    first, second = await partners(stack, 2)
    process_id = await offered(stack, offer_step([first, second], mode="ranked", wait="PT5M"))
    await offer_for(http, first, process_id)
    present = stack.app.state.temporal
    stack.app.state.temporal = await gone_temporal()
    try:
        revoked = await http.post(f"/api/partners/{first['id']}/revoke", headers=admin)
    finally:
        stack.app.state.temporal = present
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["retrying"] == [process_id]

    reconciler = ReconcileActivities(stack.engine, stack.env.client, stack.settings)
    round_ = await ActivityEnvironment().run(
        reconciler.hand_back_revoked_partners, ReconcileInput()
    )
    assert (round_.handed_back, round_.unreached) == (1, 0)
    assert (await offer_for(http, second, process_id))["step_key"] == "installation"
    with Session(stack.engine) as session:
        statuses = {
            str(row.partner_id): row.status
            for row in session.exec(
                select(ProcessOffer).where(ProcessOffer.process_id == uuid.UUID(process_id))
            )
        }
    assert statuses == {first["id"]: "withdrawn", second["id"]: "pending"}
    # Once done, a round finds nothing more to do.
    again = await ActivityEnvironment().run(reconciler.hand_back_revoked_partners, ReconcileInput())
    assert (again.handed_back, again.nothing_left, again.unreached) == (0, 0, 0)
