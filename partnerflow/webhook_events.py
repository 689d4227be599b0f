"""What webhook events a process transition makes: its new timeline entries, as events.

Pure: no database, no HTTP. The read-model write (partnerflow/webhook_outbox.py) hands in the
state and how far into its timeline earlier writes looked; each new entry the workflow noted
that a subscriber can hear of becomes one event with a stable id (the process and the entry's
place in the timeline, which only grows), so a write made again makes the same ids.

A body carries ids only: `{id, type, occurred_at, data: {process_id, template_id,
opportunity_id, step_key?, partner_id?}}`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, assert_never, get_args

from workflows.messages import ProcessState, StepState, TimelineEntry

WebhookEvent = Literal[
    "process.started",
    "process.completed",
    "process.cancelled",
    "step.activated",
    "step.completed",
    "step.overdue",
    "step.reassigned",
    "step.declined",
    "offer.accepted",
]
EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)

# The workflow's timeline events (workflows/partner_process.py `_note`) a subscriber hears of.
# A reviewed step completes when it is approved; an escalation reassigns the step.
TIMELINE_EVENTS: dict[str, WebhookEvent] = {
    "process_started": "process.started",
    "process_completed": "process.completed",
    "process_cancelled": "process.cancelled",
    "step_activated": "step.activated",
    "step_completed": "step.completed",
    "step_approved": "step.completed",
    "step_overdue": "step.overdue",
    "step_reassigned": "step.reassigned",
    "step_escalated": "step.reassigned",
    "step_declined": "step.declined",
    "offer_accepted": "offer.accepted",
}

# uuid5 namespace of event ids: the same process and timeline place, the same id everywhere
_EVENT_IDS = uuid.UUID("7b0f2f4e-3c55-4a6e-9a53-2f1c8e0d6a11")


@dataclass(frozen=True)
class ProcessEvent:
    """One event of one process; `declined_by` is the user whose partner declined (the step
    is the contact person's by then, so the partner is looked up from that user)."""

    id: uuid.UUID
    type: WebhookEvent
    occurred_at: datetime
    process_id: uuid.UUID
    template_id: uuid.UUID
    opportunity_id: uuid.UUID
    step_key: str | None = None
    partner_id: uuid.UUID | None = None
    declined_by: uuid.UUID | None = None

    def body(self, partner_id: uuid.UUID | None = None) -> dict[str, Any]:
        """The delivery's JSON body; `partner_id` overrides the one the state gave."""
        data: dict[str, Any] = {
            "process_id": str(self.process_id),
            "template_id": str(self.template_id),
            "opportunity_id": str(self.opportunity_id),
        }
        if self.step_key is not None:
            data["step_key"] = self.step_key
        partner = partner_id or self.partner_id
        if partner is not None:
            data["partner_id"] = str(partner)
        return {
            "id": str(self.id),
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": data,
        }


def event_id(process_id: uuid.UUID, position: int) -> uuid.UUID:
    return uuid.uuid5(_EVENT_IDS, f"{process_id}/{position}")


def new_events(state: ProcessState, seen: int) -> list[ProcessEvent]:
    """The events of the timeline entries from position `seen` on, oldest first."""
    steps = {step.key: step for step in state.steps}
    events = []
    for position in range(seen, len(state.timeline)):
        entry = state.timeline[position]
        kind = TIMELINE_EVENTS.get(entry.event)
        if kind is None:
            continue
        step = steps.get(entry.step_key) if entry.step_key else None
        events.append(
            ProcessEvent(
                id=event_id(state.process_id, position),
                type=kind,
                occurred_at=entry.at,
                process_id=state.process_id,
                template_id=state.template_id,
                opportunity_id=state.opportunity_id,
                step_key=entry.step_key,
                partner_id=_partner_of(kind, entry, step),
                declined_by=entry.user_id if kind == "step.declined" else None,
            )
        )
    return events


def _partner_of(
    kind: WebhookEvent, entry: TimelineEntry, step: StepState | None
) -> uuid.UUID | None:
    """The partner the event is about: the one that completed or accepted, else the step's
    partner as the state has it (a declined step's partner is looked up by the outbox)."""
    match kind:
        case "process.started" | "process.completed" | "process.cancelled" | "step.declined":
            return None
        case "offer.accepted":
            return _uuid_or_none(entry.detail)
        case "step.completed":
            if step is None:
                return None
            by = step.completed_by.partner_id if step.completed_by else None
            return by or step.assignee.partner_id
        case "step.activated" | "step.overdue" | "step.reassigned":
            return step.assignee.partner_id if step is not None else None
        case _:
            assert_never(kind)


def _uuid_or_none(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None
