"""Absences and substitutes (issue 19, item 3): while a company user is away, steps that open
for them open for their substitute, and their open steps move over when the absence begins;
both are told. Through the API, with a real Temporal and the AbsenceWorkflow's durable timer.

What a person would notice: who each step is assigned to, the notices of the absent user and
of the substitute, the absence's `moved_at`, and a 422 naming the field for a bad absence.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.reconcile import ReconcileActivities
from partnerflow import absences, crash_points
from partnerflow.settings import Settings
from partnerflow.temporal import DATA_CONVERTER
from tests import factories
from tests.conftest import Stack, eventually, gone_temporal
from tests.web import browser, signed_in_staff
from worker import WORKFLOW_RUNNER
from workflows.absence_messages import AbsenceChange
from workflows.absence_mover import AbsenceWorkflow
from workflows.reconcile_messages import ReconcileInput

Headers = dict[str, str]


def moment(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def two_steps_for(user_id: str) -> dict[str, Any]:
    """The contact person commissions; the user checks, then approves."""
    person = {"type": "user", "user_id": user_id}
    return {
        "name": f"Absence {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {"key": "check", "name": "Check the offer", "assignee": person},
            {"key": "approve", "name": "Approve the offer", "assignee": person},
        ],
    }


async def steps_of(stack: Stack, process_id: str) -> dict[str, dict[str, Any]]:
    detail = await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)
    assert detail.status_code == 200, detail.text
    return {step["key"]: step for step in detail.json()["steps"]}


async def holder(stack: Stack, process_id: str, key: str) -> str | None:
    """The user a step is assigned to now."""
    user_id: str | None = (await steps_of(stack, process_id))[key]["assignee"].get("user_id")
    return user_id


async def notices(http: httpx.AsyncClient, headers: Headers) -> set[tuple[str, str, str]]:
    """(kind, process, step) of each of the caller's notices."""
    listed = (await http.get("/api/notifications", headers=headers)).json()["data"]
    return {(n["kind"], n["process_id"], n["step_key"]) for n in listed}


async def complete(stack: Stack, process_id: str, key: str, headers: Headers) -> dict[str, Any]:
    done = await stack.http.post(
        f"/api/processes/{process_id}/steps/{key}/complete", json={}, headers=headers
    )
    assert done.status_code == 200, done.text
    return {step["key"]: step for step in done.json()["steps"]}


async def checking(stack: Stack, template_id: str, **start: Any) -> str:
    """A process of the template whose `check` step is open (commissioned)."""
    process = await factories.started(stack.http, stack.admin, template_id, **start)
    await complete(stack, process["id"], "commission", stack.admin)
    return str(process["id"])


async def test_open_steps_move_when_the_absence_begins_and_new_ones_open_for_the_substitute(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    as_away, as_substitute = factories.bearer(away["token"]), factories.bearer(substitute["token"])
    template = await factories.published_template(http, admin, two_steps_for(away["id"]))
    before = await checking(stack, template["id"])
    assert await holder(stack, before, "check") == away["id"]

    # The user sets their own absence, beginning in a few seconds.
    set_ = await http.put(
        f"/api/users/{away['id']}/absence",
        json={
            "from": moment(timedelta(seconds=4)),
            "until": moment(timedelta(days=14)),
            "substitute_user_id": substitute["id"],
        },
        headers=as_away,
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["state"] == "upcoming" and set_.json()["moved_at"] is None

    # When it begins, the open step moves over (the workflow's timer, not the request), ...
    async def checked_by() -> str | None:
        return await holder(stack, before, "check")

    assert (
        await eventually(checked_by, lambda h: h == substitute["id"], wait=30) == (substitute["id"])
    )
    # ... both are told, ...
    moved = ("step_substituted", before, "check")
    assert moved in await eventually(lambda: notices(http, as_substitute), lambda n: moved in n)
    assert moved in await eventually(lambda: notices(http, as_away), lambda n: moved in n)

    # ... and the absence says when its steps moved.
    async def absence() -> dict[str, Any]:
        found: dict[str, Any] = (
            await http.get(f"/api/users/{away['id']}/absence", headers=admin)
        ).json()
        return found

    # (written once every process named was told: a moment after the steps moved)
    shown = await eventually(absence, lambda a: a["moved_at"] is not None)
    assert shown["state"] == "running" and shown["moved_at"] is not None
    assert shown["substitute_user_id"] == substitute["id"]

    # A step opening for the user meanwhile opens for the substitute: in the process that
    # was running ...
    steps = await complete(stack, before, "check", as_substitute)
    assert steps["approve"]["status"] == "active"
    assert steps["approve"]["assignee"]["user_id"] == substitute["id"]
    # ... and in one started during the absence, where the timeline says why.
    during = await checking(stack, template["id"])
    assert await holder(stack, during, "check") == substitute["id"]
    detail = (await http.get(f"/api/processes/{during}", headers=admin)).json()
    assert any(
        e["event"] == "step_substituted" and e.get("step_key") == "check"
        for e in detail["timeline"]
    )

    # Withdrawn: steps open for the user again, in the processes that knew the absence too.
    withdrawn = await http.delete(f"/api/users/{away['id']}/absence", headers=as_away)
    assert withdrawn.status_code == 204, withdrawn.text
    gone = await http.get(f"/api/users/{away['id']}/absence", headers=as_away)
    assert gone.status_code == 404
    steps = await complete(stack, during, "check", as_substitute)
    assert steps["approve"]["assignee"]["user_id"] == away["id"]
    after = await checking(stack, template["id"])
    assert await holder(stack, after, "check") == away["id"]

    # The user's AbsenceWorkflows (the timer's, then the withdrawal's) replay as recorded.
    await replays(stack, uuid.UUID(away["id"]), runs=2)


async def replays(stack: Stack, user_id: uuid.UUID, runs: int) -> None:
    """The user's AbsenceWorkflows (one per change), once `runs` have ended, replay."""
    client = stack.env.client
    prefix = absences.workflow_ids_of(user_id)

    async def listed() -> list[tuple[str, str]]:
        query = "WorkflowType = 'AbsenceWorkflow' AND ExecutionStatus != 'Running'"
        return [
            (run.id, run.run_id)
            async for run in client.list_workflows(query)
            if run.id.startswith(prefix)
        ]

    ended = await eventually(listed, lambda found: len(found) >= runs)
    assert len(ended) == runs
    replayer = Replayer(
        workflows=[AbsenceWorkflow], data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )
    for workflow_id, run_id in ended:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def test_an_absence_begun_already_moves_the_steps_before_the_answer(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    other = await factories.member(http, admin, "Olga Ersatz")
    template = await factories.published_template(http, admin, two_steps_for(away["id"]))
    # The user is the contact person of one process (its first step is theirs) and checks
    # in another.
    contact_of = await factories.started(http, admin, template["id"], contact_user_id=away["id"])
    checks = await checking(stack, template["id"])

    set_ = await http.put(
        f"/api/users/{away['id']}/absence",
        json={
            "from": moment(-timedelta(hours=1)),
            "until": moment(timedelta(days=2)),
            "substitute_user_id": substitute["id"],
        },
        headers=admin,
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["state"] == "running" and set_.json()["moved_at"] is not None
    assert await holder(stack, contact_of["id"], "commission") == substitute["id"]
    assert await holder(stack, checks, "check") == substitute["id"]

    # Another substitute from now on: steps opening now go to them; what moved stays.
    changed = await http.put(
        f"/api/users/{away['id']}/absence",
        json={
            "from": moment(-timedelta(minutes=5)),
            "until": moment(timedelta(days=2)),
            "substitute_user_id": other["id"],
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["substitute_user_id"] == other["id"]
    steps = await complete(stack, checks, "check", factories.bearer(substitute["token"]))
    assert steps["approve"]["assignee"]["user_id"] == other["id"]
    assert await holder(stack, contact_of["id"], "commission") == substitute["id"]


async def test_bad_absences_are_refused_naming_the_field(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    former = await factories.member(http, admin, "Frieda Früher")
    deactivated = await http.post(f"/api/users/{former['id']}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text
    partner = await factories.partner(http, admin)
    partner_user = (
        await http.get("/api/me", headers=factories.bearer(partner["owner_token"]))
    ).json()
    path = f"/api/users/{away['id']}/absence"
    good = {
        "from": moment(timedelta(days=1)),
        "until": moment(timedelta(days=8)),
        "substitute_user_id": substitute["id"],
    }

    async def refused(body: dict[str, Any], at: str = path) -> tuple[list[Any], str]:
        response = await http.put(at, json=body, headers=admin)
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        return problem["loc"], problem["msg"]

    # An absence that ends before it starts, or when it starts.
    loc, msg = await refused({**good, "until": moment(timedelta(hours=1))})
    assert loc == ["body", "until"] and "after it starts" in msg
    loc, _ = await refused({**good, "until": good["from"]})
    assert loc == ["body", "until"]
    # One that is over already, or ends too far ahead.
    loc, msg = await refused(
        {**good, "from": moment(-timedelta(days=3)), "until": moment(-timedelta(days=1))}
    )
    assert loc == ["body", "until"] and "over already" in msg
    loc, _ = await refused({**good, "until": moment(timedelta(days=20 * 365))})
    assert loc == ["body", "until"]
    loc, _ = await refused({**good, "until": "9999-12-31T23:59:59-14:00"})
    assert loc == ["body", "until"]
    # Moments without a time zone.
    loc, msg = await refused({**good, "from": "2030-05-01T08:00:00"})
    assert loc == ["body", "from"] and "time zone" in msg
    loc, msg = await refused({**good, "until": "2030-05-01"})
    assert loc == ["body", "until"] and "time zone" in msg
    loc, _ = await refused({"until": good["until"], "substitute_user_id": substitute["id"]})
    assert loc == ["body", "from"]
    # One that began more than a year ago: a typo (the year 1, say).
    loc, msg = await refused({**good, "from": "0001-01-01T00:00:00+00:00"})
    assert loc == ["body", "from"] and "a year ago" in msg
    loc, _ = await refused({**good, "from": moment(-timedelta(days=400))})
    assert loc == ["body", "from"]
    # Substitutes that cannot stand in.
    for who in (str(uuid.uuid4()), away["id"], former["id"], partner_user["id"]):
        loc, _ = await refused({**good, "substitute_user_id": who})
        assert loc == ["body", "substitute_user_id"], who
    # Absences are for the company's users.
    loc, _ = await refused(good, f"/api/users/{partner_user['id']}/absence")
    assert loc == ["path", "user_id"]

    # Nothing was set by any of them.
    assert (await http.get(path, headers=admin)).status_code == 404
    assert (await http.delete(path, headers=admin)).status_code == 404
    # Two people standing in for each other at the same time cannot.
    assert (await http.put(path, json=good, headers=admin)).status_code == 200
    loc, msg = await refused(
        {**good, "substitute_user_id": away["id"]}, f"/api/users/{substitute['id']}/absence"
    )
    assert loc == ["body", "substitute_user_id"] and "standing in" in msg


async def test_only_an_admin_or_the_user_sets_an_absence(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    colleague = await factories.member(http, admin, "Sven Vertreter")
    partner = await factories.partner(http, admin)
    path = f"/api/users/{away['id']}/absence"
    body = {
        "from": moment(timedelta(days=1)),
        "until": moment(timedelta(days=8)),
        "substitute_user_id": colleague["id"],
    }
    for token in (colleague["token"], partner["owner_token"]):
        for method in ("PUT", "GET", "DELETE"):
            response = await http.request(
                method, path, json=body if method == "PUT" else None,
                headers=factories.bearer(token),
            )  # fmt: skip
            assert response.status_code == 403, (method, response.text)
    own = await http.put(path, json=body, headers=factories.bearer(away["token"]))
    assert own.status_code == 200, own.text
    shown = await http.get(path, headers=admin)
    assert shown.status_code == 200 and shown.json()["from"] == own.json()["from"]
    assert shown.json()["until"] == own.json()["until"]


async def test_the_persons_page_sets_shows_and_withdraws_an_absence(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    await factories.member(http, admin, "Sven Vertreter")
    async with browser(http) as person:
        csrf = await signed_in_staff(person, away["token"])
        account = await person.get("/account")
        assert f'href="/people/{away["id"]}"' in account.text
        page = f"/people/{away['id']}"
        shown = await person.get(page)
        assert shown.status_code == 200 and "No absence set." in shown.text
        match = re.search(r'<option value="([0-9a-f-]{36})">Sven Vertreter</option>', shown.text)
        assert match, shown.text
        substitute_id = match.group(1)
        assert "Anna Abwesend</option>" not in shown.text  # nobody stands in for themself

        # Ends before it starts: said beside "Until", what was entered kept.
        form = {
            "csrf": csrf,
            "from": "2031-03-10T08:00",
            "until": "2031-03-09T17:00",
            "substitute_user_id": substitute_id,
        }
        refused = await person.post(f"{page}/absence", data=form)
        assert refused.status_code == 422, refused.text
        assert re.search(r'<p class="error" id="until-error">[^<]*after it starts', refused.text)
        assert 'aria-describedby="until-error"' in refused.text
        assert 'value="2031-03-10T08:00"' in refused.text
        no_substitute = await person.post(
            f"{page}/absence", data={**form, "until": "2031-03-21T17:00", "substitute_user_id": ""}
        )
        assert no_substitute.status_code == 422
        assert 'id="substitute_user_id-error"' in no_substitute.text

        saved = await person.post(f"{page}/absence", data={**form, "until": "2031-03-21T17:00"})
        assert saved.status_code == 303, saved.text
        shown = await person.get(saved.headers["location"])
        assert "The absence is set." in shown.text
        assert re.search(r"Away from .*10 Mar 2031, 08:00.*21 Mar 2031, 17:00", shown.text, re.S)
        assert "<strong>Sven Vertreter</strong> stands in" in shown.text
        # local times in the company's time zone (Berlin, winter: UTC+1)
        api = (await http.get(f"/api/users/{away['id']}/absence", headers=admin)).json()
        assert api["from"].startswith("2031-03-10T07:00:00")

        withdrawn = await person.post(f"{page}/absence/withdraw", data={"csrf": csrf})
        assert withdrawn.status_code == 303, withdrawn.text
        shown = await person.get(withdrawn.headers["location"])
        assert "The absence is withdrawn." in shown.text and "No absence set." in shown.text


async def test_an_absence_temporal_cannot_be_told_of_changes_nothing(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    other = await factories.member(http, admin, "Olga Ersatz")
    path = f"/api/users/{away['id']}/absence"
    first = {
        "from": moment(timedelta(days=1)),
        "until": moment(timedelta(days=8)),
        "substitute_user_id": substitute["id"],
    }
    assert (await http.put(path, json=first, headers=admin)).status_code == 200
    set_before = (await http.get(path, headers=admin)).json()

    present = stack.app.state.temporal
    stack.app.state.temporal = await gone_temporal()
    try:
        replaced = await http.put(
            path, json={**first, "substitute_user_id": other["id"]}, headers=admin
        )
        assert replaced.status_code == 503, replaced.text
        withdrawn = await http.delete(path, headers=admin)
        assert withdrawn.status_code == 503, withdrawn.text
    finally:
        stack.app.state.temporal = present
    # The absence set before stands, as it was: the caller may try again.
    assert (await http.get(path, headers=admin)).json() == set_before


# crossings and late news -------------------------------------------------------------------


class Died(Exception):
    """The process serving the request died here."""


async def test_an_absence_whose_workflow_never_started_is_started_by_the_reconciler(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    template = await factories.published_template(http, admin, two_steps_for(away["id"]))
    process_id = await checking(stack, template["id"])
    body = {
        "from": moment(-timedelta(minutes=10)),
        "until": moment(timedelta(days=3)),
        "substitute_user_id": substitute["id"],
    }
    # The request dies between storing the absence and starting its workflow.
    crash_points.arm("absence.stored", Died())
    try:
        with pytest.raises((Died, RuntimeError)):
            await http.put(f"/api/users/{away['id']}/absence", json=body, headers=admin)
        assert crash_points.armed() == []
    finally:
        crash_points.disarm()
    shown = (await http.get(f"/api/users/{away['id']}/absence", headers=admin)).json()
    assert shown["state"] == "running" and shown["moved_at"] is None
    assert await holder(stack, process_id, "check") == away["id"]

    # The reconciler's round finds it begun and unmoved, and starts its workflow.
    reconciler = ReconcileActivities(stack.engine, stack.env.client, stack.settings)
    at_once = ReconcileInput(absence_grace_seconds=0)
    assert await ActivityEnvironment().run(reconciler.start_absence_workflows, at_once) == 1

    async def moved() -> dict[str, Any]:
        found: dict[str, Any] = (
            await http.get(f"/api/users/{away['id']}/absence", headers=admin)
        ).json()
        return found

    assert (await eventually(moved, lambda a: a["moved_at"] is not None))["moved_at"]
    assert await holder(stack, process_id, "check") == substitute["id"]
    # Done: the next round finds nothing; nor does one within the grace period.
    assert await ActivityEnvironment().run(reconciler.start_absence_workflows, at_once) == 0


async def test_changes_whose_starts_reach_temporal_in_the_other_order_end_with_the_newer(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    first = await factories.member(http, admin, "Sven Eins")
    second = await factories.member(http, admin, "Sara Zwei")
    template = await factories.published_template(http, admin, two_steps_for(away["id"]))
    process_id = await checking(stack, template["id"])
    real_start = absences._start
    on_the_way: list[AbsenceChange] = []

    async def slow_first(temporal: Client, settings: Settings, change: AbsenceChange) -> Any:
        if not on_the_way:  # the first change's start is still on its way to Temporal
            on_the_way.append(change)
            return temporal.get_workflow_handle("not yet")
        return await real_start(temporal, settings, change)

    monkeypatch.setattr(absences, "_start", slow_first)
    path = f"/api/users/{away['id']}/absence"
    body = {
        "from": moment(timedelta(seconds=3)),
        "until": moment(timedelta(days=3)),
        "substitute_user_id": first["id"],
    }
    assert (await http.put(path, json=body, headers=admin)).status_code == 200
    changed = await http.put(path, json={**body, "substitute_user_id": second["id"]}, headers=admin)
    assert changed.status_code == 200, changed.text
    # Now the first change's start arrives: it ends nothing, and stops by itself.
    await real_start(stack.env.client, stack.settings, on_the_way[0])

    async def checked_by() -> str | None:
        return await holder(stack, process_id, "check")

    assert await eventually(checked_by, lambda h: h == second["id"], wait=30) == second["id"]

    async def absence() -> dict[str, Any]:
        found: dict[str, Any] = (await http.get(path, headers=admin)).json()
        return found

    # `moved_at` is written once every process named was told: a moment after the step moved
    shown = await eventually(absence, lambda a: a["moved_at"] is not None)
    assert shown["substitute_user_id"] == second["id"] and shown["moved_at"] is not None


async def test_a_step_handed_to_someone_away_opens_for_their_substitute(stack: Stack) -> None:
    """The processes did not name the user when the absence began, so they were not told:
    a reassignment (one step's, or in bulk) tells them first."""
    http, admin = stack.http, stack.admin
    away = await factories.member(http, admin, "Anna Abwesend")
    other = await factories.member(http, admin, "Otto Anders")
    substitute = await factories.member(http, admin, "Sven Vertreter")
    template = await factories.published_template(http, admin, two_steps_for(other["id"]))
    one, two = await checking(stack, template["id"]), await checking(stack, template["id"])
    body = {
        "from": moment(-timedelta(minutes=1)),
        "until": moment(timedelta(days=3)),
        "substitute_user_id": substitute["id"],
    }
    assert (await http.put(f"/api/users/{away['id']}/absence", json=body, headers=admin)).json()
    to_away = {"type": "user", "user_id": away["id"]}
    reassigned = await http.post(
        f"/api/processes/{one}/steps/check/reassign", json={"assignee": to_away}, headers=admin
    )
    assert reassigned.status_code == 200, reassigned.text
    assert await holder(stack, one, "check") == substitute["id"]
    in_bulk = await http.post(
        "/api/steps/bulk",
        json={
            "action": "reassign",
            "items": [{"process_id": two, "step_key": "check"}],
            "assignee": to_away,
        },
        headers=admin,
    )
    assert [row["status"] for row in in_bulk.json()["data"]] == [200], in_bulk.text
    assert await holder(stack, two, "check") == substitute["id"]
    told = ("step_substituted", one, "check")
    as_substitute = factories.bearer(substitute["token"])
    assert told in await eventually(lambda: notices(http, as_substitute), lambda n: told in n)


async def test_a_substitute_away_passes_on_and_a_deactivated_one_stands_in_for_nobody(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    anna = await factories.member(http, admin, "Anna Abwesend")
    sven = await factories.member(http, admin, "Sven Vertreter")
    tina = await factories.member(http, admin, "Tina Dritte")
    template = await factories.published_template(http, admin, two_steps_for(anna["id"]))
    before = await checking(stack, template["id"])  # names Anna, not Sven

    def away(substitute: dict[str, Any]) -> dict[str, Any]:
        return {
            "from": moment(-timedelta(minutes=1)),
            "until": moment(timedelta(days=3)),
            "substitute_user_id": substitute["id"],
        }

    # Sven is away (Tina stands in), then Anna (Sven stands in): Anna's step goes to Tina,
    # in the process that knew neither absence and in one started now.
    set_ = await http.put(f"/api/users/{sven['id']}/absence", json=away(tina), headers=admin)
    assert set_.status_code == 200, set_.text
    set_ = await http.put(f"/api/users/{anna['id']}/absence", json=away(sven), headers=admin)
    assert set_.status_code == 200, set_.text
    assert await holder(stack, before, "check") == tina["id"]
    during = await checking(stack, template["id"])
    assert await holder(stack, during, "check") == tina["id"]

    # Sven leaves: Anna's absence, which named him, is withdrawn and the answer says so.
    deactivated = await http.post(f"/api/users/{sven['id']}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["absences_withdrawn"] == [anna["id"]]
    assert (await http.get(f"/api/users/{anna['id']}/absence", headers=admin)).status_code == 404
    # Steps opening for Anna stay hers; Sven's own absence does not matter any more.
    after = await checking(stack, template["id"])
    assert await holder(stack, after, "check") == anna["id"]
    steps = await complete(stack, during, "check", factories.bearer(tina["token"]))
    assert steps["approve"]["assignee"]["user_id"] == anna["id"]
