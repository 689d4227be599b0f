"""What the process records when something failed for good: which part, for which step, why.

Pure: the workflow builds a note from the activity's failure. The reason is for a person to
read on the dashboard and in Temporal, so it carries no addresses and no SQL.
"""

import re
from datetime import datetime, timedelta

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutError,
)

from workflows.messages import AttentionNote, AttentionSource
from workflows.retries import PERMANENT_ERRORS

REASON_LIMIT = 500
# Notes kept in the state: the newest ones; the timeline keeps every failure.
NOTES_KEPT = 20

_ADDRESS = re.compile(r"[^\s<>()\[\]'\",;:]+@[^\s<>()\[\]'\",;:]+")


def redacted(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` without e-mail addresses or the SQL a database error carries, at most `limit`."""
    text = text.split("\n[SQL:", 1)[0].split("\n(Background on", 1)[0]
    text = " ".join(_ADDRESS.sub("<address>", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_permanent(error: ActivityError) -> bool:
    """A failure no retry can cure: the activity said so, or it is a kind listed as such."""
    cause = error.cause
    return isinstance(cause, ApplicationError) and (
        cause.non_retryable or (cause.type or "") in PERMANENT_ERRORS
    )


def _innermost(error: BaseException) -> BaseException:
    """The failure behind a timeout: the last attempt's error, when Temporal kept it."""
    while isinstance(error, FailureError) and error.cause is not None:
        error = error.cause
    return error


def _cap(limit: timedelta) -> str:
    hours = limit / timedelta(hours=1)
    return f"{hours:g} h" if hours >= 1 else f"{limit / timedelta(minutes=1):g} min"


def note(
    error: ActivityError,
    *,
    at: datetime,
    source: AttentionSource,
    step_key: str | None,
    kind: str | None,
    cap: timedelta | None,
) -> AttentionNote:
    """The note for a failed activity; `cap` is how long a transient failure was retried."""
    cause = error.cause
    last = _innermost(error)
    if isinstance(cause, TimeoutError):
        error_type = "Timeout"
    elif isinstance(cause, ApplicationError):
        error_type = cause.type or "ApplicationError"
    else:
        error_type = type(cause).__name__ if cause else "ActivityError"
    message = str(getattr(last, "message", "") or last) or error_type
    if not is_permanent(error) and cap is not None:
        gave_up = error.retry_state in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
        if gave_up or isinstance(cause, TimeoutError):
            message = f"still failing after {_cap(cap)} of retries: {message}"
    return AttentionNote(
        at=at,
        source=source,
        step_key=step_key,
        kind=kind,
        error_type=error_type,
        reason=redacted(message),
    )
