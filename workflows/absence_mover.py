"""AbsenceWorkflow: one staff user's absence reaching their running processes, durably.

One run per change of a user's absence (id `absence-<user id>-<absence id>`, or
`…-withdrawn-<uuid>` for a withdrawal, partnerflow/absences.py): setting an absence again, or
withdrawing it, starts another run and terminates none; a run whose change was replaced since
finds so in its activity (the row is gone) and ends without telling anyone. The run
sleeps on a durable timer until the absence begins, then tells every running process that
names the user (contact person, assignee or reviewer of an open or pending step, or in the
template's version) with the process's `absence` update: their open steps of the user's go to
the substitute, who is told, and so is the user. An absence that has begun already, one that
replaces an earlier one (processes may hold that), and a withdrawal are told at once. No
messages; its result counts the processes told. Ids and moments only: no names.
"""

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.absences import AbsenceActivities
    from workflows.absence_messages import AbsenceChange, AbsenceFannedOut, AbsenceFanOut
    from workflows.retries import PERMANENT_ERRORS

# A round that leaves processes unreached (Temporal or their worker away) is tried again,
# those told before skipped, until every one has the news or the absence is over.
ROUND_TIMEOUT = timedelta(minutes=10)
ROUND_HEARTBEAT = timedelta(minutes=1)
ROUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=PERMANENT_ERRORS,
)
# what a round may take when the absence is (nearly) over already: telling is still due
LEAST_WINDOW = timedelta(hours=1)


@workflow.defn
class AbsenceWorkflow:
    @workflow.run
    async def run(self, change: AbsenceChange) -> AbsenceFannedOut:
        absence = change.absence
        naming = [change.user_id]
        if change.earlier_substitute_id is not None:
            naming.append(change.earlier_substitute_id)
        if absence is None:
            return await self._tell(change, naming, "withdraw the absence", mark_moved=False)
        begun = absence.starts_at <= workflow.now()
        if begun or change.replaces:
            told = await self._tell(change, naming, "tell of the absence", mark_moved=begun)
            if begun:
                return told
        await workflow.sleep(absence.starts_at - workflow.now(), summary="until the absence begins")
        return await self._tell(change, naming, "move the open steps", mark_moved=True)

    async def _tell(
        self, change: AbsenceChange, naming: list[UUID], summary: str, *, mark_moved: bool
    ) -> AbsenceFannedOut:
        window = LEAST_WINDOW
        if change.absence is not None:
            window = max(window, change.absence.ends_at - workflow.now())
        return await workflow.execute_activity_method(
            AbsenceActivities.tell_processes,
            AbsenceFanOut(
                user_id=change.user_id,
                absence_id=change.absence_id,
                absence=change.absence,
                naming=naming,
                mark_moved=mark_moved,
            ),
            start_to_close_timeout=ROUND_TIMEOUT,
            schedule_to_close_timeout=window,
            heartbeat_timeout=ROUND_HEARTBEAT,
            retry_policy=ROUND_RETRY,
            summary=summary,
        )
