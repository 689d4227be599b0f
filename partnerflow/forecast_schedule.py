"""The forecast's Temporal Schedule (partnerflow/schedules.py): a round every hour."""

from datetime import timedelta

from temporalio.client import Client, ScheduleHandle

from partnerflow.schedules import Rounds
from partnerflow.settings import Settings
from workflows.forecast_messages import ForecastInput
from workflows.forecaster import ForecastWorkflow

ROUNDS = Rounds(
    name="forecast",
    workflow=ForecastWorkflow.run,
    input=ForecastInput(),
    every=timedelta(hours=1),
    timeout=timedelta(minutes=30),
    summary="Partnerflow forecast round: how likely each open step is to finish late",
    details=(
        "Every hour: forecasts each open step with a deadline from how long the same template "
        "step took before (the partner's own completions, else everyone's), and tells the "
        "contact person once when a step is likely to finish late while there is still a day "
        "to act (docs/forecast.md). Pausing the schedule only leaves the forecasts older."
    ),
)


async def ensure_forecast_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    return await ROUNDS.ensure(client, settings.task_queue)
