"""A round every so often, as a Temporal Schedule created, or brought up to date, when a worker
starts.

One schedule per purpose and task queue, so several workers starting at once, or again after
a crash, leave exactly one. A round still running when the next is due is not doubled (overlap
SKIP), and one that finds no worker gives up after its timeout. Each round says what it is in
the Temporal UI (summary and details), and the schedule's memo says too.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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


@dataclass(frozen=True)
class Rounds:
    """What a schedule starts, how often, and what it says of itself."""

    name: str  # the schedule's and each round's workflow id, before the task queue
    workflow: Any  # the workflow's run method
    input: Any
    every: timedelta
    timeout: timedelta
    summary: str
    details: str

    def schedule_id(self, task_queue: str) -> str:
        return f"{self.name}-{task_queue}"

    def schedule(self, task_queue: str) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow,
                self.input,
                id=self.schedule_id(task_queue),
                task_queue=task_queue,
                execution_timeout=self.timeout,
                static_summary=f"{self.summary} (task queue {task_queue})",
                static_details=self.details,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=self.every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )

    async def ensure(self, client: Client, task_queue: str) -> ScheduleHandle:
        schedule_id = self.schedule_id(task_queue)
        schedule = self.schedule(task_queue)
        try:
            return await client.create_schedule(
                schedule_id, schedule, memo={"purpose": self.summary, "details": self.details}
            )
        except ScheduleAlreadyRunningError:
            handle = client.get_schedule_handle(schedule_id)

            def current(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await handle.update(current)
            return handle
