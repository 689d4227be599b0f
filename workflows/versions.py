"""The workflow code's replay-affecting changes, oldest first: each one a `workflow.patched` id.

A run that started before a change replays with the code it was recorded with; a new run takes
the new path and records a marker. The list's length names the code's version: recorded
histories are kept per version (tests/histories/v<N>/), and tests/histories.py refuses to
overwrite a recorded file. A change that alters the commands a workflow emits adds a patch
here (the version goes up) and then `make histories` records the new version's folder; an
existing file is deleted by hand only for a version that was never released.
A run that records the newest patch takes every older change without asking for its patch
(each one recorded costs a marker and a search-attribute upsert in history).
"""

from temporalio import workflow

# E-mails and notices go out in a lane of their own (one retrying item holds nothing up),
# retries are capped, a failure for good flags the process `attention`, and an update that
# arrives while the process finishes or continues as new is never lost.
OUTGOING_LANE = "outgoing-lane"
# Business-day deadlines come from a local activity (recorded in history), not from the
# holiday tables of whatever `holidays` release the worker runs.
BUSINESS_DAYS_RECORDED = "business-days-recorded"

# A read-model write that failed for good is written again after a durable wait
# (workflows/retries.py), and the process does not end with its last state unwritten;
# `partner_revoked` answers once the state is recorded, not after the contact's notice.
READ_MODEL_REWRITTEN = "read-model-rewritten"

# Each transition is written by one local activity, the state and the in-app notices queued
# since the last write in one transaction (no `notify` activities; e-mails stay in the lane);
# search attributes are upserted only when their values changed.
TRANSITION_WRITE = "transition-write"

# A partner that sets or moves its own active step's deadline (its appointment) is sent an
# `appointment` e-mail with the step's calendar event. Asked where that happens (no marker in
# runs where it never does); a run recorded before replays without the e-mail.
APPOINTMENT_CONFIRMED = "appointment-confirmed"

PATCHES = [
    OUTGOING_LANE,
    BUSINESS_DAYS_RECORDED,
    READ_MODEL_REWRITTEN,
    TRANSITION_WRITE,
    APPOINTMENT_CONFIRMED,
]

# Version 7, no patch: a run's input names the code version it was started with
# (`ProcessInput.code_version`), and a run started with version 7 or later takes every change
# up to it without asking: no patch marker and no `TemporalChangeVersion` upsert, two history
# events a run saved. Runs started before carry 1 and ask for each patch as they always did.
# Roll out workers before the API that starts runs with a new version: an older worker would
# record a marker for a change this code then takes from the input, and no longer asks for.
VERSION_IN_INPUT = 2 + len(PATCHES)

# 1 is the code before any patch: the histories in tests/histories/ itself.
CODE_VERSION = VERSION_IN_INPUT


def since(patch: str) -> int:
    """The code version that brought `patch`."""
    return 2 + PATCHES.index(patch)


def taken(code_version: int, patch: str) -> bool:
    """Whether this run takes the change `patch`: a run started with a version that has it
    knows from its input; an older one asks its history (`workflow.patched`: on replay, was it
    recorded; when new, record it)."""
    return code_version >= since(patch) or workflow.patched(patch)
