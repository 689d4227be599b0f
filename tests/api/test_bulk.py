"""Bulk actions on steps (`POST /api/steps/bulk`, issue 19 item 4): many steps reassigned,
moved or skipped in one call, each through the single step's checks, one result per step.

What a person would notice: each step's row in the answer, who holds each step afterwards
(the new partner's task list), the deadlines and skip reasons on the processes, and the 422
naming the field when the request as a whole is wrong.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from partnerflow import bulk
from tests import factories
from tests.conftest import Stack

T = TypeVar("T")
R = TypeVar("R")
# processes started at once while a test sets up its world
STARTS_AT_ONCE = 16
BERLIN = ZoneInfo("Europe/Berlin")


async def each(items: Iterable[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
    """`call` for every item, a few at a time, the answers in the items' order."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def installation_by(partner_id: str, *, then_acceptance: bool = False) -> dict[str, Any]:
    """The partner installs, open from the start; then, if asked, the contact accepts (so
    the process runs on after the installation is skipped)."""
    steps: list[dict[str, Any]] = [
        {
            "key": "installation",
            "name": "Installation",
            "assignee": {"type": "partner", "partner_id": partner_id},
        }
    ]
    if then_acceptance:
        steps.append(
            {
                "key": "acceptance",
                "name": "Acceptance",
                "requires": ["installation"],
                "assignee": {"type": "contact"},
            }
        )
    return {"name": f"Installation {uuid.uuid4().hex[:6]}", "steps": steps}


async def start_many(
    stack: Stack, template_id: str, opportunity_id: str, contacts: list[str]
) -> list[str]:
    """A process of the template per contact person (as `POST /api/processes` starts it),
    started concurrently; their ids in the order of `contacts`."""

    async def start(contact_user_id: str) -> str:
        process = await factories.created(
            await stack.http.post(
                "/api/processes",
                json={
                    "template_id": template_id,
                    "opportunity_id": opportunity_id,
                    "contact_user_id": contact_user_id,
                },
                headers=stack.admin,
            )
        )
        return str(process["id"])

    return await each(contacts, start)


def items(process_ids: Iterable[str], step_key: str = "installation") -> list[dict[str, str]]:
    return [{"process_id": pid, "step_key": step_key} for pid in process_ids]


async def bulk_call(stack: Stack, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await stack.http.post("/api/steps/bulk", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refused_field(response: Any) -> list[Any]:
    """The path of the field a 422 names (without "body")."""
    assert response.status_code == 422, response.text
    return list(response.json()["detail"][0]["loc"][1:])


async def detail(stack: Stack, process_id: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def step_in(process: dict[str, Any], key: str = "installation") -> dict[str, Any]:
    return next(s for s in process["steps"] if s["key"] == key)


# the must-show scenario ---------------------------------------------------------------------

# 300 open steps of partner X: 30 processes with 10 parallel jobs each (starting and revoking
# 30 processes instead of 300 keeps the test's time on the bulk call itself).
JOBS = [f"roof-{n}" for n in range(10)]
PROCESSES = 30
OTHERS_EVERY = 5  # every fifth process has another contact person: 6 of 30, 60 steps


def roofs_by(partner_id: str) -> dict[str, Any]:
    """Ten roofs of one estate, each its own step, all the partner's and all open at once."""
    return {
        "name": f"Estate {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": job,
                "name": f"Roof {n}",
                "requires": [],
                "assignee": {"type": "partner", "partner_id": partner_id},
            }
            for n, job in enumerate(JOBS)
        ],
    }


# On SQLite alone: 300 updates take a quarter of a minute; the other bulk tests run the same
# per-item path on both databases. Started early (marker `long`), beside the other tests.
@pytest.mark.long
@pytest.mark.sqlite_only
async def test_300_steps_of_a_revoked_partner_go_to_another_partner_in_one_call(
    stack: Stack,
) -> None:
    """Partner X drops out with 300 open steps: revoked, its steps went to each process's
    contact person. A member, contact person of 240 of them, moves all 300 to partner Y in
    one call: her 240 are reassigned, the 60 of another contact person answer 403 in their
    rows and stay where they were."""
    http, admin = stack.http, stack.admin
    dropped = await factories.partner(http, admin, name="Partner X")
    taking_over = await factories.partner(http, admin, name="Partner Y")
    member = await factories.member(http, admin)
    other = (await http.get("/api/me", headers=admin)).json()["id"]
    template = await factories.published_template(http, admin, roofs_by(dropped["id"]))
    opportunity = await factories.opportunity(http, admin)
    contacts = [other if n % OTHERS_EVERY == 0 else member["id"] for n in range(PROCESSES)]
    process_ids = await start_many(stack, template["id"], opportunity["id"], contacts)
    revoked = await http.post(f"/api/partners/{dropped['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert len(revoked.json()["handed_back"]) == PROCESSES
    with_contact = {"type": "contact", "user_id": member["id"]}
    assert [s["assignee"] for s in (await detail(stack, process_ids[1]))["steps"]] == [
        with_contact
    ] * len(JOBS)

    asked = [{"process_id": pid, "step_key": job} for pid in process_ids for job in JOBS]
    assert len(asked) == 300
    answer = await bulk_call(
        stack, factories.bearer(member["token"]),
        action="reassign", items=asked,
        assignee={"type": "partner", "partner_id": taking_over["id"]},
    )  # fmt: skip

    assert answer["count"] == 300
    rows = [{"process_id": r["process_id"], "step_key": r["step_key"]} for r in answer["data"]]
    assert rows == asked  # one per step, in the order asked
    expected = [200 if contact == member["id"] else 403 for contact in contacts for _ in JOBS]
    assert [row["status"] for row in answer["data"]] == expected
    assert expected.count(200) == 240
    assert {row["detail"] for row in answer["data"] if row["status"] == 403} == {
        "only the contact person or an admin may do this"
    }
    # Partner Y has the member's 240 steps as its work; the other 60 are still their contact's.
    tasks = await http.get(
        "/api/my/tasks", params={"limit": 500}, headers=factories.bearer(taking_over["owner_token"])
    )
    assert tasks.status_code == 200, tasks.text
    assert sorted((t["process_id"], t["step_key"]) for t in tasks.json()["data"]) == sorted(
        (pid, job)
        for pid, contact in zip(process_ids, contacts, strict=True)
        if contact != other
        for job in JOBS
    )
    untouched = await detail(stack, process_ids[0])
    assert [s["assignee"] for s in untouched["steps"]] == [
        {"type": "contact", "user_id": other}
    ] * len(JOBS)
    moved = await detail(stack, process_ids[1])
    assert [e["event"] for e in moved["timeline"]].count("step_reassigned") == len(JOBS)


# the other actions, and one step's failure --------------------------------------------------


async def test_skip_and_set_deadline_per_step_with_refusals_in_their_rows(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deadlines moved on three steps and two skipped with a reason; an unknown process (404),
    an unknown step (404), a step skipped already (409) and one whose change fails
    unexpectedly (500, logged) answer in their own rows while the rest go through."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    me = (await http.get("/api/me", headers=admin)).json()
    template = await factories.published_template(
        http, admin, installation_by(partner["id"], then_acceptance=True)
    )
    opportunity = await factories.opportunity(http, admin)
    process_ids = await start_many(stack, template["id"], opportunity["id"], [me["id"]] * 5)
    unknown = str(uuid.uuid4())

    moved = await bulk_call(
        stack, admin, action="set_deadline", due_at="2031-03-14", items=items(process_ids[:3]),
    )  # fmt: skip
    assert [row["status"] for row in moved["data"]] == [200, 200, 200]
    for process_id in process_ids[:3]:
        due = datetime.fromisoformat(step_in(await detail(stack, process_id))["due_at"])
        # the end of that day in the template's time zone
        assert due.astimezone(BERLIN).isoformat() == "2031-03-14T23:59:59+01:00"

    # One step's change fails unexpectedly: that step's row says so, the others go through.
    real_skip = bulk.steps.skip
    broken = process_ids[4]

    async def skip_failing_once(*args: Any, **kwargs: Any) -> Any:
        step = args[4]
        if str(step.process.id) == broken:
            raise RuntimeError("a bug")
        return await real_skip(*args, **kwargs)

    monkeypatch.setattr(bulk.steps, "skip", skip_failing_once)
    first = await bulk_call(
        stack, admin, action="skip", reason="Kunde hat storniert", items=items(process_ids[3:4])
    )
    assert [row["status"] for row in first["data"]] == [200]
    skipped = await bulk_call(
        stack, admin, action="skip", reason="Kunde hat storniert",
        items=[
            *items(process_ids[2:5]),
            {"process_id": unknown, "step_key": "installation"},
            {"process_id": process_ids[0], "step_key": "no_such_step"},
        ],
    )  # fmt: skip
    rows = [(row["status"], row["detail"]) for row in skipped["data"]]
    assert rows == [
        (200, "skipped"),
        (409, "step 'installation' is skipped, not open"),
        (500, bulk.UNEXPECTED),
        (404, "process not found"),
        (404, "step not found"),
    ]
    for process_id in (process_ids[2], process_ids[3]):
        process = await detail(stack, process_id)
        assert step_in(process)["status"] == "skipped"
        reasons = [e["detail"] for e in process["timeline"] if e["event"] == "step_skipped"]
        assert reasons == ["Kunde hat storniert"]  # stored once per step, as one skip does
    assert step_in(await detail(stack, broken))["status"] == "active"


# bad input ----------------------------------------------------------------------------------


async def test_bad_requests_are_one_422_naming_the_field(stack: Stack) -> None:
    """Wrong as a whole: refused before any step is touched, naming the field."""
    http, admin = stack.http, stack.admin
    taking_over = await factories.partner(http, admin, name="Partner Y")
    dropped = await factories.partner(http, admin, name="Partner R")
    revoked = await http.post(f"/api/partners/{dropped['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    one = items([str(uuid.uuid4())])
    many = items(str(uuid.uuid4()) for _ in range(bulk.MAX_ITEMS + 1))
    to_y = {"type": "partner", "partner_id": taking_over["id"]}
    to_r = {"type": "partner", "partner_id": dropped["id"]}
    to_nobody = {"type": "partner", "partner_id": str(uuid.uuid4())}
    to_stranger = {"type": "user", "user_id": str(uuid.uuid4())}
    reassign = {"action": "reassign", "items": one}
    set_deadline = {"action": "set_deadline", "items": one}
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        ({"action": "skip", "items": many}, ["items"]),
        ({"action": "skip", "items": []}, ["items"]),
        ({"action": "skip"}, ["items"]),
        ({"action": "skip", "items": [*one, *one]}, ["items", 1]),
        ({"action": "skip", "items": [{"process_id": "x", "step_key": "a"}]}, ["items", 0]),
        ({"action": "delete", "items": one}, ["action"]),
        (reassign, ["assignee"]),
        ({**reassign, "assignee": to_r}, ["assignee", "partner_id"]),
        ({**reassign, "assignee": to_nobody}, ["assignee", "partner_id"]),
        ({**reassign, "assignee": to_stranger}, ["assignee", "user_id"]),
        ({**reassign, "assignee": to_y, "due_at": "2031-01-01"}, ["due_at"]),
        ({**reassign, "assignee": to_y, "reason": "why"}, ["reason"]),
        # no database column takes a NUL character: refused before any step is skipped
        ({"action": "skip", "items": one, "reason": "zu\x00spät"}, ["reason"]),
        (set_deadline, ["due_at"]),
        ({**set_deadline, "due_at": "next Friday"}, ["due_at"]),
        ({**set_deadline, "due_at": "3026-01-01"}, ["due_at"]),
        ({**set_deadline, "due_at": "2031-01-01", "assignee": to_y}, ["assignee"]),
    ]
    for body, field in cases:
        response = await http.post("/api/steps/bulk", json=body, headers=admin)
        assert refused_field(response)[: len(field)] == field, (body, response.text)
    # The one step's calls name the reason too, and leave the step as it was.
    template = await factories.published_template(http, admin, installation_by(taking_over["id"]))
    process = await factories.started(http, admin, template["id"])
    at = f"/api/processes/{process['id']}/steps/installation"
    partner_user = factories.bearer(taking_over["owner_token"])
    for path, headers in (("skip", admin), ("decline", partner_user)):
        response = await http.post(f"{at}/{path}", json={"reason": "zu\x00spät"}, headers=headers)
        assert refused_field(response) == ["reason"], (path, response.text)
    assert step_in(await detail(stack, process["id"]))["status"] == "active"
    # Bulk changes are the company's: a partner's user is refused outright.
    response = await http.post(
        "/api/steps/bulk",
        json={**set_deadline, "due_at": "2031-01-01"},
        headers=factories.bearer(taking_over["owner_token"]),
    )
    assert response.status_code == 403, response.text
