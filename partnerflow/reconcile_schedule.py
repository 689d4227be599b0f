"""The reconciler's Temporal Schedule: created, or brought up to date, when a worker starts.

One schedule per task queue (the queue its workflow runs on), so several workers starting at
once, or again after a crash, leave exactly one. A round still running when the next is due
is not doubled (overlap SKIP), and one that finds no worker gives up after a while.
"""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from partnerflow.settings import Settings
from workflows.reconcile_messages import ReconcileInput
from workflows.reconciler import ReconcilerWorkflow

EVERY = timedelta(minutes=1)


def schedule_id_for(task_queue: str) -> str:
    return f"reconcile-{task_queue}"


def reconcile_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcilerWorkflow.run,
            ReconcileInput(),
            id=f"reconcile-{settings.task_queue}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=15),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    schedule_id = schedule_id_for(settings.task_queue)
    schedule = reconcile_schedule(settings)
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def current(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(current)
        return handle
