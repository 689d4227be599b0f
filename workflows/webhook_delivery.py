"""WebhookDeliveryWorkflow: one attempt series of one webhook delivery, carried by Temporal.

Started once the process state that made the event is committed (partnerflow/webhooks.py),
with the id `webhook-delivery-<delivery id>-<series>`, so the start is the same however
often it is asked for (a retried write, the reconciler). The activity POSTs the signed body
and records each attempt; a transient failure (no connection, a timeout, a 5xx, 408, 429)
is retried with doubling back-off until the retry window (24 h unless set) has passed; a final
answer (another 4xx, a redirect, 410 Gone, an address no longer allowed) ends the series at
once. A series that runs out of time is recorded as failed. No messages; its result says how
the series ended. Ids and numbers only: the address, the secret and the body never enter
Temporal.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WEBHOOK_REFUSED, WebhookActivities
    from workflows.webhook_messages import DeliveryAttempt, DeliveryInput, DeliverySettled

SETTLE = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def workflow_id_for(delivery_id: object, series: int) -> str:
    return f"webhook-delivery-{delivery_id}-{series}"


@workflow.defn
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, input: DeliveryInput) -> DeliverySettled:
        attempt = DeliveryAttempt(
            delivery_id=input.delivery_id,
            series=input.series,
            timeout_seconds=input.timeout_seconds,
        )
        try:
            return await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                attempt,
                # the POST's own timeout, and time to read and write the delivery's rows
                start_to_close_timeout=timedelta(seconds=input.timeout_seconds + 30),
                schedule_to_close_timeout=timedelta(seconds=input.retry_for_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=input.retry_first_seconds),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(
                        seconds=max(input.retry_most_seconds, input.retry_first_seconds)
                    ),
                    non_retryable_error_types=[WEBHOOK_REFUSED],
                ),
                summary="POST the signed event to the subscriber",
            )
        except ActivityError as failure:
            cause = failure.cause
            if isinstance(cause, ApplicationError) and cause.type == WEBHOOK_REFUSED:
                # the activity recorded the final answer with its attempt
                return DeliverySettled(outcome="refused", response_status=_status_of(cause))
            # the retry window passed: the delivery failed for good
            return await workflow.execute_activity_method(
                WebhookActivities.give_up_webhook,
                attempt,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=SETTLE,
                summary="record that the delivery failed for good",
            )


def _status_of(error: ApplicationError) -> int | None:
    details = error.details
    if details and isinstance(details[0], int):
        return details[0]
    return None
