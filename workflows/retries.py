"""How long each activity may keep failing before the process gives up on it, and which
failures are never retried.

Caps (a transient failure retries with back-off until its cap; then it counts as failed):
- E-mail: 1 s doubling to 10 min between attempts, for up to 24 hours. A provider or SMTP
  server that is down for a night still delivers in the morning; after a day the news in it
  is stale, and a person should know (the process is flagged `attention`).
- In-app notice: 1 s doubling to 30 s, for up to 1 hour: it only needs our own database.
- Read model: 1 s doubling to 10 s, for up to 1 hour. Updates answer only after their write,
  so a longer wait helps nobody; every later write carries the whole state and repairs it.
  Since the transition write (workflows/versions.py) it is a local activity: its retries run
  in the worker, which keeps the workflow task alive meanwhile (an outage of the database
  adds a workflow task to history every few seconds, up to the cap).
  A write that failed for good (refused at once, or still failing after its hour) flags the
  process, and the process writes its whole state again every 10 minutes (a durable timer;
  any transition meanwhile writes it anyway) until a write lands: a missing row may come, a
  database may heal. It does not finish or continue as new while its last state is
  unwritten, but it gives up after a day of such re-writes: it goes on (and finishes) flagged,
  and the read model stays behind until its next transition or a repair
  (partnerflow/read_model_repair.py).
- Business-day deadline (a local activity): 3 attempts within a minute; pure arithmetic.

Permanent failures (never retried): the provider refused the e-mail (a 4xx, SMTP 5xx), the
template cannot be rendered, there is nobody to send to, a value does not fit its column, the
database refuses the row (integrity or data error). The activities raise them as
`ApplicationError(type=...)` (activities/failures.py); SQLAlchemy's own class names are listed
too, for an activity that lets such an error through unclassified.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

DELIVERY_REFUSED = "PermanentDeliveryError"
TEMPLATE_PROBLEM = "TemplateProblem"
NO_RECIPIENT = "NoRecipient"
VALUE_TOO_LONG = "ValueTooLong"
DATABASE_REFUSED = "DatabaseRefused"
# transient: retried until the cap
DELIVERY_DELAYED = "TemporaryDeliveryError"
DATABASE_UNAVAILABLE = "DatabaseUnavailable"

PERMANENT_ERRORS = [
    DELIVERY_REFUSED,
    TEMPLATE_PROBLEM,
    NO_RECIPIENT,
    VALUE_TOO_LONG,
    DATABASE_REFUSED,
    "IntegrityError",
    "DataError",
]


@dataclass(frozen=True)
class Call:
    """How one kind of activity is called: each attempt's time, the cap, the back-off."""

    start_to_close: timedelta
    schedule_to_close: timedelta
    retry: RetryPolicy


def _policy(most: timedelta) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=most,
        non_retryable_error_types=PERMANENT_ERRORS,
    )


EMAIL = Call(timedelta(seconds=60), timedelta(hours=24), _policy(timedelta(minutes=10)))
NOTICE = Call(timedelta(seconds=10), timedelta(hours=1), _policy(timedelta(seconds=30)))
READ_MODEL = Call(timedelta(seconds=10), timedelta(hours=1), _policy(timedelta(seconds=10)))
# After a write failed for good: how often the state is written again, and for how long.
READ_MODEL_REWRITE_EVERY = timedelta(minutes=10)
READ_MODEL_REWRITE_FOR = timedelta(hours=24)
BUSINESS_DAYS = Call(
    timedelta(seconds=10),
    timedelta(minutes=1),
    RetryPolicy(maximum_attempts=3, non_retryable_error_types=["ValueError", "KeyError"]),
)
# An outgoing item's first attempt, in the lane's order; a transient failure then retries
# on its own (with the item's cap) so that it holds up nothing behind it.
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)

# Runs recorded before the caps (workflow code version 1) keep an uncapped read model: there
# a failed write would fail the update or the whole run.
LEGACY_READ_MODEL = RetryPolicy(maximum_interval=timedelta(seconds=10))
