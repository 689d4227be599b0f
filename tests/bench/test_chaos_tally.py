"""The chaos run's counting (bench/chaos_tally.py), on made-up outcomes: no server needed.

`make chaos` exits non-zero when any count is not 0, so each count must see its problem and
nothing else."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chaos_tally import (
    ROWS,
    Ledger,
    Outcome,
    Tally,
    from_read_model,
    from_state,
    markdown,
    owed_emails,
    tally,
)
from workflows.messages import ProcessState, ResolvedAssignee, StepState, TimelineEntry

CONTACT = uuid.uuid4()
INSTALLER = uuid.uuid4()
GRID = uuid.uuid4()
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STEPS = ("commission", "installation", "grid_registration", "acceptance")


def finished(process_id: str | None = None, *, version: int = 6) -> ProcessState:
    """A process of the chaos template that went through all four steps."""
    pid = uuid.UUID(process_id) if process_id else uuid.uuid4()
    assignees = {
        "commission": ResolvedAssignee(type="contact", user_id=CONTACT),
        "installation": ResolvedAssignee(type="partner", partner_id=INSTALLER),
        "grid_registration": ResolvedAssignee(type="partner", partner_id=GRID),
        "acceptance": ResolvedAssignee(type="contact", user_id=CONTACT),
    }
    return ProcessState(
        process_id=pid,
        template_id=uuid.uuid4(),
        template_version=1,
        opportunity_id=uuid.uuid4(),
        contact_user_id=CONTACT,
        partner_ids=[INSTALLER, GRID],
        status="completed",
        started_at=START,
        completed_at=START + timedelta(minutes=4),
        steps=[
            StepState(
                key=key,
                name=key.title(),
                status="completed",
                assignee=assignees[key],
                requires=[],
                completed_at=START + timedelta(minutes=n + 1),
                fields={"installed_on": "2026-12-11"} if key == "installation" else {},
                assignments=1,
            )
            for n, key in enumerate(STEPS)
        ],
        timeline=[TimelineEntry(at=START, event="process_started")],
        version=version,
    )


def stopped_at_parallel(state: ProcessState) -> ProcessState:
    """The same process, its parallel steps still open: it never completed."""
    steps = [
        step.model_copy(update={"status": "active", "completed_at": None})
        if step.key in ("installation", "grid_registration")
        else step
        for step in state.steps
    ]
    steps[-1] = steps[-1].model_copy(update={"status": "pending", "completed_at": None})
    return state.model_copy(update={"status": "running", "completed_at": None, "steps": steps})


def recorded(state: ProcessState, **changes: Any) -> Outcome:
    """The outcome of a process whose read model says what `state` says, but for `changes`."""
    row: dict[str, Any] = {
        "status": state.status,
        "version": state.version,
        "completed_at": state.completed_at,
        "steps": [(s.key, s.status, s.completed_at, s.fields) for s in state.steps],
        "timeline": [entry.model_dump(mode="json") for entry in state.timeline],
    }
    row.update(changes)
    execution = "COMPLETED" if state.status == "completed" else "RUNNING"
    return Outcome(state=state, execution=execution, read_model=from_read_model(**row))


def driven(*states: ProcessState) -> Ledger:
    """The client's ledger for processes it drove to the end: every call answered."""
    ledger = Ledger()
    for state in states:
        ledger.started.add(str(state.process_id))
        for key in STEPS:
            ledger.acknowledge(str(state.process_id), key)
    return ledger


def delivered(*states: ProcessState) -> Counter[str]:
    return Counter(key for state in states for key in owed_emails(state))


def counts(result: Tally) -> dict[str, int]:
    return {name: getattr(result, name) for name in Tally.PROBLEMS if getattr(result, name)}


def test_a_clean_run_counts_no_problem() -> None:
    states = [finished(), finished()]
    result = tally(
        2,
        driven(*states),
        {str(s.process_id): recorded(s) for s in states},
        delivered(*states),
        Counter({"Chaos r-0": 1, "Chaos r-1": 1}),
    )
    assert counts(result) == {}
    assert (result.started, result.completed, result.problems) == (2, 2, 0)


def test_a_step_answered_200_that_the_workflow_does_not_hold_is_lost() -> None:
    state = stopped_at_parallel(finished())
    ledger = driven(state)  # the client was told every step, acceptance too, was done
    result = tally(1, ledger, {str(state.process_id): recorded(state)}, delivered(state))
    assert counts(result) == {"lost_steps": 3, "stuck": 1}
    assert result.examples["lost_steps"][0].endswith("acceptance: pending")


def test_a_start_answered_201_without_a_workflow_is_lost_with_its_steps() -> None:
    state = finished()
    ledger = driven(state)
    outcome = Outcome(state=None, execution="NOT_FOUND", read_model=None)
    result = tally(1, ledger, {str(state.process_id): outcome}, Counter())
    assert counts(result) == {"lost_starts": 1, "lost_steps": 4, "stuck": 1}


def test_an_email_accepted_twice_is_a_duplicate_and_one_never_accepted_is_missing() -> None:
    state = finished()
    deliveries = delivered(state)
    twice, never = sorted(deliveries)[:2]
    deliveries[twice] += 2  # three deliveries of one e-mail: two too many
    del deliveries[never]
    result = tally(1, driven(state), {str(state.process_id): recorded(state)}, deliveries)
    assert counts(result) == {"duplicate_emails": 2, "missing_emails": 1}
    assert result.examples["duplicate_emails"] == [twice, twice]
    assert result.examples["missing_emails"] == [never]
    assert result.duplicate_emails_in_doubt == 0


def test_a_duplicate_whose_first_sender_never_said_quit_is_in_doubt() -> None:
    """Killed between the message's end and the server's 250, a sender cannot know it was
    delivered: the resend is counted a duplicate, and among those in doubt."""
    state = finished()
    deliveries = delivered(state)
    doubted, known = sorted(deliveries)[:2]
    deliveries[doubted] += 1
    deliveries[known] += 1
    result = tally(
        1,
        driven(state),
        {str(state.process_id): recorded(state)},
        deliveries,
        unconfirmed=Counter({doubted: 1}),
    )
    assert (result.duplicate_emails, result.duplicate_emails_in_doubt) == (2, 1)


def test_a_process_owes_a_handover_per_assignment_and_a_completion_per_partner_step() -> None:
    state = finished()
    pid = state.process_id
    assert owed_emails(state) == {
        f"{pid}:installation:handover:1",
        f"{pid}:installation:completion",
        f"{pid}:grid_registration:handover:1",
        f"{pid}:grid_registration:completion",
    }
    state.steps[1].assignments = 2  # handed over again (reassigned): a second hand-over
    assert f"{pid}:installation:handover:2" in owed_emails(state)
    open_steps = stopped_at_parallel(finished())
    assert not any(key.endswith(":completion") for key in owed_emails(open_steps))


def test_a_read_model_behind_or_different_from_the_workflow_is_a_mismatch() -> None:
    states = [finished() for _ in range(4)]
    older = [(s.key, s.status, s.completed_at, s.fields) for s in states[1].steps]
    older[3] = ("acceptance", "active", None, {})
    outcomes = {
        str(states[0].process_id): recorded(states[0], version=5),
        str(states[1].process_id): recorded(states[1], steps=older),
        str(states[2].process_id): recorded(states[2], status="running"),
        str(states[3].process_id): Outcome(states[3], "COMPLETED", read_model=None),
    }
    result = tally(4, driven(*states), outcomes, delivered(*states))
    assert counts(result) == {"read_model_mismatches": 4}
    assert sorted(
        example.split(": ")[1] for example in result.examples["read_model_mismatches"]
    ) == [
        "no read model",
        "status",
        "steps",
        "version",
    ]


def test_times_read_back_without_a_zone_are_utc() -> None:
    """SQLite may give back naive datetimes: the same moment is no mismatch."""
    state = finished()
    naive = [
        (s.key, s.status, s.completed_at.replace(tzinfo=None) if s.completed_at else None, s.fields)
        for s in state.steps
    ]
    assert state.completed_at is not None
    outcome = recorded(state, completed_at=state.completed_at.replace(tzinfo=None), steps=naive)
    assert outcome.read_model == from_state(state)


def test_opportunities_made_twice_calls_given_up_and_500s_are_counted() -> None:
    state = finished()
    ledger = driven(state)
    ledger.failed_calls["complete installation: 409 step not open"] = 2
    ledger.answers[500] = 3
    ledger.answers[503] = 7  # retried, then answered: no problem
    result = tally(
        1,
        ledger,
        {str(state.process_id): recorded(state)},
        delivered(state),
        Counter({"Chaos r-0": 2}),
    )
    assert counts(result) == {"duplicate_opportunities": 1, "failed_calls": 2, "server_errors": 3}


def test_the_table_has_a_column_per_run_and_a_row_per_count() -> None:
    table = markdown({"sqlite": Tally(processes=10, stuck=1), "postgresql": Tally(processes=10)})
    lines = table.splitlines()
    assert lines[0] == "| | sqlite | postgresql |"
    assert len(lines) == 2 + len(ROWS)
    assert "| stuck processes (not completed) | 1 | 0 |" in lines
