"""Conditions, review and decline in PartnerProcessWorkflow, on the time-skipping server.

Steps whose condition does not hold are `not_applicable` (on the opportunity's facts and on
what earlier steps recorded, in chains); a step with a review waits `in_review` for its
reviewer, who approves it or sends it back (at most `max_rounds` times); a partner hands a step
back to the contact person. The histories of the paths are recorded by `make histories`
(tests/histories.py) and replayed by tests/workflows/test_replay.py. The actors carry role
names, not people's names; the reasons are ProcessNotes, as the API writes them.
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import pytest
from sqlmodel import Session
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from partnerflow import notes
from partnerflow.models import User
from partnerflow.notes import NoteKind
from partnerflow.spec import EmailKind, Review, StepSpec, TemplateSnapshot
from tests import histories
from tests.conftest import eventually
from tests.process_world import World
from workflows import search_attributes, summaries
from workflows.messages import (
    Actor,
    AwaitRecordedInput,
    CompleteStepInput,
    DeclineStepInput,
    EmailRequest,
    NotificationKind,
    NotificationRequest,
    ProcessInput,
    ProcessState,
    ResolvedAssignee,
    ReviewStepInput,
    StepState,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.rules import check_decline, check_review_answer
from workflows.versions import CODE_VERSION

# pure: the words and the checks -------------------------------------------------------------


def test_every_email_and_notice_kind_has_its_words_in_the_temporal_ui() -> None:
    for kind in get_args(EmailKind):
        request = EmailRequest(
            process_id=uuid.uuid4(), opportunity_id=uuid.uuid4(), contact_user_id=uuid.uuid4(),
            kind=kind, language="en", timezone="Europe/Berlin", step_key="install",
            step_name="Installation", idempotency_key="k",
        )  # fmt: skip
        words = summaries.outgoing(request, retry=False).split(" e-mail")[0]
        assert "_" not in words, f"e-mail kind {kind} has no words of its own"
    for notice_kind in get_args(NotificationKind):
        notice = NotificationRequest(
            process_id=uuid.uuid4(), kind=notice_kind, message="m", idempotency_key="k"
        )
        words = summaries.outgoing(notice, retry=False).split(" notice")[0]
        assert "_" not in words, f"notice kind {notice_kind} has no words of its own"


def _step(**changes: Any) -> StepState:
    partner = uuid.UUID("22222222-2222-4222-8222-222222222222")
    step = StepState(
        key="photos", name="Photos", status="in_review", requires=[],
        assignee=ResolvedAssignee(type="partner_slot", slot="installer", partner_id=partner),
        reviewer_user_id=uuid.UUID("33333333-3333-4333-8333-333333333333"),
    )  # fmt: skip
    return step.model_copy(update=changes)


def _refused(call: Any) -> tuple[str, str]:
    with pytest.raises(ApplicationError) as error:
        call()
    assert error.value.non_retryable
    return str(error.value.type), error.value.message


def test_only_the_reviewer_or_an_admin_answers_and_changes_need_a_reason() -> None:
    step = _step()
    reviewer = Actor(user_id=step.reviewer_user_id, role="member")
    other = Actor(user_id=uuid.uuid4(), role="member")
    admin = Actor(user_id=uuid.uuid4(), role="admin")
    review = Review(max_rounds=2)
    note = uuid.uuid4()
    check_review_answer(step, review, reviewer, "request_changes", note)
    check_review_answer(step, review, admin, "approve", None)
    assert _refused(lambda: check_review_answer(step, review, other, "approve", None)) == (
        "forbidden",
        "step 'photos' waits for another reviewer",
    )
    assert _refused(
        lambda: check_review_answer(step, review, reviewer, "request_changes", None)
    ) == ("invalid", "reason: say what should change")
    sent_back_twice = _step(review_rounds=2)
    kind, message = _refused(
        lambda: check_review_answer(sent_back_twice, review, reviewer, "request_changes", note)
    )
    assert kind == "conflict" and "changes were requested 2 times" in message
    # approving is still possible after the last round
    check_review_answer(sent_back_twice, review, reviewer, "approve", None)


def test_only_the_assigned_partner_declines_and_says_why() -> None:
    step = _step(status="active")
    partner_id = step.assignee.partner_id
    own = Actor(user_id=uuid.uuid4(), role="partner", partner_id=partner_id)
    other = Actor(user_id=uuid.uuid4(), role="partner", partner_id=uuid.uuid4())
    contact = Actor(user_id=uuid.uuid4(), role="admin")
    check_decline(step, own, uuid.uuid4())
    for actor in (other, contact):
        assert _refused(lambda a=actor: check_decline(step, a, uuid.uuid4()))[0] == "forbidden"
    assert _refused(lambda: check_decline(step, own, None))[0] == "invalid"
    mine = _step(status="active", assignee=ResolvedAssignee(type="contact", user_id=own.user_id))
    assert _refused(lambda: check_decline(mine, own, uuid.uuid4()))[0] == "forbidden"


def test_current_details_show_a_step_in_review_with_its_reviewer_and_round() -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    due = datetime(2026, 12, 11, 22, 59, tzinfo=UTC)
    step = _step(review_rounds=1, due_at=due)
    state = ProcessState(
        process_id=uuid.uuid4(), template_id=uuid.uuid4(), template_version=1,
        opportunity_id=uuid.uuid4(), contact_user_id=uuid.uuid4(), partner_ids=[],
        started_at=at, version=3, steps=[step],
    )  # fmt: skip
    assert summaries.current_details(state, "Europe/Berlin").splitlines()[2] == (
        f"- `photos`: in review by user {step.reviewer_user_id}, round 2, "
        "due 2026-12-11 23:59 Europe/Berlin"
    )
    assert summaries.review_deadline_timer("photos", due, "Europe/Berlin") == (
        "deadline of step photos while in review (due 2026-12-11 23:59 Europe/Berlin)"
    )


# against the time-skipping server ------------------------------------------------------------


@pytest.fixture
def world(smtp_world: World) -> World:
    """The worker sends its e-mails to the local SMTP server (tests/workflows/conftest.py)."""
    return smtp_world


async def _start(
    world: World, steps: list[dict[str, Any]], facts: dict[str, Any] | None = None
) -> WorkflowHandle[Any, ProcessState]:
    """As World.start, with the opportunity's facts the version's conditions name."""
    process_id = uuid.uuid4()
    handle = await world.env.client.start_workflow(
        PartnerProcessWorkflow.run,
        ProcessInput(
            process_id=process_id,
            template=TemplateSnapshot(
                template_id=world.template.id, version=1, name="PV", language="en",
                timezone="Europe/Berlin", steps=[StepSpec.model_validate(s) for s in steps],
            ),
            opportunity_id=world.opportunity.id,
            contact_user_id=world.contact.id,
            code_version=CODE_VERSION,
            partners={"installer": world.partner.id},
            facts=facts or {},
        ),
        id=workflow_id_for(process_id),
        task_queue=world.task_queue,
        search_attributes=search_attributes.at_start(
            template_id=str(world.template.id), opportunity_id=str(world.opportunity.id),
            partner_ids=[str(world.partner.id)], test=False,
        ),
    )  # fmt: skip
    # recorded, so the process's row exists for the notes the tests write
    await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
    return handle


def _process_id(handle: WorkflowHandle[Any, ProcessState]) -> uuid.UUID:
    return uuid.UUID(handle.id.removeprefix("process-"))


def _note(
    world: World,
    handle: WorkflowHandle[Any, ProcessState],
    kind: NoteKind,
    author: Actor,
    body: str,
) -> uuid.UUID:
    """The reason as the API stores it before the update: the workflow gets its id."""
    with Session(world.engine) as session:
        return notes.write(
            session, process_id=_process_id(handle), step_key="photos", kind=kind,
            author_id=author.user_id, body=body,
        )  # fmt: skip


def _user(world: World, name: str, role: Literal["admin", "member"] = "member") -> Actor:
    """Another of the company's people (a role's name, as World's are)."""
    with Session(world.engine, expire_on_commit=False) as session:
        user = User(name=name, email=f"{name.lower()}@company.example.com", role=role)
        session.add(user)
        session.commit()
    return Actor(user_id=user.id, role=role)


async def _refusal(
    handle: WorkflowHandle[Any, ProcessState],
    input: CompleteStepInput | ReviewStepInput | DeclineStepInput,
) -> str:
    """How the update of this input is refused: "kind: message"."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        match input:
            case CompleteStepInput():
                await handle.execute_update(PartnerProcessWorkflow.complete_step, input)
            case ReviewStepInput():
                await handle.execute_update(PartnerProcessWorkflow.review_step, input)
            case DeclineStepInput():
                await handle.execute_update(PartnerProcessWorkflow.decline_step, input)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return f"{cause.type}: {cause.message}"


def _statuses(state: ProcessState) -> dict[str, str]:
    return {step.key: step.status for step in state.steps}


def _events(state: ProcessState, step_key: str) -> list[str]:
    return [entry.event for entry in state.timeline if entry.step_key == step_key]


# A heat-pump installation: the grid operator's registration only above 12 kW, a scaffold only
# when the survey says so, and the scaffold's check only when the scaffold has a height.
HEAT_PUMP: list[dict[str, Any]] = [
    {"key": "survey", "name": "Survey", "requires": [],
     "assignee": {"type": "partner_slot", "slot": "installer"},
     "fields": [{"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean",
                 "required": True}]},
    {"key": "grid", "name": "Grid registration", "requires": [],
     "assignee": {"type": "contact"}, "deadline": {"after": "P5D"},
     "when": {"all": [{"field": "opportunity.attributes.power_kw", "op": "gt", "value": 12}]}},
    {"key": "scaffold", "name": "Scaffold", "requires": ["survey"],
     "assignee": {"type": "partner_slot", "slot": "installer"}, "deadline": {"after": "P3D"},
     "fields": [{"key": "height_m", "label": "Height", "type": "number"}],
     "when": {"all": [{"field": "fields.survey.scaffold_needed", "op": "equals",
                       "value": True}]}},
    {"key": "scaffold_check", "name": "Scaffold check", "requires": ["scaffold"],
     "assignee": {"type": "contact"},
     "when": {"any": [{"field": "fields.scaffold.height_m", "op": "gte", "value": 4}]}},
    {"key": "install", "name": "Installation", "requires": ["grid", "scaffold_check"],
     "assignee": {"type": "partner_slot", "slot": "installer"}},
]  # fmt: skip


async def test_conditions_skip_the_grid_below_12_kw_and_the_scaffold_the_survey_rules_out(
    world: World,
) -> None:
    handle = await _start(world, HEAT_PUMP, facts={"opportunity.attributes.power_kw": 9})
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    # 9 kW: no registration; the installation still waits for the survey's branch
    assert _statuses(state) == {
        "survey": "active", "grid": "not_applicable", "scaffold": "pending",
        "scaffold_check": "pending", "install": "pending",
    }  # fmt: skip
    grid = state.steps[1]
    assert grid.due_at is None and grid.completed_at is None and grid.activated_at is None
    assert _events(state, "grid") == ["step_not_applicable"]

    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(
            step_key="survey", actor=world.as_partner, fields={"scaffold_needed": False}
        ),
    )
    # no scaffold, so nothing to check (a step that did not apply recorded nothing): the
    # chain is decided at once and the installation opens
    assert _statuses(state) == {
        "survey": "completed", "grid": "not_applicable", "scaffold": "not_applicable",
        "scaffold_check": "not_applicable", "install": "active",
    }  # fmt: skip
    assert [s.due_at for s in state.steps[2:4]] == [None, None]
    step = await eventually(
        lambda: asyncio.sleep(0, world.step(process_id, "scaffold_check")),
        lambda s: s.status == "not_applicable",
    )
    assert step.status == "not_applicable"
    # a hand-over for the survey and the installation, nothing for the steps that did not apply
    emails = await world.email_kinds(process_id, "handover", "handover", "completion")
    assert sorted(emails) == ["completion", "handover", "handover"]
    handed = {n.step_key for n in world.notices(process_id) if n.kind == "step_assigned"}
    assert handed == {"survey", "install"}

    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="install", actor=world.as_partner),
    )
    assert state.status == "completed"
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "conditions")


async def test_conditions_open_the_grid_above_12_kw_and_the_scaffold_and_its_check(
    world: World,
) -> None:
    handle = await _start(world, HEAT_PUMP, facts={"opportunity.attributes.power_kw": "14"})
    state = await handle.query(PartnerProcessWorkflow.state)
    assert _statuses(state)["grid"] == "active"
    assert state.steps[1].due_at is not None
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(
            step_key="survey", actor=world.as_partner, fields={"scaffold_needed": True}
        ),
    )
    assert _statuses(state)["scaffold"] == "active"
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="scaffold", actor=world.as_partner, fields={"height_m": 6}),
    )
    assert _statuses(state)["scaffold_check"] == "active"
    # the installation waits for both branches: the registration is still open
    assert _statuses(state)["install"] == "pending"


async def test_a_process_whose_every_step_does_not_apply_completes_at_once(world: World) -> None:
    handle = await _start(
        world,
        [
            {
                "key": "grid",
                "name": "Grid",
                "requires": [],
                "assignee": {"type": "contact"},
                "when": {
                    "all": [{"field": "opportunity.product", "op": "equals", "value": "heat_pump"}]
                },
            },
            {
                "key": "meter",
                "name": "Meter",
                "assignee": {"type": "contact"},
                "when": {"all": [{"field": "opportunity.attributes.meter", "op": "is_not_empty"}]},
            },
        ],
        facts={"opportunity.product": "pv"},
    )
    result = await handle.result()
    assert result.status == "completed"
    assert _statuses(result) == {"grid": "not_applicable", "meter": "not_applicable"}
    assert world.emails(_process_id(handle)) == []


# review ------------------------------------------------------------------------------------

PHOTOS_REVIEWED: list[dict[str, Any]] = [
    {"key": "photos", "name": "Photos", "requires": [],
     "assignee": {"type": "partner_slot", "slot": "installer"},
     "deadline": {"after": "P3D"}, "reminders": ["P1D"],
     "review": {"by": {"type": "contact"}, "max_rounds": 2}},
    {"key": "handover", "name": "Handover", "assignee": {"type": "contact"}},
]  # fmt: skip


async def test_review_loop_changes_requested_twice_then_approved(world: World) -> None:
    handle = await _start(world, PHOTOS_REVIEWED)
    process_id = _process_id(handle)
    admin = _user(world, "Admin", role="admin")

    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    photos = state.steps[0]
    assert photos.status == "in_review" and photos.completed_at is None
    assert photos.reviewer_user_id == world.contact.id and photos.submitted_at is not None
    assert photos.completed_by is not None and photos.completed_by.partner_id == world.partner.id
    assert _statuses(state)["handover"] == "pending"
    review_notices = await eventually(
        lambda: asyncio.sleep(0, world.notices(process_id)),
        lambda found: any(n.kind == "review_requested" for n in found),
    )
    assert [n.user_id for n in review_notices if n.kind == "review_requested"] == [world.contact.id]

    # refused before anything happens
    assert (
        await _refusal(handle, CompleteStepInput(step_key="photos", actor=world.as_partner))
    ).startswith("conflict:")
    assert (
        await _refusal(
            handle,
            ReviewStepInput(step_key="photos", actor=world.as_partner, decision="approve"),
        )
    ).startswith("forbidden:")
    assert (
        await _refusal(
            handle,
            ReviewStepInput(step_key="photos", actor=world.as_contact, decision="request_changes"),
        )
    ).startswith("invalid:")
    reason = _note(world, handle, "review_reason", world.as_contact, "The roof photo is missing")
    assert (
        await _refusal(
            handle,
            ReviewStepInput(
                step_key="photos",
                actor=world.as_contact,
                decision="request_changes",
                note_id=reason,
                due="next friday",
            ),
        )
        == "invalid: step 'photos', due_at: not a date or datetime"
    )
    assert (
        await _refusal(
            handle,
            ReviewStepInput(step_key="handover", actor=world.as_contact, decision="approve"),
        )
        == "conflict: step 'handover' is pending, not in review"
    )

    # first round: back to the partner, with the reason in the e-mail
    state = await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(
            step_key="photos", actor=world.as_contact, decision="request_changes", note_id=reason
        ),
    )
    photos = state.steps[0]
    assert photos.status == "active" and photos.review_rounds == 1
    assert photos.completed_by is None
    entry = state.timeline[-1]
    assert (entry.event, entry.user_id, entry.note_id) == (
        "changes_requested", world.contact.id, reason,
    )  # fmt: skip
    await world.email_kinds(process_id, "changes_requested")
    sent_back = next(e for e in world.emails(process_id) if e.kind == "changes_requested")
    assert "office@installer.example.com" in sent_back.to
    assert "The roof photo is missing" in sent_back.text
    assert {n.user_id for n in world.notices(process_id) if n.kind == "changes_requested"} == {
        world.partner_user.id
    }

    # second round, with a new deadline set in the same call
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    new_due = (await world.env.get_current_time() + timedelta(days=10)).isoformat()
    again = _note(world, handle, "review_reason", world.as_contact, "Still blurry")
    state = await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(step_key="photos", actor=world.as_contact, decision="request_changes",
                        note_id=again, due=new_due),
    )  # fmt: skip
    photos = state.steps[0]
    assert photos.review_rounds == 2 and photos.due_set_by_hand
    assert photos.due_at == datetime.fromisoformat(new_due)

    # max_rounds 2: a third request for changes is refused; the admin approves for the contact
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    third = _note(world, handle, "review_reason", world.as_contact, "One more")
    refused = await _refusal(
        handle,
        ReviewStepInput(
            step_key="photos", actor=world.as_contact, decision="request_changes", note_id=third
        ),
    )
    assert refused.startswith("conflict: step 'photos': changes were requested 2 times")
    remark = _note(world, handle, "review_reason", admin, "Fine now")
    state = await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(step_key="photos", actor=admin, decision="approve", note_id=remark),
    )
    photos = state.steps[0]
    assert photos.status == "completed" and photos.completed_at is not None
    approved = next(e for e in state.timeline if e.event == "step_approved")
    assert (approved.user_id, approved.note_id) == (admin.user_id, remark)
    assert _statuses(state)["handover"] == "active"
    assert _events(state, "photos") == [
        "step_activated", "step_submitted", "changes_requested", "step_submitted",
        "changes_requested", "deadline_set", "step_submitted", "step_approved",
    ]  # fmt: skip
    wanted = ("changes_requested", "changes_requested", "completion")
    kinds = await world.email_kinds(process_id, *wanted)
    assert kinds.count("changes_requested") == 2 and kinds.count("completion") == 1
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="handover", actor=world.as_contact),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "review_loop")


async def test_in_review_the_deadline_marks_overdue_but_reminds_nobody(world: World) -> None:
    reviewer = _user(world, "Reviewer")
    handle = await _start(
        world,
        [
            {
                "key": "photos",
                "name": "Photos",
                "requires": [],
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "deadline": {"after": "P2D"},
                "reminders": ["P1D"],
                "escalation": {"reassign_to": {"type": "contact"}, "grace": "PT1H"},
                "review": {"by": {"type": "user", "user_id": str(reviewer.user_id)}},
            },
        ],
    )
    process_id = _process_id(handle)
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    due_at = state.steps[0].due_at
    assert due_at is not None and state.steps[0].reviewer_user_id == reviewer.user_id
    # the contact person is no reviewer here
    assert (
        await _refusal(
            handle,
            ReviewStepInput(step_key="photos", actor=world.as_contact, decision="approve"),
        )
    ).startswith("forbidden:")

    # past the deadline and the escalation's grace while in review
    await world.env.sleep(due_at - await world.env.get_current_time() + timedelta(hours=2))
    await world.email_kinds(process_id, "overdue")
    state = await handle.query(PartnerProcessWorkflow.state)
    photos = state.steps[0]
    assert photos.status == "in_review" and photos.overdue
    # no reminder to the partner who finished, and the finished work stays where it is
    assert photos.reminders_sent == [] and not photos.escalated
    assert photos.assignee.partner_id == world.partner.id
    assert "reminder" not in [e.kind for e in world.emails(process_id)]
    history = await handle.fetch_history()
    timers = [
        json.loads(e.user_metadata.summary.data)
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    ]
    assert any(t.startswith("deadline of step photos while in review") for t in timers)

    # sent back with a new deadline: the partner has it again, not overdue, nothing escalated
    reason = _note(world, handle, "review_reason", reviewer, "Label the photos")
    new_due = (await world.env.get_current_time() + timedelta(days=3)).isoformat()
    state = await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(step_key="photos", actor=reviewer, decision="request_changes",
                        note_id=reason, due=new_due),
    )  # fmt: skip
    photos = state.steps[0]
    assert photos.status == "active" and not photos.overdue
    assert photos.assignee.partner_id == world.partner.id
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_partner),
    )
    state = await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(step_key="photos", actor=reviewer, decision="approve"),
    )
    assert state.status == "completed"
    await handle.result()
    await histories.record(handle, "review_deadline")


# decline -----------------------------------------------------------------------------------


async def test_a_partner_declines_and_the_contact_person_has_the_step(world: World) -> None:
    handle = await _start(
        world,
        [
            {
                "key": "photos",
                "name": "Photos",
                "requires": [],
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "deadline": {"after": "P3D"},
            },
            {
                "key": "install",
                "name": "Installation",
                "assignee": {"type": "partner_slot", "slot": "installer"},
            },
        ],
    )
    process_id = _process_id(handle)
    reason = _note(world, handle, "decline_reason", world.as_partner, "No capacity this month")
    # the contact person cannot decline for the partner; a pending step is not declined; a
    # reason is needed
    assert (
        await _refusal(
            handle,
            DeclineStepInput(step_key="photos", actor=world.as_contact, note_id=reason),
        )
    ).startswith("forbidden:")
    assert (
        await _refusal(
            handle,
            DeclineStepInput(step_key="install", actor=world.as_partner, note_id=reason),
        )
    ).startswith("conflict:")
    assert (
        await _refusal(handle, DeclineStepInput(step_key="photos", actor=world.as_partner))
    ).startswith("invalid:")

    state = await handle.execute_update(
        PartnerProcessWorkflow.decline_step,
        DeclineStepInput(step_key="photos", actor=world.as_partner, note_id=reason),
    )
    photos = state.steps[0]
    assert photos.status == "active" and photos.due_at is not None
    assert photos.assignee == ResolvedAssignee(type="contact", user_id=world.contact.id)
    entry = state.timeline[-1]
    assert (entry.event, entry.user_id, entry.note_id) == (
        "step_declined", world.partner_user.id, reason,
    )  # fmt: skip
    # the partner no longer holds it (its lists read the read model's assignee)
    step = await eventually(
        lambda: asyncio.sleep(0, world.step(process_id, "photos")),
        lambda s: s.assignee_partner_id is None,
    )
    assert step.assignee_partner_id is None and step.assignee_user_id == world.contact.id
    await world.email_kinds(process_id, "step_declined")
    declined = next(e for e in world.emails(process_id) if e.kind == "step_declined")
    assert declined.to == "contact@company.example.com"
    assert "No capacity this month" in declined.text
    assert [
        (n.kind, n.user_id) for n in world.notices(process_id) if n.kind != "step_assigned"
    ] == [("step_declined", world.contact.id)]
    # the partner can neither finish nor decline it again
    assert (
        await _refusal(handle, CompleteStepInput(step_key="photos", actor=world.as_partner))
    ).startswith("forbidden:")
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="photos", actor=world.as_contact),
    )
    assert _statuses(state) == {"photos": "completed", "install": "active"}
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="install", actor=world.as_partner),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "decline")
