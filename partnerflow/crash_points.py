"""The moments a crossing between the database and Temporal is half-done, where tests crash.

Each crossing calls `reached(point)` between its database write and its Temporal call (or the
other way round). In production nothing is armed and nothing happens; a test arms a point
with the exception a crash there would be (`asyncio.CancelledError` for a request whose
client went away, any other for a process that died), once, and then shows that a retry or
the reconciler gives the right final state.
"""

from typing import Literal

CrashPoint = Literal[
    # automation runs recorded as `starting`, their processes not yet started
    "automation_runs.recorded",
    # a run's process started (or found), the run not yet marked `started`
    "automation_run.launched",
    # a process started for an `Idempotency-Key`, the answer not yet stored
    "process.launched",
    # an upload's file and `pending` row stored, the workflow not yet asked
    "upload.stored",
    # the workflow took the upload, the row not yet `attached`
    "upload.accepted",
    # an absence's row stored, its AbsenceWorkflow not yet started
    "absence.stored",
]

_armed: dict[str, BaseException] = {}


def arm(point: CrashPoint, crash: BaseException) -> None:
    """The next time `point` is reached, `crash` is raised there (once)."""
    _armed[point] = crash


def armed() -> list[str]:
    """The points armed and not yet reached."""
    return sorted(_armed)


def disarm() -> None:
    _armed.clear()


def reached(point: CrashPoint) -> None:
    crash = _armed.pop(point, None)
    if crash is not None:
        raise crash
