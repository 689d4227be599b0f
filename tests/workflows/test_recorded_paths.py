"""Every message and timer path of a process, on the time-skipping server; each test's history
is recorded by `make histories` (tests/histories.py) and replayed by tests/workflows/test_replay.py.

Business days with a reminder, overdue and escalation with reassignment; every update
(complete, skip, set_deadline, reassign, add_document, cancel, await_recorded); e-mails that
fail for good and for a passing reason. (Continue-as-new with armed timers is recorded by
tests/workflows/test_continue_as_new.py; conditions, review loops, a deadline passing in review
and a declined step by tests/workflows/test_conditions_review.py.) The actors carry role names,
not people's names.
"""

import asyncio
import uuid
from datetime import timedelta

import pytest

from partnerflow.spec import PartnerAssignee
from tests import histories
from tests.conftest import eventually
from tests.process_world import MailServer, World
from workflows.deadlines import add_business_days
from workflows.messages import (
    AddDocumentInput,
    AwaitRecordedInput,
    CancelInput,
    CompleteStepInput,
    DocumentRef,
    ReassignInput,
    SetDeadlineInput,
    SkipStepInput,
)
from workflows.partner_process import PartnerProcessWorkflow


@pytest.fixture
def world(smtp_world: World) -> World:
    """The worker sends its e-mails to the local SMTP server (tests/workflows/conftest.py)."""
    return smtp_world


def _id(handle_id: str) -> uuid.UUID:
    return uuid.UUID(handle_id.removeprefix("process-"))


async def test_business_days_reminder_overdue_and_escalation(world: World) -> None:
    handle = await world.start(
        [
            {
                "key": "survey",
                "name": "Survey",
                "requires": [],
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "deadline": {"business_days": 2, "region": "DE-NW"},
                "reminders": ["PT4H"],
                "escalation": {
                    "notify_contact": True,
                    "reassign_to": {"type": "contact"},
                    "grace": "PT2H",
                },
            }
        ]
    )
    process_id = _id(handle.id)
    state = await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
    survey = state.steps[0]
    assert survey.activated_at is not None and survey.due_at is not None
    # The deadline came from the activity, and it is what the holiday tables say.
    assert survey.due_at == add_business_days(survey.activated_at, 2, "Europe/Berlin", "DE-NW")
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
    assert "core_local_activity" in markers

    # Past the deadline and the grace: reminded, overdue, handed to the contact person.
    now = await world.env.get_current_time()
    await world.env.sleep(survey.due_at - now + timedelta(hours=3))
    kinds = await world.email_kinds(process_id, "handover", "reminder", "overdue", "reassigned")
    assert kinds[:2] == ["handover", "reminder"]
    step = await eventually(
        lambda: asyncio.sleep(0, world.step(process_id, "survey")),
        lambda s: s.assignee_user_id == world.contact.id,
    )
    assert step.overdue is True and step.assignee_user_id == world.contact.id
    state = await handle.query(PartnerProcessWorkflow.state)
    events = [e.event for e in state.timeline]
    assert events.index("reminder_sent") < events.index("step_overdue")
    assert events.index("step_overdue") < events.index("step_escalated")

    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="survey", actor=world.as_contact),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "business_day_timers")


async def test_every_message_then_cancel(world: World) -> None:
    handle = await world.start(
        [
            {
                "key": "photos",
                "name": "Photos",
                "requires": [],
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "deadline": {"after": "P3D"},
                "reminders": ["P1D"],
                "documents": [{"type": "photo", "label": "Photo"}],
            },
            {"key": "extra", "name": "Extra", "requires": [], "assignee": {"type": "contact"}},
            {"key": "review", "name": "Review", "assignee": {"type": "contact"}},
            {"key": "report", "name": "Report", "requires": ["review"],
             "assignee": {"type": "contact"}},
        ]
    )  # fmt: skip
    process_id = _id(handle.id)
    state = await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
    first_due = state.steps[0].due_at
    assert first_due is not None
    moved = first_due + timedelta(days=2)
    await handle.execute_update(
        PartnerProcessWorkflow.set_deadline,
        SetDeadlineInput(step_key="photos", actor=world.as_partner, due=moved.isoformat()),
    )
    await handle.execute_update(
        PartnerProcessWorkflow.add_document,
        AddDocumentInput(
            step_key="photos",
            actor=world.as_partner,
            document=DocumentRef(id=uuid.uuid4(), type="photo", filename="photo.jpg"),
        ),
    )
    await handle.execute_update(
        PartnerProcessWorkflow.skip_step,
        SkipStepInput(step_key="extra", actor=world.as_contact, reason="not needed"),
    )
    # Handed to the contact person, and back to the partner organisation.
    await handle.execute_update(
        PartnerProcessWorkflow.reassign,
        ReassignInput(step_key="photos", actor=world.as_contact, assignee={"type": "contact"}),
    )
    await handle.execute_update(
        PartnerProcessWorkflow.reassign,
        ReassignInput(
            step_key="photos",
            actor=world.as_contact,
            assignee=PartnerAssignee(type="partner", partner_id=world.partner.id),
        ),
    )
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    assert {s.key: s.status for s in state.steps} == {
        "photos": "completed", "extra": "skipped", "review": "active", "report": "pending",
    }  # fmt: skip
    await handle.execute_update(
        PartnerProcessWorkflow.cancel, CancelInput(actor=world.as_contact, reason="withdrawn")
    )
    result = await handle.result()
    assert result.status == "cancelled"
    assert [s.status for s in result.steps] == ["completed", "skipped", "cancelled", "cancelled"]
    # No `deadline_changed`: the partner moved its own deadline (staff moving it would tell
    # the partner). Waiting for one held the test for the whole of `eventually`'s wait.
    kinds = await world.email_kinds(process_id, "handover", "handover", "reassigned")
    assert kinds.count("handover") == 2  # the partner's, then the partner's again
    assert "reminder" not in kinds  # completed before the moved deadline's reminder
    await histories.record(handle, "messages_and_cancel")


async def test_failed_delivery_for_good_and_after_its_cap(
    world: World, mail_server: tuple[int, MailServer]
) -> None:
    _, server = mail_server
    server.replies[":install:handover:"] = "451 4.3.0 try again later"
    handle = await world.start(
        [
            # nobody to send to: the user is no longer active (for good)
            {"key": "check", "name": "Check", "requires": [],
             "assignee": {"type": "user", "user_id": str(world.former.id)},
             "on_activate_email": str(world.email_template.id)},
            # the partner's server answers "later", every time (for a day)
            {"key": "install", "name": "Install", "requires": [],
             "assignee": {"type": "partner_slot", "slot": "installer"}},
        ]
    )  # fmt: skip
    await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
    for key in ("check", "install"):
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key=key, actor=world.as_contact),
        )
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == "completed"
    assert sorted(f"{n.step_key}: {n.error_type}" for n in result.attention) == [
        "check: NoRecipient",
        "install: TemporaryDeliveryError",
    ]
    notices = world.notices(_id(handle.id))
    assert sorted(str(n.step_key) for n in notices if n.kind == "delivery_failed") == [
        "check",
        "install",
    ]
    await histories.record(handle, "failed_delivery")
