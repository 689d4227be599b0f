"""ForecastWorkflow: one round of the late-step forecast over every open step with a deadline.

A Temporal Schedule (partnerflow/forecast_schedule.py) starts it every hour; the read model
forecasts a step when it opens, the round keeps the forecast current as time passes, and
tells the contact person of a step that became likely late (partnerflow/forecast.py). No
messages; its result counts what it refreshed.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.forecast import ForecastActivities
    from workflows.forecast_messages import ForecastInput, ForecastRound

# A failed round is not retried for long: the next scheduled one comes within the hour.
ROUND_RETRY = RetryPolicy(maximum_attempts=2)
ROUND_TIMEOUT = timedelta(minutes=10)


@workflow.defn
class ForecastWorkflow:
    @workflow.run
    async def run(self, input: ForecastInput) -> ForecastRound:
        return await workflow.execute_activity_method(
            ForecastActivities.refresh_forecasts,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="forecast the open steps with a deadline; tell contacts of likely late ones",
        )
