"""The reconciler's Temporal Schedule: created, or brought up to date, when a worker starts.

One schedule per task queue (the queue its workflow runs on), so several workers starting at
once, or again after a crash, leave exactly one. A round still running when the next is due
is not doubled (overlap SKIP), and one that finds no worker gives up after a while. Each round
says what it is in the Temporal UI (summary and details), and the schedule's memo says too.
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
ROUND_SUMMARY = "Partnerflow reconciler round: repairs between the database and Temporal"
ROUND_DETAILS = (
    "Every minute: starts or finds the processes of automation runs a crash left `starting`, "
    "attaches or removes uploads left `pending`, and hands the open steps of revoked partners "
    "to the contact persons. Pausing the schedule only delays these repairs "
    '(docs/operations.md, "The reconciler").'
)


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
            static_summary=f"{ROUND_SUMMARY} (task queue {settings.task_queue})",
            static_details=ROUND_DETAILS,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    schedule_id = schedule_id_for(settings.task_queue)
    schedule = reconcile_schedule(settings)
    try:
        return await client.create_schedule(
            schedule_id, schedule, memo={"purpose": ROUND_SUMMARY, "details": ROUND_DETAILS}
        )
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def current(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(current)
        return handle
