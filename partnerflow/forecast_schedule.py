"""The forecast's Temporal Schedule: created, or brought up to date, when a worker starts.

One schedule per task queue, as the reconciler's (partnerflow/reconcile_schedule.py): workers
starting at once, or again after a crash, leave exactly one; a round still running when the
next is due is not doubled (overlap SKIP). Each round says what it is in the Temporal UI.
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
from workflows.forecast_messages import ForecastInput
from workflows.forecaster import ForecastWorkflow

EVERY = timedelta(hours=1)
ROUND_SUMMARY = "Partnerflow forecast round: how likely each open step is to finish late"
ROUND_DETAILS = (
    "Every hour: forecasts each open step with a deadline from how long the same template "
    "step took before (the partner's own completions, else everyone's), and tells the "
    "contact person once when a step is likely to finish late while there is still a day "
    "to act (docs/forecast.md). Pausing the schedule only leaves the forecasts older."
)


def schedule_id_for(task_queue: str) -> str:
    return f"forecast-{task_queue}"


def forecast_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ForecastWorkflow.run,
            ForecastInput(),
            id=f"forecast-{settings.task_queue}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=30),
            static_summary=f"{ROUND_SUMMARY} (task queue {settings.task_queue})",
            static_details=ROUND_DETAILS,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_forecast_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    schedule_id = schedule_id_for(settings.task_queue)
    schedule = forecast_schedule(settings)
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
