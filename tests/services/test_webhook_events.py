"""What events a transition makes (pure): the new timeline entries a subscriber can hear of,
each with an id that is the same whenever the same entry is written again."""

import uuid
from datetime import UTC, datetime, timedelta

from partnerflow.webhook_events import EVENTS, TIMELINE_EVENTS, new_events
from workflows.messages import CompletedBy, ProcessState, ResolvedAssignee, StepState, TimelineEntry

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PARTNER = uuid.uuid4()
OTHER_PARTNER = uuid.uuid4()
INSTALLER = uuid.uuid4()


def state(*events: tuple[str, str | None]) -> ProcessState:
    installation = StepState(
        key="installation",
        name="Installation",
        status="completed",
        assignee=ResolvedAssignee(type="partner", partner_id=PARTNER),
        requires=[],
        completed_by=CompletedBy(user_id=INSTALLER, partner_id=PARTNER),
    )
    return ProcessState(
        process_id=uuid.UUID(int=1),
        template_id=uuid.uuid4(),
        template_version=1,
        opportunity_id=uuid.uuid4(),
        contact_user_id=uuid.uuid4(),
        partner_ids=[PARTNER],
        started_at=START,
        steps=[installation],
        timeline=[
            TimelineEntry(
                at=START + timedelta(minutes=i),
                event=event,
                step_key=step,
                detail=str(OTHER_PARTNER) if event == "offer_accepted" else None,
                user_id=INSTALLER,
            )
            for i, (event, step) in enumerate(events)
        ],
    )


def test_only_new_entries_a_subscriber_hears_of_become_events() -> None:
    written = state(
        ("process_started", None),
        ("step_activated", "installation"),
        ("reminder_sent", "installation"),  # not an event
        ("document_added", "installation"),  # not an event
        ("step_completed", "installation"),
        ("process_completed", None),
    )
    events = new_events(written, seen=2)
    assert [e.type for e in events] == ["step.completed", "process.completed"]
    completed = events[0]
    assert completed.occurred_at == START + timedelta(minutes=4)
    assert completed.body() == {
        "id": str(completed.id),
        "type": "step.completed",
        "occurred_at": "2026-12-01T09:04:00+00:00",
        "data": {
            "process_id": str(written.process_id),
            "template_id": str(written.template_id),
            "opportunity_id": str(written.opportunity_id),
            "step_key": "installation",
            "partner_id": str(PARTNER),
        },
    }
    # ids only: a process event names no step and no partner
    assert set(events[1].body()["data"]) == {"process_id", "template_id", "opportunity_id"}
    # written again (a retry, a later write that still holds it): the same ids
    assert [e.id for e in new_events(written, seen=0)][2:] == [e.id for e in events]
    assert new_events(written, seen=6) == []


def test_each_event_kind_comes_from_the_workflow_and_names_its_partner() -> None:
    assert set(TIMELINE_EVENTS.values()) == set(EVENTS)
    events = new_events(
        state(
            ("step_approved", "installation"),
            ("step_escalated", "installation"),
            ("offer_accepted", "installation"),
            ("step_declined", "installation"),
        ),
        seen=0,
    )
    assert [e.type for e in events] == [
        "step.completed",
        "step.reassigned",
        "offer.accepted",
        "step.declined",
    ]
    assert events[2].partner_id == OTHER_PARTNER  # the partner that accepted
    # a declined step is the contact person's now: the outbox finds the decliner's partner
    assert events[3].partner_id is None and events[3].declined_by == INSTALLER
    assert events[3].body(partner_id=PARTNER)["data"]["partner_id"] == str(PARTNER)
