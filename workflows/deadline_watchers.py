"""The deadline watchers of a process: durable timers for each open step's deadline.

Each open step with a deadline has one watcher task (after samples-python's `UpdatableTimer`):
it sleeps until the step's reminders, its deadline and the escalation's reassignment, in that
order of time, and calls the workflow back for each one that is still due. A moved deadline
gets a new watcher; the old one is cancelled, and with it its timers: nothing for the old date
fires. Workflow code: the same timers, with the same summaries, in the same order on replay.

While a step is `in_review` (the assignee finished, the reviewer has not answered) its deadline
keeps running, but only its overdue mark is armed: the assignee who finished gets no reminder,
and the escalation does not hand the finished work to someone else; when the deadline passes,
the step is marked overdue and the contact person is told (whoever holds the review holds up
the step). Sent back for changes, the step is `active` again and a new watcher arms what is
still to come: reminders whose time has not passed, the overdue mark if it has not been made,
the escalation (at once, if its time passed during the review) unless the reviewer set a new
deadline with the request. A step that never goes into review keeps the timers it always had.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from partnerflow.spec import Duration, StepSpec, parse_duration, shift
    from workflows import summaries
    from workflows.messages import StepState

AlarmKind = Literal["reminder", "overdue", "reassign"]


@dataclass(frozen=True)
class Alarm:
    at: datetime
    kind: AlarmKind
    # the reminder's offset before the deadline ("" for the others)
    offset: str
    # what the timer says in the Temporal UI
    summary: str


@dataclass
class _Watcher:
    due_at: datetime
    task: asyncio.Task[None]
    # armed for a step in review: its overdue mark only
    in_review: bool = False


class DeadlineWatchers:
    """One watcher per active step with a deadline; `ring` is called for each alarm due."""

    def __init__(
        self, specs: dict[str, StepSpec], timezone: str, ring: Callable[[StepState, Alarm], None]
    ) -> None:
        self._specs = specs
        self._tz = timezone
        self._ring = ring
        self._watchers: dict[str, _Watcher] = {}

    def sync(self, steps: list[StepState]) -> None:
        """One watcher per open step with a deadline; a moved deadline gets a new one, and so
        does a step going into review or coming back from it."""
        for step in steps:
            watcher = self._watchers.get(step.key)
            wanted = step.status in ("active", "in_review") and step.due_at is not None
            in_review = step.status == "in_review"
            if watcher is not None and (
                not wanted or watcher.due_at != step.due_at or watcher.in_review != in_review
            ):
                watcher.task.cancel()  # its timers are cancelled: nothing for the old date fires
                del self._watchers[step.key]
                watcher = None
            if wanted and watcher is None:
                assert step.due_at is not None
                task = asyncio.create_task(self._watch(step, step.due_at, in_review))
                self._watchers[step.key] = _Watcher(
                    due_at=step.due_at, task=task, in_review=in_review
                )

    def cancel(self) -> None:
        for watcher in self._watchers.values():
            watcher.task.cancel()
        self._watchers.clear()

    def _alarms(self, step: StepState, due_at: datetime, in_review: bool) -> list[Alarm]:
        """What is still to come for the step, soonest first (reminders before the deadline
        at the same moment, the deadline before the reassignment); in review, the deadline."""
        key, spec = step.key, self._specs[step.key]
        if in_review:
            if step.overdue:
                return []
            about = summaries.review_deadline_timer(key, due_at, self._tz)
            return [Alarm(due_at, "overdue", "", about)]
        alarms: list[Alarm] = []
        for number, offset in enumerate(spec.reminders, start=1):
            at = shift(due_at, parse_duration(offset), self._tz, sign=-1)
            if offset not in step.reminders_sent and at > workflow.now():
                about = summaries.reminder_timer(key, number, offset, due_at, self._tz)
                alarms.append(Alarm(at, "reminder", offset, about))
        if not step.overdue:
            about = summaries.deadline_timer(key, due_at, self._tz)
            alarms.append(Alarm(due_at, "overdue", "", about))
        escalation = spec.escalation
        if escalation is not None and escalation.reassign_to is not None and not step.escalated:
            grace = parse_duration(escalation.grace) if escalation.grace else Duration()
            about = summaries.escalation_timer(key, escalation.grace, due_at, self._tz)
            alarms.append(Alarm(shift(due_at, grace, self._tz), "reassign", "", about))
        return sorted(alarms, key=lambda alarm: alarm.at)

    async def _watch(self, step: StepState, due_at: datetime, in_review: bool) -> None:
        watched = "in_review" if in_review else "active"
        for alarm in self._alarms(step, due_at, in_review):
            delay = alarm.at - workflow.now()
            if delay > timedelta(0):
                await workflow.sleep(delay, summary=alarm.summary)
            if step.status != watched or step.due_at != due_at:
                return
            self._ring(step, alarm)
