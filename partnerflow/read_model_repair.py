"""`python -m partnerflow.read_model_repair PROCESS_ID…`: the read model shows what Temporal holds.

The read model takes a write only when its version is newer than the one it holds. Two
operator actions leave it behind for good, and this repairs both (docs/operations.md):
- a reset (`temporal workflow reset`): the process's state goes back to an older version,
  so its next writes are older than the bad transition's and are ignored;
- a terminate, or a cancellation request from Temporal's UI or CLI: the workflow ends without
  running its code, so nothing writes that it ended; the process would show `running`.

The state written is the last one the workflow's latest run asked to record (its history keeps
every `record_process_state` input and every `record_transition` result; a run continued as new
starts from the state it was given), so no worker needs to replay it: a process terminated
because its code cannot go on is repaired too. A run that ended without its code is written as
`cancelled`, its open steps cancelled, with a timeline entry `process_ended_in_temporal` naming
how (`terminated`, …). Nobody is told: a terminate sends no e-mail, and neither does this.
"""

import argparse
import asyncio
import sys
import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus

from activities.read_model import ReadModelActivities
from partnerflow.db import make_engine
from partnerflow.models import Process
from partnerflow.settings import get_settings
from partnerflow.spec import OPEN_STATUSES
from partnerflow.temporal import DATA_CONVERTER, connect, exit_command
from workflows.messages import ProcessInput, ProcessState, TimelineEntry
from workflows.partner_process import workflow_id_for

# How a run can end without the workflow's code writing it (a completed run wrote itself).
_ENDED_OUTSIDE = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.FAILED: "failed",
}


def _last_recorded(events: list[HistoryEvent]) -> ProcessState | None:
    """The newest state the run asked the read model to record, else the state it began with.
    A regular activity's state is its input; a local activity's (`record_transition`) is the
    result its marker keeps."""
    converter = DATA_CONVERTER.payload_converter
    for event in reversed(events):
        if event.HasField("marker_recorded_event_attributes"):
            recorded = _written_by_local_activity(event)
            if recorded is not None:
                return recorded
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if (
            event.HasField("activity_task_scheduled_event_attributes")
            and scheduled.activity_type.name == "record_process_state"
        ):
            state: ProcessState = converter.from_payloads(scheduled.input.payloads, [ProcessState])[
                0
            ]
            return state
    started = events[0].workflow_execution_started_event_attributes
    given: ProcessInput = converter.from_payloads(started.input.payloads, [ProcessInput])[0]
    return given.state


def _written_by_local_activity(event: HistoryEvent) -> ProcessState | None:
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity" or "result" not in marker.details:
        return None
    converter = DATA_CONVERTER.payload_converter
    data = converter.from_payloads(marker.details["data"].payloads, [dict])[0]
    if not isinstance(data, dict) or data.get("activity_type") != "record_transition":
        return None
    result = marker.details["result"].payloads
    if not result or result[0].data in (b"", b"null"):  # written before it answered its state
        return None
    state: ProcessState = converter.from_payloads(result, [ProcessState])[0]
    return state


def ended(state: ProcessState, how: str, at: datetime) -> ProcessState:
    """The state a run that ended outside its code leaves: cancelled, nothing open."""
    if state.status != "running":
        return state
    steps = [
        step.model_copy(update={"status": "cancelled"}) if step.status in OPEN_STATUSES else step
        for step in state.steps
    ]
    entry = TimelineEntry(at=at, event="process_ended_in_temporal", detail=how)
    return state.model_copy(
        update={
            "status": "cancelled",
            "completed_at": at,
            "steps": steps,
            "timeline": [*state.timeline, entry],
            "version": state.version + 1,
        }
    )


async def temporal_view(client: Client, process_id: uuid.UUID) -> ProcessState | None:
    """What Temporal holds for the process: its latest run's last recorded state, ended if the
    run ended outside its code. None when the run has recorded nothing yet."""
    handle = client.get_workflow_handle(workflow_id_for(process_id))
    description = await handle.describe()
    history = await client.get_workflow_handle(
        workflow_id_for(process_id), run_id=description.run_id
    ).fetch_history()
    state = _last_recorded(list(history.events))
    how = _ENDED_OUTSIDE.get(description.status) if description.status else None
    if state is None or how is None:
        return state
    return ended(state, how, description.close_time or state.started_at)


def write(engine: Engine, state: ProcessState) -> None:
    """Record the state whatever version the read model holds. The row's version is lowered
    first, so the write's own guard lets it in; a newer write made meanwhile still wins."""
    with engine.begin() as connection:
        connection.execute(
            update(Process)
            .where(col(Process.id) == state.process_id, col(Process.version) >= state.version)
            .values(version=state.version - 1)
        )
    ReadModelActivities(engine).record_process_state(state)


async def repair(client: Client, engine: Engine, process_id: uuid.UUID) -> ProcessState | None:
    state = await temporal_view(client, process_id)
    if state is not None:
        write(engine, state)
    return state


async def _main(process_ids: list[uuid.UUID]) -> int:
    settings = get_settings()
    client = await connect(settings)
    engine = make_engine(settings.database_url)
    try:
        for process_id in process_ids:
            state = await repair(client, engine, process_id)
            if state is None:
                sys.stdout.write(f"{process_id}: nothing recorded in Temporal yet; left as is\n")
                continue
            open_steps = [s.key for s in state.steps if s.status == "active"]
            # The operator's terminal: ids, statuses and step keys only.
            sys.stdout.write(
                f"{process_id}: read model now at version {state.version}, {state.status}, "
                f"open steps: {', '.join(open_steps) or 'none'}\n"
            )
    finally:
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m partnerflow.read_model_repair",
        description="Write what Temporal holds for each process into Partnerflow's read model.",
    )
    parser.add_argument("process_ids", nargs="+", type=uuid.UUID, metavar="PROCESS_ID")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.process_ids))


if __name__ == "__main__":
    exit_command(main())
