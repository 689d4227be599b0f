"""Crossings between the database and Temporal, cut short at every point: a retry or the
reconciler ends where the workflow says, and nothing is lost, doubled or left half-done.

A crash is an exception raised at a named point (partnerflow/crash_points.py): a process that
died there, or a request whose client went away (`CancelledError`). The reconciler's
activities are called directly; the last test lets a worker create its Schedule and a
triggered round repair a half-done automation run.
"""

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.reconcile import ReconcileActivities
from partnerflow import crash_points, invitations
from partnerflow.crash_points import CrashPoint
from partnerflow.db import utcnow
from partnerflow.idempotency import commit_with_answer, replay
from partnerflow.models import AutomationRun, Document, Opportunity, User
from partnerflow.reconcile_schedule import ensure_reconcile_schedule, schedule_id_for
from partnerflow.refusals import Refused
from partnerflow.seed import seed
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack, eventually, gone_temporal, settings_for
from tests.holding import COMMIT, held_before, in_thread
from tests.system.test_worker_restart import Worker, api, worker_env
from workflows.messages import ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.reconcile_messages import ReconcileInput
from workflows.reconciler import ReconcilerWorkflow

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# What the reconciler is told in tests: nothing is too young to repair.
AT_ONCE = ReconcileInput(starting_grace_seconds=0, pending_upload_grace_seconds=0)
# Where a racing call writes: its opportunity or its answer; its claim of an invitation.
WRITES = re.compile(r"^\s*INSERT INTO", re.IGNORECASE)
CLAIMS = re.compile(r"^\s*UPDATE invitation\b", re.IGNORECASE)


class Died(Exception):
    """The process serving the request died here."""


@pytest.fixture(autouse=True)
def nothing_armed() -> Iterator[None]:
    yield
    crash_points.disarm()


async def cut_short(point: CrashPoint, crash: BaseException, request: Awaitable[Any]) -> None:
    """Send a request that crashes at `point`. What its client sees of the crash is not the
    point (a cancelled request reaches it as starlette's "No response returned")."""
    crash_points.arm(point, crash)
    with pytest.raises((type(crash), RuntimeError)):
        await request
    assert crash_points.armed() == [], f"the request never reached {point}"


def reconciler(stack: Stack, client: Client | None = None) -> ReconcileActivities:
    return ReconcileActivities(stack.engine, client or stack.env.client, stack.settings)


async def run_of(stack: Stack, automation_id: str) -> dict[str, Any]:
    runs = (
        await stack.http.get(f"/api/automations/{automation_id}/runs", headers=stack.admin)
    ).json()["data"]
    assert len(runs) == 1, runs
    run: dict[str, Any] = runs[0]
    return run


async def processes_of(stack: Stack, opportunity_id: str) -> list[dict[str, Any]]:
    response = await stack.http.get(
        "/api/processes", params={"opportunity_id": opportunity_id}, headers=stack.admin
    )
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def latest_run_id(client: Client, process_id: str) -> str | None:
    """The id of the workflow's newest run: a second run of the same process changes it."""
    description = await client.get_workflow_handle(workflow_id_for(process_id)).describe()
    return description.run_id


async def pv_automation(stack: Stack) -> dict[str, Any]:
    partner = await factories.partner(stack.http, stack.admin)
    template = await factories.published_template(
        stack.http, stack.admin, factories.two_step_template(partner["id"])
    )
    return await factories.automation(stack.http, stack.admin, template["id"])


OPPORTUNITY = {"title": "PV Becker", "customer": {"name": "Jana Becker"}, "product": "pv"}


# (a) automation runs ----------------------------------------------------------------------


async def test_a_run_cut_off_before_its_process_started_is_started_by_the_reconciler(
    stack: Stack,
) -> None:
    automation = await pv_automation(stack)
    await cut_short(
        "automation_runs.recorded",
        Died(),
        stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=stack.admin),
    )
    opportunity = (await stack.http.get("/api/opportunities", headers=stack.admin)).json()["data"]
    assert len(opportunity) == 1
    run = await run_of(stack, automation["id"])
    # Recorded, not claimed: `starting`, and no process yet.
    assert run["outcome"] == "starting"
    assert await processes_of(stack, opportunity[0]["id"]) == []

    repaired = await ActivityEnvironment().run(reconciler(stack).finish_automation_runs, AT_ONCE)
    assert repaired.started == 1
    run = await run_of(stack, automation["id"])
    assert run["outcome"] == "started"
    [process] = await processes_of(stack, opportunity[0]["id"])
    assert process["id"] == run["process_id"]
    assert process["status"] == "running"
    # A second round finds nothing left to do.
    again = await ActivityEnvironment().run(reconciler(stack).finish_automation_runs, AT_ONCE)
    assert again.started == again.skipped == again.failed == again.still_starting == 0


async def test_a_run_cut_off_after_its_process_started_is_found_by_the_retry(
    stack: Stack,
) -> None:
    automation = await pv_automation(stack)
    headers = {**stack.admin, "Idempotency-Key": "crm-retry-run"}
    await cut_short(
        "automation_run.launched",
        Died(),
        stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=headers),
    )
    run = await run_of(stack, automation["id"])
    assert run["outcome"] == "starting"
    first_run_id = await latest_run_id(stack.env.client, run["process_id"])

    retried = await stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=headers)
    assert retried.status_code == 201, retried.text
    run = await run_of(stack, automation["id"])
    assert run["outcome"] == "started"
    # The process the crash left behind is the run's: found, not started a second time.
    [process] = await processes_of(stack, retried.json()["id"])
    assert process["id"] == run["process_id"]
    assert await latest_run_id(stack.env.client, run["process_id"]) == first_run_id
    assert (await stack.http.get("/api/opportunities", headers=stack.admin)).json()["count"] == 1


async def test_a_run_whose_process_started_before_its_template_was_archived_is_started(
    stack: Stack,
) -> None:
    automation = await pv_automation(stack)
    await cut_short(
        "automation_run.launched",
        Died(),
        stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=stack.admin),
    )
    archived = await stack.http.post(
        f"/api/process-templates/{automation['action']['start_process']}/archive",
        headers=stack.admin,
    )
    assert archived.status_code == 200, archived.text
    # Starting it now would be refused; but it did start, and that is what the run records.
    repaired = await ActivityEnvironment().run(reconciler(stack).finish_automation_runs, AT_ONCE)
    assert (repaired.started, repaired.skipped) == (1, 0)
    run = await run_of(stack, automation["id"])
    assert run["outcome"] == "started"
    process = await stack.http.get(f"/api/processes/{run['process_id']}", headers=stack.admin)
    assert process.json()["status"] == "running"


async def test_a_run_temporal_never_answers_for_is_recorded_as_failed(stack: Stack) -> None:
    automation = await pv_automation(stack)
    await cut_short(
        "automation_runs.recorded",
        Died(),
        stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=stack.admin),
    )
    nobody = await gone_temporal()
    patient = await ActivityEnvironment().run(
        reconciler(stack, nobody).finish_automation_runs, AT_ONCE
    )
    assert patient.still_starting == 1
    run = await run_of(stack, automation["id"])
    assert run["outcome"] == "starting"
    assert "Temporal did not answer" in run["reason"]

    give_up = AT_ONCE.model_copy(update={"give_up_after_seconds": 0})
    given_up = await ActivityEnvironment().run(
        reconciler(stack, nobody).finish_automation_runs, give_up
    )
    assert given_up.failed == 1
    run = await run_of(stack, automation["id"])
    assert (run["outcome"], run["process_id"]) == ("failed", None)
    assert "Temporal did not answer" in run["reason"]


# (b) opportunities and their Idempotency-Key --------------------------------------------


async def test_concurrent_retries_of_one_opportunity_create_it_once(stack: Stack) -> None:
    automation = await pv_automation(stack)
    headers = {**stack.admin, "Idempotency-Key": "crm-7-burst"}
    answers = await asyncio.gather(
        *(
            stack.http.post("/api/opportunities", json=OPPORTUNITY, headers=headers)
            for _ in range(4)
        )
    )
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await stack.http.get("/api/opportunities", headers=stack.admin)).json()["count"] == 1
    assert (await run_of(stack, automation["id"]))["outcome"] == "started"
    assert len(await processes_of(stack, answers[0].json()["id"])) == 1


async def test_the_answer_commits_with_the_opportunity_or_not_at_all(stack: Stack) -> None:
    """Two calls with one key that both found no answer yet, writing at the same time: one
    commits, the other's opportunity is undone and it answers the winner's."""
    with Session(stack.engine) as session:
        admin = session.exec(select(User).where(User.role == "admin")).one()
    request = "POST /api/opportunities"
    first = Session(stack.engine, expire_on_commit=False)
    second = Session(stack.engine, expire_on_commit=False)
    try:
        assert replay(first, admin.id, "k-1", request) is None
        assert replay(second, admin.id, "k-1", request) is None
        mine = Opportunity(title="first", customer={})
        theirs = Opportunity(title="second", customer={})
        first.add(mine)
        first.flush()  # written, not committed: the other call's transaction meets it
        second.add(theirs)

        answers: dict[str, dict[str, Any]] = {}

        def answer(name: str, session: Session, body: dict[str, Any]) -> None:
            answers[name] = commit_with_answer(session, admin.id, "k-1", request, 201, body).body

        # The first call has written its answer and waits at its commit while the second
        # writes: on either database the second must wait for the first's transaction.
        with (
            held_before(stack.engine, "first", COMMIT) as (committing, release_first),
            held_before(stack.engine, "second", WRITES) as (writing, release_second),
        ):
            release_second.set()  # only told when the second writes, never stopped
            one, one_errors = in_thread(
                "first", lambda: answer("first", first, {"id": str(mine.id)})
            )
            assert await asyncio.to_thread(committing.wait, 30), "the first never committed"
            two, two_errors = in_thread(
                "second", lambda: answer("second", second, {"id": str(theirs.id)})
            )
            assert await asyncio.to_thread(writing.wait, 30), "the second never wrote"
            await asyncio.sleep(0.2)  # its write reaches the database, where it waits
            assert two.is_alive(), "the second finished while the first had not committed"
            release_first.set()
            await asyncio.to_thread(one.join, 60)
            await asyncio.to_thread(two.join, 60)
        assert not one_errors and not two_errors, (one_errors, two_errors)
        assert answers["second"] == answers["first"] == {"id": str(mine.id)}
    finally:
        first.close()
        second.close()
    with Session(stack.engine) as session:
        kept = [str(o.id) for o in session.exec(select(Opportunity))]
    assert kept == [str(mine.id)]


# (c) uploads ------------------------------------------------------------------------------


async def installation_open(stack: Stack) -> dict[str, Any]:
    """A process whose partner step (an invoice to upload) is open, and the partner's headers."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    await factories.granted(http, admin, partner["id"], "steps:complete", "documents:upload")
    template = await factories.published_template(
        http, admin, factories.installation_template(partner["id"])
    )
    process = await factories.started(http, admin, template["id"])
    await factories.commission(http, admin, process["id"])
    return {
        "id": process["id"],
        "url": f"/api/processes/{process['id']}/steps/installation/documents",
        "partner": factories.bearer(partner["owner_token"]),
    }


async def upload(stack: Stack, url: str, headers: dict[str, str], doc_type: str = "invoice") -> Any:
    return await stack.http.post(
        url,
        files={"file": ("Rechnung.pdf", PDF, "application/octet-stream")},
        data={"type": doc_type},
        headers=headers,
    )


def documents_in_db(engine: Engine, process_id: str) -> list[Document]:
    with Session(engine) as session:
        return list(
            session.exec(select(Document).where(Document.process_id == uuid.UUID(process_id)))
        )


def stored_files(stack: Stack) -> list[str]:
    folder = Path(stack.settings.storage_dir)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def workflow_documents(stack: Stack, process_id: str) -> list[uuid.UUID]:
    handle = stack.env.client.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    state: ProcessState = await handle.query(PartnerProcessWorkflow.state)
    step = next(s for s in state.steps if s.key == "installation")
    return [d.id for d in step.documents]


async def listed_documents(stack: Stack, process_id: str) -> list[str]:
    response = await stack.http.get(
        f"/api/processes/{process_id}/steps/installation/documents", headers=stack.admin
    )
    return [d["id"] for d in response.json()["data"]]


@pytest.mark.parametrize("crash", [Died, asyncio.CancelledError], ids=["died", "client_gone"])
async def test_an_upload_the_workflow_took_is_never_removed_and_gets_attached(
    stack: Stack, crash: type[BaseException]
) -> None:
    process = await installation_open(stack)
    await cut_short("upload.accepted", crash(), upload(stack, process["url"], process["partner"]))
    # The workflow counts the document: its row and its file are still there, pending.
    [document] = documents_in_db(stack.engine, process["id"])
    assert document.status == "pending"
    assert await workflow_documents(stack, process["id"]) == [document.id]
    assert stored_files(stack) == [document.storage_key]
    assert await listed_documents(stack, process["id"]) == []

    settled = await ActivityEnvironment().run(reconciler(stack).settle_uploads, AT_ONCE)
    assert (settled.attached, settled.removed) == (1, 0)
    assert await listed_documents(stack, process["id"]) == [str(document.id)]
    download = await stack.http.get(
        f"/api/processes/{process['id']}/documents/{document.id}", headers=stack.admin
    )
    assert download.content == PDF
    # The step the invoice was required for can be finished.
    done = await stack.http.post(
        f"/api/processes/{process['id']}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-12-11"}},
        headers=process["partner"],
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"


async def test_an_upload_cut_off_before_the_workflow_was_asked_is_finished(
    stack: Stack,
) -> None:
    process = await installation_open(stack)
    await cut_short("upload.stored", Died(), upload(stack, process["url"], process["partner"]))
    [document] = documents_in_db(stack.engine, process["id"])
    assert document.status == "pending"
    assert await workflow_documents(stack, process["id"]) == []

    settled = await ActivityEnvironment().run(reconciler(stack).settle_uploads, AT_ONCE)
    # The step is still open for it: the update is sent again under its own id, and taken.
    assert (settled.attached, settled.removed) == (1, 0)
    assert await workflow_documents(stack, process["id"]) == [document.id]
    assert await listed_documents(stack, process["id"]) == [str(document.id)]


async def test_an_upload_cut_off_for_a_step_that_closed_since_is_removed(
    stack: Stack,
) -> None:
    process = await installation_open(stack)
    await cut_short("upload.stored", Died(), upload(stack, process["url"], process["partner"]))
    skipped = await stack.http.post(
        f"/api/processes/{process['id']}/steps/installation/skip",
        json={"reason": "invoice came by post"},
        headers=stack.admin,
    )
    assert skipped.status_code == 200, skipped.text
    assert len(stored_files(stack)) == 1

    settled = await ActivityEnvironment().run(reconciler(stack).settle_uploads, AT_ONCE)
    assert (settled.attached, settled.removed) == (0, 1)
    assert documents_in_db(stack.engine, process["id"]) == []
    assert stored_files(stack) == []
    assert await workflow_documents(stack, process["id"]) == []


async def test_an_upload_the_workflow_refused_leaves_nothing(stack: Stack) -> None:
    process = await installation_open(stack)
    refused = await upload(stack, process["url"], process["partner"], doc_type="photo")
    assert refused.status_code == 422, refused.text
    assert documents_in_db(stack.engine, process["id"]) == []
    assert stored_files(stack) == []


async def test_a_young_pending_upload_is_left_to_its_request(stack: Stack) -> None:
    process = await installation_open(stack)
    await cut_short("upload.stored", Died(), upload(stack, process["url"], process["partner"]))
    settled = await ActivityEnvironment().run(reconciler(stack).settle_uploads, ReconcileInput())
    assert (settled.attached, settled.removed) == (0, 0)
    [document] = documents_in_db(stack.engine, process["id"])
    assert document.status == "pending"


# (d) invitations --------------------------------------------------------------------------


async def test_two_accepts_of_one_invitation_at_once_make_one_user(stack: Stack) -> None:
    invited, token = await factories.invited_partner(stack.http, stack.admin)
    first = Session(stack.engine, expire_on_commit=False)
    second = Session(stack.engine, expire_on_commit=False)

    def accept_too() -> str:
        try:
            invitations.accept(second, token, "Max Zweiter", "max@partner.example.com")
        except Refused:
            second.rollback()
            return "gone"
        second.commit()
        return "accepted"

    answers: list[str] = []
    try:
        invitations.accept(first, token, "Erika Erste", "erika@partner.example.com")
        # Told when the second has read the invitation as pending and claims it (it then
        # waits for the first's transaction); never stopped.
        with held_before(stack.engine, "second", CLAIMS) as (claiming, release):
            release.set()
            racing, errors = in_thread("second", lambda: answers.append(accept_too()))
            assert await asyncio.to_thread(claiming.wait, 30), "the second never claimed"
            await asyncio.sleep(0.2)  # its claim reaches the database, where it waits
            assert racing.is_alive(), "the second claimed while the first had not committed"
            first.commit()
            await asyncio.to_thread(racing.join, 60)
        assert not errors, errors
        assert answers == ["gone"]
    finally:
        first.close()
        second.close()
    with Session(stack.engine) as session:
        users = session.exec(select(User).where(User.partner_id == uuid.UUID(invited["id"]))).all()
    assert [u.name for u in users] == ["Erika Erste"]
    again = await stack.http.post(
        f"/api/invitations/{token}/accept",
        json={"name": "Dritte", "email": "dritte@partner.example.com"},
    )
    assert again.status_code == 410


# (e) a start retried after its process ended ------------------------------------------


async def test_a_start_retried_after_its_process_ended_answers_that_process(
    stack: Stack,
) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    template = await factories.published_template(
        stack.http, stack.admin, factories.two_step_template(partner["id"])
    )
    opportunity = await factories.opportunity(stack.http, stack.admin)
    body = {"template_id": template["id"], "opportunity_id": opportunity["id"]}
    headers = {**stack.admin, "Idempotency-Key": "crm-start-9"}
    await cut_short(
        "process.launched", Died(), stack.http.post("/api/processes", json=body, headers=headers)
    )
    [process] = await processes_of(stack, opportunity["id"])
    first_run_id = await latest_run_id(stack.env.client, process["id"])
    cancelled = await stack.http.post(
        f"/api/processes/{process['id']}/cancel", json={"reason": "wrong"}, headers=stack.admin
    )
    assert cancelled.json()["status"] == "cancelled"

    retried = await stack.http.post("/api/processes", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert (retried.json()["id"], retried.json()["status"]) == (process["id"], "cancelled")
    assert await latest_run_id(stack.env.client, process["id"]) == first_run_id
    # And once more: now the stored answer.
    again = await stack.http.post("/api/processes", json=body, headers=headers)
    assert again.json() == retried.json()


async def test_a_start_retried_while_its_process_runs_finds_it(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    template = await factories.published_template(
        stack.http, stack.admin, factories.two_step_template(partner["id"])
    )
    opportunity = await factories.opportunity(stack.http, stack.admin)
    body = {"template_id": template["id"], "opportunity_id": opportunity["id"]}
    headers = {**stack.admin, "Idempotency-Key": "crm-start-10"}
    await cut_short(
        "process.launched",
        asyncio.CancelledError(),
        stack.http.post("/api/processes", json=body, headers=headers),
    )
    # The template is archived meanwhile: the process that exists is still the answer.
    archived = await stack.http.post(
        f"/api/process-templates/{template['id']}/archive", headers=stack.admin
    )
    assert archived.status_code == 200, archived.text
    retried = await stack.http.post("/api/processes", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert [p["id"] for p in await processes_of(stack, opportunity["id"])] == [retried.json()["id"]]


# the Schedule -----------------------------------------------------------------------------


async def test_the_worker_keeps_a_schedule_whose_round_repairs_a_half_done_run(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = settings_for(database_url)
    seed(engine, ADMIN_TOKEN, demo=False)
    admin = factories.bearer(ADMIN_TOKEN)
    worker = Worker(worker_env(settings, temporal_env), tmp_path / "worker.log")
    schedule = temporal_env.client.get_schedule_handle(schedule_id_for(settings.task_queue))
    try:
        await worker.start()
        described = await schedule.describe()
        assert described.schedule.action.workflow == ReconcilerWorkflow.__name__  # type: ignore[attr-defined]
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=1)
        # Created idempotently: a second worker's start leaves the one schedule as it is.
        await ensure_reconcile_schedule(temporal_env.client, settings)

        async with api(settings, temporal_env) as http:
            partner = await factories.partner(http, admin)
            template = await factories.published_template(
                http, admin, factories.two_step_template(partner["id"])
            )
            automation = await factories.automation(http, admin, template["id"])
            await cut_short(
                "automation_runs.recorded",
                Died(),
                http.post("/api/opportunities", json=OPPORTUNITY, headers=admin),
            )
            # The crash was a while ago: older than the reconciler's grace period.
            with Session(engine) as session:
                session.execute(
                    update(AutomationRun)
                    .where(col(AutomationRun.automation_id) == uuid.UUID(automation["id"]))
                    .values(created_at=utcnow() - timedelta(minutes=10))
                )
                session.commit()

            await schedule.trigger()

            async def runs() -> list[dict[str, Any]]:
                response = await http.get(
                    f"/api/automations/{automation['id']}/runs", headers=admin
                )
                data: list[dict[str, Any]] = response.json()["data"]
                return data

            repaired = await eventually(
                runs, lambda rs: rs[0]["outcome"] != "starting", wait=60.0, every=0.2
            )
            assert [r["outcome"] for r in repaired] == ["started"]
            process = await http.get(f"/api/processes/{repaired[0]['process_id']}", headers=admin)
            assert process.status_code == 200, process.text
            assert process.json()["status"] == "running"
    finally:
        await worker.kill()
        with contextlib.suppress(RPCError):  # the worker may have died before making it
            await schedule.delete()
