"""AbsenceWorkflow's activity: tell every running process that names a user of their absence.

A bounded number of processes at a time; each one told is kept in the heartbeat, so a retry
(after processes that did not answer, or a worker that died) tells only the rest. Telling a
process again changes nothing, so a round that ran twice does no harm. A round whose absence
was replaced or withdrawn meanwhile stops: the newer round tells the processes.
"""

import asyncio
import uuid
from typing import Any, assert_never

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from partnerflow import substitution
from partnerflow.db import utcnow
from workflows.absence_messages import AbsenceFannedOut, AbsenceFanOut
from workflows.messages import AbsenceInput

# processes told at once
AT_ONCE = 20
# transient: some processes did not answer; the round is tried again for them
PROCESSES_UNREACHED = "ProcessesUnreached"


class AbsenceActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn
    async def tell_processes(self, input: AbsenceFanOut) -> AbsenceFannedOut:
        progress = _Progress.resumed(activity.info().heartbeat_details)
        with Session(self._engine) as session:
            if not substitution.is_current(session, input.user_id, input.absence_id):
                return AbsenceFannedOut(superseded=True)
            process_ids = substitution.processes_naming(session, set(input.naming))
            # a substitute away too: the processes learn that first, so nothing goes to them
            standing_in = (
                substitution.standing_in_for(session, input.absence.substitute_user_id, utcnow())
                if input.absence is not None
                else []
            )
        changes = [*standing_in, AbsenceInput(user_id=input.user_id, absence=input.absence)]
        left = [p for p in process_ids if p not in progress.done]
        unreached = 0
        for start in range(0, len(left), AT_ONCE):
            if start:
                with Session(self._engine) as session:
                    if not substitution.is_current(session, input.user_id, input.absence_id):
                        return progress.result(superseded=True)
            batch = left[start : start + AT_ONCE]
            outcomes = await asyncio.gather(
                *(substitution.tell_in_turn(self._client, p, changes) for p in batch)
            )
            for process_id, outcome in zip(batch, outcomes, strict=True):
                match outcome:
                    case "told":
                        progress.told += 1
                        progress.done.add(process_id)
                    case "passed_over":
                        progress.passed_over += 1
                        progress.done.add(process_id)
                    case "unreached":
                        unreached += 1
                    case _:
                        assert_never(outcome)
            activity.heartbeat(progress.details())
        if unreached:
            raise ApplicationError(
                f"{unreached} of {len(process_ids)} processes did not answer; trying again",
                type=PROCESSES_UNREACHED,
            )
        if input.mark_moved and input.absence_id is not None:
            with Session(self._engine) as session:
                substitution.mark_moved(session, input.absence_id)
        return progress.result()


class _Progress:
    """What a round did so far; kept in the heartbeat across its attempts."""

    def __init__(self) -> None:
        self.done: set[uuid.UUID] = set()
        self.told = 0
        self.passed_over = 0

    @classmethod
    def resumed(cls, details: Any) -> "_Progress":
        progress = cls()
        if details:
            last = details[-1]
            progress.done = {uuid.UUID(p) for p in last.get("done", [])}
            progress.told = int(last.get("told", 0))
            progress.passed_over = int(last.get("passed_over", 0))
        return progress

    def details(self) -> dict[str, Any]:
        return {
            "done": sorted(str(p) for p in self.done),
            "told": self.told,
            "passed_over": self.passed_over,
        }

    def result(self, superseded: bool = False) -> AbsenceFannedOut:
        return AbsenceFannedOut(told=self.told, passed_over=self.passed_over, superseded=superseded)
