"""The operators' runbook (docs/operations.md) works: each of its commands, as the doc writes
it, run against a real Temporal dev server, an SMTP server and the API, and what it shows or
does checked the way an operator would. Also the Temporal UI's own words for a process (its
summary and details, each timer's and activity's summary) seen through the CLI."""

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from partnerflow.reconcile_schedule import ensure_reconcile_schedule
from tests import factories
from tests.conftest import Stack, eventually, running_stack
from tests.process_world import MailServer, smtp_server
from tests.runbook import Ran, Runbook, commands, served

# One database is enough: the commands talk to Temporal; the read model's writes are the
# worker's, tested on both databases elsewhere.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class Ops:
    stack: Stack
    mail: MailServer
    runbook: Runbook

    async def detail(self, process_id: str) -> dict[str, Any]:
        response = await self.stack.http.get(
            f"/api/processes/{process_id}", headers=self.stack.admin
        )
        body: dict[str, Any] = response.json()
        return body

    async def described(self, process_id: str) -> dict[str, Any]:
        ran = (await self.runbook.run("describe", process_id=process_id)).ok()
        body: dict[str, Any] = json.loads(ran.stdout)
        return body


@pytest.fixture
def mail() -> Iterator[tuple[int, MailServer]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
async def ops(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    mail: tuple[int, MailServer],
    tmp_path: Path,
) -> AsyncIterator[Ops]:
    port, server = mail
    async with running_stack(
        temporal_env, database_url, engine, mail_transport="smtp", smtp_host="127.0.0.1",
        smtp_port=port,
    ) as stack:  # fmt: skip
        yield Ops(stack, server, Runbook(stack, tmp_path))


async def _partner(ops: Ops) -> dict[str, Any]:
    return await factories.partner(ops.stack.http, ops.stack.admin, inbox=ops.mail.inbox)


async def _template(
    ops: Ops, partner: dict[str, Any], deadline: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Commission the partner, then its installation (a date to record, nothing to upload);
    its deadline three days after it opens unless given, reminded a day before."""
    body = factories.two_step_template(partner["id"])
    installation = body["steps"][1]
    installation["deadline"] = deadline or {"after": "P3D"}
    installation["reminders"] = ["P1D"]
    return await factories.published_template(ops.stack.http, ops.stack.admin, body)


async def _started(ops: Ops, template: dict[str, Any]) -> dict[str, Any]:
    return await factories.started(ops.stack.http, ops.stack.admin, template["id"])


async def _commissioned(ops: Ops, process: dict[str, Any]) -> dict[str, Any]:
    """The contact person's step done: the installation is the partner's, with its timers."""
    return await factories.commission(ops.stack.http, ops.stack.admin, process["id"])


def _berlin(moment: str) -> str:
    return f"{datetime.fromisoformat(moment).astimezone(ZoneInfo('Europe/Berlin')):%Y-%m-%d %H:%M}"


def _summaries(history: dict[str, Any]) -> list[str]:
    """Every event summary of a history saved as JSON (payloads: base64 of a JSON string)."""
    found = []
    for event in history["events"]:
        summary = event.get("userMetadata", {}).get("summary")
        if summary:
            found.append(json.loads(base64.b64decode(summary["data"])))
    return found


def _listed(ran: Ran, *processes: dict[str, Any]) -> list[bool]:
    return [f"process-{p['id']}" in ran.ok().stdout for p in processes]


# Must show: the summary with the template's name; timers and activities naming the step ----


@SQLITE
async def test_a_process_says_in_the_cli_what_it_is_and_what_each_timer_and_activity_is_for(
    ops: Ops,
) -> None:
    partner = await _partner(ops)
    body = factories.two_step_template(partner["id"])
    body["steps"][1].update(deadline={"after": "P3D"}, reminders=["P1D"])
    # A step of the contact person's, open from the start, with a deadline and no reminder.
    body["steps"].append(
        {"key": "survey", "name": "Survey", "requires": [], "assignee": {"type": "contact"},
         "deadline": {"after": "P5D"}}
    )  # fmt: skip
    template = await factories.published_template(ops.stack.http, ops.stack.admin, body)
    process = await _started(ops, template)
    pid = process["id"]
    opened = await _commissioned(ops, process)
    dues = {s["key"]: _berlin(s["due_at"]) for s in opened["steps"] if s["due_at"]}
    due = dues["installation"]

    metadata = (await ops.described(pid))["executionConfig"]["userMetadata"]
    assert metadata["summary"] == (
        f"{template['name']} v1, opportunity {process['opportunity_id']}"
    )
    assert f"**{template['name']}**, version 1" in metadata["details"]
    assert f"- opportunity `{process['opportunity_id']}`" in metadata["details"]
    assert (
        f"[Open the process in Partnerflow](http://partnerflow.test/processes/{pid})"
        in metadata["details"]
    )

    wanted = [
        f"reminder 1 for step installation (P1D before the deadline {due} Europe/Berlin)",
        f"deadline of step survey (due {dues['survey']} Europe/Berlin)",
        f"hand-over e-mail for step installation to partner {partner['id']}",
        "record state v1",
        "record state v2",
    ]
    history = (await ops.runbook.run("history", process_id=pid)).ok().stdout
    for summary in wanted:
        assert f"userMetadata.summary: {summary}\n" in history, summary
    # The timer's section, so an operator sees which event the summary belongs to.
    assert re.search(r"\] TimerStarted -+\nuserMetadata\.summary: reminder 1 for step", history)
    # The history saved as JSON (for a replay check) carries the same, and nothing is hidden.
    (await ops.runbook.run("save-history", process_id=pid)).ok()
    saved = json.loads((ops.runbook.folder / f"process-{pid}.json").read_text())
    assert set(wanted) <= set(_summaries(saved))

    details = (await ops.runbook.run("current-details", process_id=pid)).ok().stdout
    assert "**running**, state v2" in details
    assert f"- `survey`: active, with user {opened['contact_user_id']}" in details
    assert (
        f"- `installation`: active, with partner {partner['id']}, due {due} Europe/Berlin"
        in details
    )

    state = json.loads((await ops.runbook.run("state", process_id=pid)).ok().stdout)
    steps = {s["key"]: s["status"] for s in state["queryResult"][0]["steps"]}
    assert steps == {
        "commission_partner": "completed",
        "installation": "active",
        "survey": "active",
    }


@SQLITE
async def test_the_reconcilers_schedule_says_what_its_rounds_repair(ops: Ops) -> None:
    settings = ops.stack.settings
    handle = await ensure_reconcile_schedule(ops.stack.env.client, settings)
    try:
        described = (await ops.runbook.run("schedule", task_queue=settings.task_queue)).ok()
        summary = (
            '"StaticSummary":"Partnerflow reconciler round: repairs between the database and '
            f'Temporal (task queue {settings.task_queue})"'
        )
        assert summary in described.stdout
        assert "pending offers of revoked partners to the contact persons" in described.stdout
        assert '"purpose":"Partnerflow reconciler round' in described.stdout  # the memo

        # A round, and what each of its activities says it repairs.
        await handle.trigger()
        client = ops.stack.env.client

        async def finished() -> str | None:
            query = (
                f"WorkflowType = 'ReconcilerWorkflow' AND TaskQueue = '{settings.task_queue}' "
                "AND ExecutionStatus = 'Completed'"
            )
            async for execution in client.list_workflows(query):
                return execution.id
            return None

        round_id = await eventually(finished, bool)
        assert round_id is not None
        history = await client.get_workflow_handle(round_id).fetch_history()
        said = [
            json.loads(event.user_metadata.summary.data)
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
        ]
        assert said == [
            "finish the automation runs a crash left starting",
            "settle the uploads left pending",
            "hand the open steps of revoked partners to the contact persons",
            "start the webhook deliveries left pending",
            "start the workflows of absences that began with their steps unmoved",
        ]
    finally:
        await handle.delete()


# Find processes ---------------------------------------------------------------------------


@SQLITE
async def test_lists_find_a_partners_processes_the_overdue_and_those_that_need_attention(
    ops: Ops,
) -> None:
    installer, roofer = await _partner(ops), await _partner(ops)
    hurried = await _template(ops, installer, deadline={"after": "PT1S"})
    relaxed = await _template(ops, installer)
    late = await _started(ops, hurried)
    flagged = await _started(ops, relaxed)
    # The installer's mail server refuses this process's hand-over for good.
    ops.mail.replies[f"{flagged['id']}:installation:handover"] = "554 5.7.1 relay refused"
    other = await _started(ops, await _template(ops, roofer))
    for process in (late, flagged, other):
        await _commissioned(ops, process)

    run = ops.runbook.run
    assert _listed(await run("partner", partner_id=installer["id"]), late, flagged, other) == [
        True, True, False,
    ]  # fmt: skip
    assert _listed(await run("template", template_id=hurried["id"]), late, flagged) == [
        True, False,
    ]  # fmt: skip

    overdue = await eventually(lambda: ops.detail(late["id"]), lambda d: d["steps"][1]["overdue"])
    assert overdue["steps"][1]["overdue"], overdue
    # `date` says whole seconds: in the second the step fell due, the query does not see it yet.
    ran = await eventually(lambda: run("overdue"), lambda ran: _listed(ran, late) == [True])
    assert _listed(ran, late, flagged, other) == [True, False, False]

    needs = await eventually(lambda: ops.detail(flagged["id"]), lambda d: d["attention"])
    assert needs["attention"], needs
    attention = await eventually(
        lambda: run("attention"), lambda ran: _listed(ran, flagged) == [True]
    )
    assert _listed(attention, flagged, late, other) == [True, False, False]


# Retry a failed activity --------------------------------------------------------------------


@SQLITE
async def test_an_email_retrying_after_a_fixed_cause_goes_out_at_once_when_reset(
    ops: Ops,
) -> None:
    partner = await _partner(ops)
    process = await _started(ops, await _template(ops, partner))
    pid = process["id"]
    handover = f"{pid}:installation:handover"
    ops.mail.replies[handover] = "451 4.3.0 mailbox busy, try again later"
    await _commissioned(ops, process)

    def retrying(described: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            a
            for a in described.get("pendingActivities", [])
            if a["activityType"]["name"] == "send_email" and int(a["attempt"]) >= 2
        ]

    described = await eventually(lambda: ops.described(pid), lambda d: bool(retrying(d)))
    [email] = retrying(described)
    assert email["lastFailure"]["message"] == "SMTP 451"
    activity_id = email["activityId"]

    (await ops.runbook.run("pause-activity", process_id=pid, activity_id=activity_id)).ok()
    paused = [a for a in (await ops.described(pid))["pendingActivities"] if a["paused"]]
    assert [a["activityId"] for a in paused] == [activity_id]

    del ops.mail.replies[handover]  # the cause is fixed: the mailbox takes mail again
    (await ops.runbook.run("retry-activity", process_id=pid, activity_id=activity_id)).ok()

    async def sent() -> list[str]:
        return [str(m["X-Partnerflow-Key"]).strip() for m in ops.mail.accepted]

    keys = await eventually(sent, lambda keys: f"{handover}:1" in keys)
    assert f"{handover}:1" in keys
    outbox = await factories.outbox(ops.stack.http, ops.stack.admin, pid, count=1)
    assert [(e["kind"], e["status"]) for e in outbox if e["kind"] == "handover"] == [
        ("handover", "sent")
    ]
    pending = (await ops.described(pid)).get("pendingActivities", [])
    assert [a for a in pending if a["activityType"]["name"] == "send_email"] == []


# Cancel, or terminate ----------------------------------------------------------------------


@SQLITE
async def test_cancel_through_partnerflow_tells_the_partner_and_the_read_model(ops: Ops) -> None:
    partner = await _partner(ops)
    process = await _started(ops, await _template(ops, partner))
    pid = process["id"]
    await _commissioned(ops, process)
    async with served(ops.stack.app) as url:
        ops.runbook.api_url = url
        ran = (await ops.runbook.run("cancel", process_id=pid)).ok()
    answer = json.loads(ran.stdout)
    assert (answer["status"], answer["cancel_reason"]) == ("cancelled", "customer withdrew")
    assert {s["key"]: s["status"] for s in answer["steps"]}["installation"] == "cancelled"

    async def sent() -> list[str]:
        return [str(m["X-Partnerflow-Key"]) for m in ops.mail.accepted]

    keys = await eventually(sent, lambda keys: any(":installation:cancelled:" in k for k in keys))
    assert any(f"{pid}:installation:cancelled:" in k for k in keys)
    described = await ops.described(pid)
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


@SQLITE
async def test_terminate_or_a_temporal_cancel_leave_running_until_the_read_model_is_repaired(
    ops: Ops,
) -> None:
    partner = await _partner(ops)
    template = await _template(ops, partner)
    requested, terminated = await _started(ops, template), await _started(ops, template)
    for process in (requested, terminated):
        await _commissioned(ops, process)

    # What the runbook warns against: Temporal's cancellation request.
    (await ops.runbook.temporal("workflow", "cancel", "-w", f"process-{requested['id']}")).ok()
    (await ops.runbook.run("terminate", process_id=terminated["id"])).ok()

    def status(process_id: str) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            return str((await ops.described(process_id))["workflowExecutionInfo"]["status"])

        return read

    for process, ended in ((requested, "CANCELED"), (terminated, "TERMINATED")):
        final = await eventually(status(process["id"]), lambda s: "RUNNING" not in s)
        assert final == f"WORKFLOW_EXECUTION_STATUS_{ended}"
        # Nothing of the workflow ran: the read model still says running, the step open.
        stale = await ops.detail(process["id"])
        assert stale["status"] == "running"
        assert {s["key"]: s["status"] for s in stale["steps"]}["installation"] == "active"
    refused = await ops.stack.http.post(
        f"/api/processes/{requested['id']}/cancel", json={"reason": "too late"},
        headers=ops.stack.admin,
    )  # fmt: skip
    assert refused.status_code == 409, refused.text

    for process, how in ((terminated, "terminated"), (requested, "canceled")):
        ran = (await ops.runbook.run("repair", process_id=process["id"])).ok()
        assert f"{process['id']}: read model now at version" in ran.stdout
        assert "cancelled, open steps: none" in ran.stdout
        repaired = await ops.detail(process["id"])
        assert repaired["status"] == "cancelled"
        assert {s["key"]: s["status"] for s in repaired["steps"]} == {
            "commission_partner": "completed",
            "installation": "cancelled",
        }
        last = repaired["timeline"][-1]
        assert (last["event"], last["detail"]) == ("process_ended_in_temporal", how)


# Reset to before a bad transition ----------------------------------------------------------


def _reset_point(history: str, step_key: str) -> str:
    """From the `find-update` output: the last WorkflowTaskCompleted before the update that
    completed the step (what the runbook tells the operator to look for)."""
    sections = re.split(r"^-{15} \[(\d+)\] (\w+) -{15}$", history, flags=re.M)
    last_task = None
    for event_id, kind, body in zip(sections[1::3], sections[2::3], sections[3::3], strict=True):
        if kind == "WorkflowTaskCompleted":
            last_task = event_id
        if (
            kind == "WorkflowExecutionUpdateAccepted"
            and "acceptedRequest.input.name: complete_step" in body
            and f"acceptedRequest.input.args[0].step_key: {step_key}" in body
        ):
            assert last_task is not None
            return last_task
    raise AssertionError(f"no complete_step for {step_key} in:\n{history}")


@SQLITE
async def test_reset_to_before_a_mistaken_completion_and_repair_the_read_model(ops: Ops) -> None:
    partner = await _partner(ops)
    process = await _started(ops, await _template(ops, partner))
    pid = process["id"]
    await _commissioned(ops, process)
    http, admin = ops.stack.http, ops.stack.admin
    done = f"/api/processes/{pid}/steps/installation/complete"
    mistake = await http.post(done, json={"fields": {"installed_on": "2026-12-11"}}, headers=admin)
    assert mistake.json()["status"] == "completed", mistake.text

    history = (await ops.runbook.run("find-update", process_id=pid)).ok().stdout
    event_id = _reset_point(history, "installation")
    (await ops.runbook.run("reset", process_id=pid, event_id=event_id)).ok()

    async def installation_in_temporal() -> str:
        ran = await ops.runbook.run("state", process_id=pid)
        if ran.returncode:
            return "unknown"  # the reset run's first task is not done yet
        state = json.loads(ran.stdout)["queryResult"][0]
        return str({s["key"]: s["status"] for s in state["steps"]}["installation"])

    assert await eventually(installation_in_temporal, lambda s: s == "active") == "active"
    # The read model still shows the mistake: the state went back to an older version.
    stale = await ops.detail(pid)
    assert (stale["status"], stale["steps"][1]["status"]) == ("completed", "completed")

    (await ops.runbook.run("repair", process_id=pid)).ok()
    repaired = await ops.detail(pid)
    assert (repaired["status"], repaired["steps"][1]["status"]) == ("running", "active")
    assert repaired["steps"][1]["fields"] == {}
    # Later transitions are written as usual.
    right = await http.post(done, json={"fields": {"installed_on": "2026-12-12"}}, headers=admin)
    assert right.status_code == 200, right.text
    finished = await ops.detail(pid)
    assert finished["status"] == "completed"
    assert finished["steps"][1]["fields"] == {"installed_on": "2026-12-12"}


# A template version's bug: the replay check ------------------------------------------------


@SQLITE
async def test_a_running_process_history_is_replay_checked_on_the_code(ops: Ops) -> None:
    partner = await _partner(ops)
    process = await _started(ops, await _template(ops, partner))
    pid = process["id"]
    await _commissioned(ops, process)
    (await ops.runbook.run("save-history", process_id=pid)).ok()
    checked = (await ops.runbook.run("replay-check", process_id=pid)).ok()
    assert checked.stdout == f"process-{pid}.json: replays\n"

    # Code that would do something else than the history recorded: the check says so.
    history = json.loads((ops.runbook.folder / f"process-{pid}.json").read_text())
    scheduled = next(e for e in history["events"] if "activityTaskScheduledEventAttributes" in e)
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "renamed"
    (ops.runbook.folder / "process-changed.json").write_text(json.dumps(history))
    failed = await ops.runbook.run("replay-check", process_id="changed")
    assert failed.returncode == 1
    verdict = failed.stdout.splitlines()[-1]
    assert verdict.startswith("process-changed.json: FAILS: "), failed.stdout
    assert "Nondeterminism" in verdict or "nondetermin" in verdict.lower(), verdict


# The doc and the tests cannot drift ---------------------------------------------------------


def test_every_runbook_command_is_run_by_a_test() -> None:
    source = Path(__file__).read_text()
    named = commands()
    assert len(named) >= 15
    # Run means passed to `run(...)`: any other quoted mention of the name does not count.
    untested = [name for name in named if not re.search(rf'run\(\s*"{re.escape(name)}"', source)]
    assert untested == []
    for text in named.values():
        assert text.strip(), "a runbook block with no command"
