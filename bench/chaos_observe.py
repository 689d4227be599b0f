"""After a chaos run: each process's workflow state, its read model, the opportunities made."""

import asyncio
from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from bench.chaos_client import TITLE_PREFIX
from bench.chaos_tally import Outcome, Recorded, from_read_model
from partnerflow.models import Opportunity, Process, ProcessStep
from workflows.messages import ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for


async def workflow_state(client: Client, process_id: str) -> tuple[ProcessState | None, str]:
    """The workflow's state and its execution status; (None, "NOT_FOUND") if there is none.

    A completed workflow's result is its final state (the same object the `state` query
    answers), read from its history without a worker; a running one is queried."""
    handle = client.get_workflow_handle_for(PartnerProcessWorkflow.run, workflow_id_for(process_id))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None, "NOT_FOUND"
        raise
    status = description.status
    execution = status.name if status is not None else "UNKNOWN"
    if status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result(), execution
    return await handle.query(PartnerProcessWorkflow.state), execution


def read_model(engine: Engine, process_id: str) -> Recorded | None:
    with Session(engine) as session:
        process = session.get(Process, UUID(process_id))
        if process is None:
            return None
        steps = session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process.id)
            .order_by(col(ProcessStep.position))
        ).all()
        return from_read_model(
            process.status,
            process.version,
            process.completed_at,
            [(step.key, step.status, step.completed_at, step.fields) for step in steps],
            process.timeline,
        )


async def outcomes(
    client: Client, engine: Engine, process_ids: Iterable[str], concurrency: int = 20
) -> dict[str, Outcome]:
    """Every process's outcome: its workflow first, then its read model (read after it)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(process_id: str) -> tuple[str, Outcome]:
        async with gate:
            state, execution = await workflow_state(client, process_id)
        recorded = await asyncio.to_thread(read_model, engine, process_id)
        return process_id, Outcome(state=state, execution=execution, read_model=recorded)

    return dict(await asyncio.gather(*(one(process_id) for process_id in process_ids)))


def opportunities_per_call(engine: Engine, run: str) -> Counter[str]:
    """How many opportunities each of the run's create calls made (one title per call)."""
    with Session(engine) as session:
        rows = session.exec(
            select(Opportunity.title, func.count())
            .where(col(Opportunity.title).startswith(f"{TITLE_PREFIX} {run}-"))
            .group_by(col(Opportunity.title))
        ).all()
    return Counter({title: made for title, made in rows})
