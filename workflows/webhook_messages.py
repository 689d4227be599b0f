"""The payloads of WebhookDeliveryWorkflow: which delivery and attempt series, how long to
keep trying, and how it ended. Ids and numbers only: the address, secret and body stay in the
database, where the activity reads them."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

# `succeeded`: a 2xx; `refused`: an answer that is final (a 4xx other than 408/429, a
# redirect, 410 Gone, an address that is not allowed); `gave_up`: still failing after the
# retry window; `stale`: the delivery is gone, disabled or redelivered meanwhile.
DeliveryOutcome = Literal["succeeded", "refused", "gave_up", "stale"]


class DeliveryInput(BaseModel):
    """One attempt series of one delivery (its workflow id says both)."""

    delivery_id: UUID
    series: int = 1
    # the back-off's first wait (doubling, at most `retry_most_seconds`) and its window
    retry_first_seconds: float = 10.0
    retry_most_seconds: float = 3600.0
    retry_for_seconds: float = 24 * 3600.0
    # what one POST may take
    timeout_seconds: float = 10.0


class DeliveryAttempt(BaseModel):
    """The activity's input: the activity attempt's number is Temporal's (`activity.info`)."""

    delivery_id: UUID
    series: int
    timeout_seconds: float = 10.0


class DeliverySettled(BaseModel):
    outcome: DeliveryOutcome
    # the receiver's last answer, if one came
    response_status: int | None = None
