"""Which activity errors are for good and which may pass: every activity a partner process
calls raises one of these (each runs its body in `classified()`, which turns any other error
into one).

Permanent (an `ApplicationError` with `non_retryable=True`): the same call would fail again.
The database refused the row (integrity or data error), the template cannot be rendered, the
provider refused the e-mail (a 4xx, an SMTP 5xx), there is nobody to send to, a value does not
fit its column. Transient (retried with back-off up to the cap in workflows/retries.py): the
database or the provider cannot be reached, a timeout, a 5xx or 429, and anything unforeseen.

The message goes into Temporal's history: it carries no addresses and no SQL parameters.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from partnerflow.emails import TemplateProblem
from partnerflow.mail import ValueTooLong
from partnerflow.transports import PermanentDeliveryError, TemporaryDeliveryError
from workflows import retries
from workflows.attention import redacted


def permanent(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(redacted(message), type=error_type, non_retryable=True)


def transient(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(redacted(message), type=error_type)


def _database_message(error: DBAPIError) -> str:
    # The driver's own words: SQLAlchemy's text adds the statement and its parameters. Only
    # their first line: PostgreSQL's DETAIL quotes the row ("Failing row contains (…)",
    # "Key (name)=(…)"), which can be a customer's name or an e-mail's text.
    first_line = str(error.orig).split("\n", 1)[0]
    return f"{type(error.orig).__name__}: {first_line}"


def classify(error: Exception) -> ApplicationError:
    match error:
        case ApplicationError():
            return error
        case PermanentDeliveryError():
            return permanent(retries.DELIVERY_REFUSED, str(error))
        case TemporaryDeliveryError():
            return transient(retries.DELIVERY_DELAYED, str(error))
        case TemplateProblem():  # without what the error quoted: it may be customer data
            return permanent(retries.TEMPLATE_PROBLEM, error.bare)
        case ValueTooLong():
            return permanent(retries.VALUE_TOO_LONG, str(error))
        case IntegrityError() | DataError():
            return permanent(retries.DATABASE_REFUSED, _database_message(error))
        case DBAPIError():
            return transient(retries.DATABASE_UNAVAILABLE, _database_message(error))
        case _:
            return transient(type(error).__name__, str(error))


@contextmanager
def classified() -> Iterator[None]:
    """Raise whatever the block raises as a classified `ApplicationError`. The original goes
    to the worker's log, not to Temporal (whose failure would carry its text and cause)."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as error:
        activity.logger.warning("activity failed: %s", type(error).__name__, exc_info=True)
        raise classify(error) from None
