"""Writers of the read model racing: the newest transition stays, on SQLite and PostgreSQL."""

import asyncio
import random
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.read_model import ReadModelActivities
from partnerflow.models import Opportunity, Process, ProcessStep, ProcessTemplate, User
from partnerflow.seed import seed
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.holding import held_before, in_thread
from workflows.messages import (
    ProcessState,
    ResolvedAssignee,
    StepState,
    TimelineEntry,
    TransitionWrite,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# The first statement that writes the process row: the guarded upsert of the activity, or
# the INSERT/UPDATE an ORM flush would send after reading the version.
WRITES_PROCESS = re.compile(r"^\s*(INSERT INTO|UPDATE) process\b", re.IGNORECASE)
# How long the held writer lets the other one run: it finishes at once unless it waits for
# a lock the held writer has (an implementation that locks on reading); then both go on.
LET_THE_OTHER_RUN = 10.0


@pytest.fixture
def process_of(engine: Engine) -> Callable[[int], ProcessState]:
    """Transitions of one process whose template, opportunity and contact exist: version n
    has n-1 of its three steps done, so two versions differ in what a user would see."""
    seed(engine, ADMIN_TOKEN, demo=True)
    with Session(engine) as session:
        template = session.exec(select(ProcessTemplate)).one()
        contact = session.exec(select(User).where(User.role == "admin")).one()
        opportunity = Opportunity(title="PV-Anlage Familie Becker")
        session.add(opportunity)
        session.commit()
        template_id, contact_id, opportunity_id = template.id, contact.id, opportunity.id
    process_id = uuid.uuid4()

    def state(version: int) -> ProcessState:
        done = version - 1
        steps = [
            StepState(
                key=key,
                name=key.title(),
                status="completed" if i < done else "active" if i == done else "pending",
                assignee=ResolvedAssignee(type="contact", user_id=contact_id),
                requires=[],
                activated_at=STARTED if i <= done else None,
                completed_at=STARTED + timedelta(hours=i + 1) if i < done else None,
                fields={"round": version} if i < done else {},
            )
            for i, key in enumerate(["survey", "installation", "acceptance"])
        ]
        return ProcessState(
            process_id=process_id,
            template_id=template_id,
            template_version=1,
            opportunity_id=opportunity_id,
            contact_user_id=contact_id,
            partner_ids=[],
            status="completed" if done >= len(steps) else "running",
            started_at=STARTED,
            completed_at=STARTED + timedelta(days=1) if done >= len(steps) else None,
            steps=steps,
            timeline=[
                TimelineEntry(at=STARTED, event=f"transition {n}") for n in range(1, version + 1)
            ],
            version=version,
        )

    return state


def recorded(engine: Engine, process_id: uuid.UUID) -> dict[str, Any]:
    """What the read model shows of a process: its row and its steps, as a user reads them."""
    with Session(engine) as session:
        process = session.get(Process, process_id)
        assert process is not None
        steps = session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process_id)
            .order_by(ProcessStep.position)  # type: ignore[arg-type]
        ).all()
        return {
            "version": process.version,
            "status": process.status,
            "completed_at": process.completed_at,
            "timeline": len(process.timeline),
            "steps": [(s.key, s.status, s.completed_at, s.fields) for s in steps],
        }


def expected(state: ProcessState) -> dict[str, Any]:
    return {
        "version": state.version,
        "status": state.status,
        "completed_at": state.completed_at,
        "timeline": len(state.timeline),
        "steps": [(s.key, s.status, s.completed_at, s.fields) for s in state.steps],
    }


@pytest.mark.parametrize("held", ["older", "newer"])
@pytest.mark.parametrize("before", [4, None], ids=["recorded-before", "first-write"])
def test_a_writer_paused_between_read_and_write_never_leaves_an_older_state(
    engine: Engine,
    process_of: Callable[[int], ProcessState],
    held: str,
    before: int | None,
) -> None:
    activities = ReadModelActivities(engine)
    if before is not None:
        activities.record_process_state(process_of(before))
    older, newer = process_of(5), process_of(6)
    first, second = (newer, older) if held == "older" else (older, newer)
    with held_before(engine, "held", WRITES_PROCESS) as (reached, release):
        held_thread, held_errors = in_thread(
            "held", lambda: activities.record_process_state(second)
        )
        assert reached.wait(timeout=30), "the held writer never reached its write"
        other_thread, other_errors = in_thread(
            "other", lambda: activities.record_process_state(first)
        )
        other_thread.join(timeout=LET_THE_OTHER_RUN)
        release.set()
        held_thread.join(timeout=60)
        other_thread.join(timeout=60)
    assert not held_thread.is_alive() and not other_thread.is_alive(), "a writer hangs"
    assert not held_errors and not other_errors, (held_errors, other_errors)
    assert recorded(engine, newer.process_id) == expected(newer)


def test_many_writers_racing_end_on_the_newest_version(
    engine: Engine, process_of: Callable[[int], ProcessState]
) -> None:
    activities = ReadModelActivities(engine)
    activities.record_process_state(process_of(1))
    for round_ in range(4):
        versions = list(range(2 + round_ * 6, 8 + round_ * 6))
        random.Random(round_).shuffle(versions)
        start = threading.Barrier(len(versions))

        def write(version: int, start: threading.Barrier) -> Callable[[], None]:
            def go() -> None:
                start.wait(timeout=30)
                activities.record_process_state(process_of(version))

            return go

        writers = [in_thread(f"writer-{v}", write(v, start)) for v in versions]
        for thread, _ in writers:
            thread.join(timeout=120)
        assert [e for _, errors in writers for e in errors] == []
        assert recorded(engine, process_of(1).process_id) == expected(process_of(max(versions)))


async def test_parallel_steps_completed_at_once_leave_the_workflows_final_state(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    parallel = ["survey", "permit", "grid_registration", "financing", "scaffolding"]
    template = await factories.published_template(
        http,
        admin,
        {
            "name": f"PV in parallel {uuid.uuid4().hex[:6]}",
            "steps": [
                {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
                *(
                    {
                        "key": key,
                        "name": key.replace("_", " ").title(),
                        "requires": ["commission"],
                        "assignee": {"type": "contact"},
                    }
                    for key in parallel
                ),
            ],
        },
    )
    process = await factories.started(http, admin, template["id"])
    response = await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text

    answers = await asyncio.gather(
        *(
            http.post(
                f"/api/processes/{process['id']}/steps/{key}/complete", json={}, headers=admin
            )
            for key in parallel
        )
    )
    assert [a.status_code for a in answers] == [200] * len(parallel), [a.text for a in answers]

    handle = stack.env.client.get_workflow_handle(workflow_id_for(process["id"]))
    await handle.result()
    final = await handle.query(PartnerProcessWorkflow.state)
    assert final.status == "completed"

    shown = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert shown["status"] == final.status
    assert shown["completed_at"] is not None
    assert {s["key"]: s["status"] for s in shown["steps"]} == {s.key: s.status for s in final.steps}
    assert recorded(stack.engine, final.process_id) == expected(final)


def test_a_version_made_again_by_a_later_workflow_task_replaces_the_dead_attempts_write(
    engine: Engine, process_of: Callable[[int], ProcessState]
) -> None:
    """The local activity writes before its workflow task is recorded. A worker killed after
    that write leaves the task to run again, later in the history, with a later clock: the
    same version with other times. That attempt's state is the workflow's, so it wins; a
    late write of the dead attempt (earlier in the history) never does."""
    activities = ReadModelActivities(engine)
    dead = process_of(4)
    again = dead.model_copy(update={"completed_at": STARTED + timedelta(days=2)})
    activities.record_transition(TransitionWrite(state=dead, history_length=20))
    activities.record_transition(TransitionWrite(state=again, history_length=23))
    activities.record_transition(TransitionWrite(state=dead, history_length=20))
    with Session(engine) as session:
        process = session.get(Process, dead.process_id)
        assert process is not None
        assert (process.version, process.completed_at) == (4, again.completed_at)
