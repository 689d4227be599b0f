"""Offers and absences in PartnerProcessWorkflow: pure checks, then the time-skipping server.

A step offered to several partners goes to the first who accepts (the others are told it was
withdrawn), to one partner at a time when ranked (each for `wait`), and to the contact person
when nobody takes it before it expires; a revoked partner's offer is withdrawn, and taking an
offered step out of its offer tells the partners asked. A step of someone away opens for, or
moves to, their substitute. The histories of the paths are recorded by `make histories`
(tests/histories.py) and replayed by tests/workflows/test_replay.py. People carry role names.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from partnerflow import notes
from partnerflow.models import Partner, ProcessOffer, User
from partnerflow.spec import OfferAssignee, StepSpec, StepStatus, TemplateSnapshot
from tests import histories
from tests.conftest import eventually
from tests.process_world import World
from workflows import absences, offers, search_attributes, summaries
from workflows.messages import (
    Absence,
    AbsenceInput,
    Actor,
    AnswerOfferInput,
    AwaitRecordedInput,
    CancelInput,
    CompleteStepInput,
    Offer,
    OfferStatus,
    PartnerRevokedInput,
    ProcessInput,
    ProcessState,
    ReassignInput,
    ResolvedAssignee,
    ReviewStepInput,
    SetDeadlineInput,
    SkipStepInput,
    StepState,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.search_attributes import PF_ACTIVE_STEPS, PF_OFFERED
from workflows.versions import CODE_VERSION

Handle = WorkflowHandle[Any, ProcessState]

# pure: candidates, the checks of an answer, absences, what operators read -------------------

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
P1, P2, P3 = (uuid.UUID(f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000") for n in (1, 2, 3))


def _offered_state(*offers: Offer, status: StepStatus = "offered") -> ProcessState:
    step = StepState(
        key="install", name="Installation", status=status, requires=[],
        assignee=ResolvedAssignee(type="offer"), offers=list(offers),
        offer_expires_at=AT + timedelta(days=2),
    )  # fmt: skip
    return ProcessState(
        process_id=uuid.uuid4(), template_id=uuid.uuid4(), template_version=1,
        opportunity_id=uuid.uuid4(), contact_user_id=uuid.uuid4(), partner_ids=[],
        started_at=AT, steps=[step],
    )  # fmt: skip


def _offer(partner_id: uuid.UUID, status: OfferStatus = "pending", hours: int = 48) -> Offer:
    return Offer(
        id=uuid.uuid4(), partner_id=partner_id, status=status, offered_at=AT,
        expires_at=AT + timedelta(hours=hours),
    )  # fmt: skip


def _refusal_of(call: Any) -> str:
    with pytest.raises(ApplicationError) as refused:
        call()
    assert refused.value.non_retryable
    return f"{refused.value.type}: {refused.value.message}"


def test_candidates_keep_the_rank_and_leave_out_the_revoked_and_those_asked() -> None:
    named = OfferAssignee(type="offer", partners=[P2, P1, P2, P3])
    assert offers.candidates(named, [P3], revoked=[P1]) == [P2, P3]
    pooled = OfferAssignee(type="offer", pool="service_area")
    assert offers.candidates(pooled, [P3, P1], revoked=[]) == [P3, P1]
    state = _offered_state(_offer(P3, "declined"))
    assert offers.not_yet_offered(state.steps[0], [P3, P1]) == [P1]


def test_only_the_partner_offered_answers_while_it_is_pending_and_a_decline_says_why() -> None:
    mine, theirs = _offer(P1), _offer(P2)
    state = _offered_state(mine, theirs)
    me = Actor(user_id=uuid.uuid4(), role="partner", partner_id=P1)
    staff = Actor(user_id=state.contact_user_id, role="admin")
    assert offers.check_answer(state, mine.id, me, AT, declining=False, note_id=None)[1] is mine
    # another partner's offer, or one unknown, is none the caller may see
    for offer_id, actor in ((theirs.id, me), (mine.id, staff), (uuid.uuid4(), me)):
        assert (
            _refusal_of(
                lambda o=offer_id, a=actor: offers.check_answer(
                    state, o, a, AT, declining=False, note_id=None
                )
            )
            == f"not_found: offer {offer_id}: no such offer"
        )
    assert (
        _refusal_of(
            lambda: offers.check_answer(state, mine.id, me, AT, declining=True, note_id=None)
        )
        == "invalid: reason: say why the offer is declined"
    )
    answered = _offered_state(_offer(P1, "withdrawn"))
    withdrawn = answered.steps[0].offers[0]
    assert (
        _refusal_of(
            lambda: offers.check_answer(
                answered, withdrawn.id, me, AT, declining=False, note_id=None
            )
        )
        == f"conflict: offer {withdrawn.id} is withdrawn, no longer pending"
    )
    # a turn that ended, before its timer fired
    late = AT + timedelta(hours=48)
    assert (
        _refusal_of(
            lambda: offers.check_answer(state, mine.id, me, late, declining=False, note_id=None)
        )
        == f"conflict: offer {mine.id} ran out, no longer pending"
    )
    taken = _offered_state(_offer(P1), status="active")
    pending = taken.steps[0].offers[0]
    assert (
        _refusal_of(
            lambda: offers.check_answer(taken, pending.id, me, AT, declining=False, note_id=None)
        )
        == f"conflict: offer {pending.id}: step 'install' is no longer offered"
    )


def test_an_offered_step_rings_at_the_sooner_of_a_turn_and_the_expiry() -> None:
    state = _offered_state(_offer(P1, "declined", hours=4), _offer(P2, hours=4))
    step = state.steps[0]
    assert offers.next_moment(step) == AT + timedelta(hours=4)
    step.offers[1].status = "expired"
    assert offers.next_moment(step) == AT + timedelta(days=2)
    step.status = "active"
    assert offers.next_moment(step) is None


def test_an_absence_runs_from_its_start_until_its_end_and_replaces_the_last() -> None:
    user, substitute = uuid.uuid4(), uuid.uuid4()
    away = Absence(
        user_id=user, starts_at=AT, ends_at=AT + timedelta(days=1), substitute_user_id=substitute
    )
    assert absences.running([away], user, AT) == away
    assert absences.running([away], user, AT - timedelta(seconds=1)) is None
    assert absences.running([away], user, AT + timedelta(days=1)) is None
    assert absences.running([away], uuid.uuid4(), AT) is None
    later = away.model_copy(
        update={"starts_at": AT + timedelta(days=5), "ends_at": AT + timedelta(days=6)}
    )
    assert absences.replaced([away], AbsenceInput(user_id=user, absence=later), AT) == [later]
    assert absences.replaced([away], AbsenceInput(user_id=user), AT) == []
    other = away.model_copy(update={"user_id": uuid.uuid4()})
    # an absence over by now is forgotten
    assert absences.replaced([other], AbsenceInput(user_id=user), AT + timedelta(days=2)) == []
    for wrong, message in (
        (away.model_copy(update={"user_id": uuid.uuid4()}), "absence.user_id"),
        (away.model_copy(update={"ends_at": AT}), "absence.ends_at"),
        (away.model_copy(update={"substitute_user_id": user}), "absence.substitute_user_id"),
    ):
        refusal = _refusal_of(lambda w=wrong: absences.check(AbsenceInput(user_id=user, absence=w)))
        assert refusal.startswith(f"invalid: {message}:")


def test_a_substitute_away_too_passes_the_step_on_and_a_ring_of_absences_stops() -> None:
    anna, sven, tina, olaf = (uuid.uuid4() for _ in range(4))

    def away(user: uuid.UUID, substitute: uuid.UUID, days: int = 1) -> Absence:
        return Absence(
            user_id=user, starts_at=AT, ends_at=AT + timedelta(days=days),
            substitute_user_id=substitute,
        )  # fmt: skip

    chain = [away(anna, sven), away(sven, tina, days=2), away(tina, olaf)]
    standing_in = absences.running(chain, anna, AT)
    assert standing_in is not None and standing_in.substitute_user_id == olaf
    assert standing_in.user_id == anna and standing_in.starts_at == AT
    # Tina is back after a day: the chain ends with her; Sven's own absence still runs.
    later = AT + timedelta(days=1, hours=1)
    assert absences.running(chain, sven, later) == chain[1]
    # Everyone on a ring is away: the user's own substitute, as without the others.
    ring = [away(anna, sven), away(sven, tina), away(tina, anna)]
    assert absences.running(ring, anna, AT) == ring[0]
    odd = absences.running([away(anna, sven), away(sven, sven)], anna, AT)
    assert odd is not None and odd.substitute_user_id == sven


def test_operators_read_who_an_offer_waits_for_and_find_it_by_its_step() -> None:
    state = _offered_state(_offer(P1, "declined"), _offer(P2, hours=4))
    assert summaries.current_details(state, "Europe/Berlin").splitlines()[2] == (
        f"- `install`: offered to partner {P2}, expires 2026-12-03 10:00 Europe/Berlin"
    )
    assert summaries.offer_turn_timer("install", P2, AT, "Europe/Berlin") == (
        f"offer of step install: turn of partner {P2} ends 2026-12-01 10:00 Europe/Berlin"
    )
    values = {u.key.name: u.value for u in search_attributes.of_state(state)}
    assert values["PfOffered"] == ["install"] and values["PfActiveSteps"] == ["install"]
    # a process that never had offers upserts only what it always did
    plain = _offered_state(status="active")
    assert "PfOffered" not in {u.key.name for u in search_attributes.of_state(plain)}
    # the partners an offer may still go to are listed with the partners bound (revoking one
    # finds the process before its offer is made), each once
    state.partner_ids = [P1]
    values = {u.key.name: u.value for u in search_attributes.of_state(state, [P2, P1, P3])}
    assert values["PfPartners"] == [str(P1), str(P2), str(P3)]


# against the time-skipping server ------------------------------------------------------------


@pytest.fixture
def world(smtp_world: World) -> World:
    """The worker sends its e-mails to the local SMTP server (tests/workflows/conftest.py)."""
    return smtp_world


@dataclass
class Bidder:
    """An installer with one user: whom offers go to, and who answers them."""

    partner_id: uuid.UUID
    address: str
    actor: Actor


def _bidders(world: World, count: int) -> list[Bidder]:
    with Session(world.engine, expire_on_commit=False) as session:
        partners = [
            Partner(name=f"Installer {n}", email=f"office@installer{n}.example.com")
            for n in range(1, count + 1)
        ]
        for partner in partners:
            partner.status = "active"
        session.add_all(partners)
        session.flush()
        users = [
            User(
                name=f"Fitter {n}", email=f"fitter@installer{n}.example.com", role="partner",
                partner_id=partner.id,
            )
            for n, partner in enumerate(partners, start=1)
        ]  # fmt: skip
        session.add_all(users)
        session.commit()
    return [
        Bidder(
            partner_id=partner.id,
            address=partner.email,
            actor=Actor(
                user_id=user.id,
                role="partner",
                partner_id=partner.id,
                permissions=["steps:complete", "steps:set_deadline", "documents:upload"],
            ),
        )
        for partner, user in zip(partners, users, strict=True)
    ]


def _user(world: World, name: str) -> Actor:
    """Another of the company's people (a role's name, as World's are)."""
    with Session(world.engine, expire_on_commit=False) as session:
        user = User(name=name, email=f"{name.lower()}@company.example.com", role="member")
        session.add(user)
        session.commit()
    return Actor(user_id=user.id, role="member")


def _offered(bidders: list[Bidder] | None, **changes: Any) -> dict[str, Any]:
    """An installation offered to the bidders (or to the pool), then a check by the contact."""
    assignee: dict[str, Any] = {"type": "offer", "mode": "first_accept", "expires": "P2D"}
    if bidders is None:
        assignee["pool"] = "service_area"
    else:
        assignee["partners"] = [str(b.partner_id) for b in bidders]
    return {
        "key": "install", "name": "Installation", "requires": [],
        "assignee": assignee | changes, "deadline": {"after": "P3D"},
    }  # fmt: skip


CHECK = {"key": "check", "name": "Check", "requires": ["install"], "assignee": {"type": "contact"}}


async def _start(
    world: World,
    steps: list[dict[str, Any]],
    *,
    offer_pools: dict[str, list[uuid.UUID]] | None = None,
    absences: list[Absence] | None = None,
) -> Handle:
    """As the API starts a process, with the pools and absences found at its start."""
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
            offer_pools=offer_pools or {},
            absences=absences or [],
        ),
        id=workflow_id_for(process_id),
        task_queue=world.task_queue,
        search_attributes=search_attributes.at_start(
            template_id=str(world.template.id), opportunity_id=str(world.opportunity.id),
            partner_ids=[], test=False,
        ),
    )  # fmt: skip
    await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
    return handle


def _process_id(handle: Handle) -> uuid.UUID:
    return uuid.UUID(handle.id.removeprefix("process-"))


def _install(state: ProcessState) -> StepState:
    return next(step for step in state.steps if step.key == "install")


def _offer_of(state: ProcessState, bidder: Bidder) -> uuid.UUID:
    return next(o.id for o in _install(state).offers if o.partner_id == bidder.partner_id)


async def _accept(handle: Handle, bidder: Bidder, offer_id: uuid.UUID) -> ProcessState:
    return await handle.execute_update(
        PartnerProcessWorkflow.accept_offer, AnswerOfferInput(offer_id=offer_id, actor=bidder.actor)
    )


async def _refused(call: Any) -> str:
    """How an update is refused: "kind: message"."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await call
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return f"{cause.type}: {cause.message}"


async def _state_when(handle: Handle, done: Any) -> ProcessState:
    state: ProcessState = await eventually(lambda: handle.query(PartnerProcessWorkflow.state), done)
    return state


def _reason(world: World, handle: Handle, author: Actor, body: str) -> uuid.UUID:
    """The decline's reason as the API stores it before the update: the workflow gets its id."""
    with Session(world.engine) as session:
        return notes.write(
            session, process_id=_process_id(handle), step_key="install",
            kind="offer_decline_reason", author_id=author.user_id, body=body,
            partner_id=author.partner_id,
        )  # fmt: skip


def _offer_rows(world: World, process_id: uuid.UUID) -> dict[uuid.UUID, str]:
    with Session(world.engine) as session:
        rows = session.exec(select(ProcessOffer).where(ProcessOffer.process_id == process_id))
        return {row.partner_id: row.status for row in rows}


def _sent_to(world: World, process_id: uuid.UUID, kind: str) -> list[str]:
    """The partner addresses (or the user's) each e-mail of this kind went to, in order."""
    return [
        next(a for a in e.to.split(",") if a.strip().startswith(("office@", "contact@"))).strip()
        for e in world.emails(process_id)
        if e.kind == kind
    ]


def _events(state: ProcessState, step_key: str = "install") -> list[str]:
    return [entry.event for entry in state.timeline if entry.step_key == step_key]


# first come, first served ------------------------------------------------------------------


async def test_first_accept_the_second_of_three_partners_takes_the_step(world: World) -> None:
    bidders = _bidders(world, 3)
    first, second, third = bidders
    handle = await _start(world, [_offered(bidders), CHECK])
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    install = _install(state)
    started = install.offers[0].offered_at
    assert install.status == "offered" and install.assignee == ResolvedAssignee(type="offer")
    assert [(o.partner_id, o.status) for o in install.offers] == [
        (b.partner_id, "pending") for b in bidders
    ]
    assert install.offer_expires_at == started + timedelta(days=2)
    assert all(o.expires_at == install.offer_expires_at for o in install.offers)
    assert install.due_at is None
    # the read model lists each partner's open offer; nobody holds the step yet
    rows = await eventually(
        lambda: asyncio.sleep(0, _offer_rows(world, process_id)), lambda found: len(found) == 3
    )
    assert rows == {b.partner_id: "pending" for b in bidders}
    step = world.step(process_id, "install")
    assert step.status == "offered" and step.assignee_partner_id is None
    # operators find it waiting for an offer
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(PF_OFFERED) == ["install"]
    assert attributes.get(PF_ACTIVE_STEPS) == ["install"]
    await world.email_kinds(process_id, "offer", "offer", "offer")
    assert sorted(_sent_to(world, process_id, "offer")) == sorted(b.address for b in bidders)

    # refused before anything happens
    wrong = AnswerOfferInput(offer_id=_offer_of(state, second), actor=first.actor)
    assert (await _refused(handle.execute_update(PartnerProcessWorkflow.accept_offer, wrong))) == (
        f"not_found: offer {wrong.offer_id}: no such offer"
    )
    unexplained = AnswerOfferInput(offer_id=_offer_of(state, first), actor=first.actor)
    assert (
        await _refused(handle.execute_update(PartnerProcessWorkflow.decline_offer, unexplained))
    ).startswith("invalid: reason")
    move = SetDeadlineInput(step_key="install", actor=world.as_contact, due="2099-01-01")
    assert (
        await _refused(handle.execute_update(PartnerProcessWorkflow.set_deadline, move))
    ).startswith("conflict: step 'install' is offered")
    finish = CompleteStepInput(step_key="install", actor=second.actor)
    assert (
        await _refused(handle.execute_update(PartnerProcessWorkflow.complete_step, finish))
    ).startswith("conflict:")

    state = await _accept(handle, second, _offer_of(state, second))
    install = _install(state)
    accepted_at = next(o.answered_at for o in install.offers if o.status == "accepted")
    assert accepted_at is not None
    assert install.status == "active"
    assert install.assignee == ResolvedAssignee(type="partner", partner_id=second.partner_id)
    # the deadline counts from the acceptance
    assert install.activated_at == accepted_at
    assert install.due_at == accepted_at + timedelta(days=3)
    assert [o.status for o in install.offers] == ["withdrawn", "accepted", "withdrawn"]
    assert second.partner_id in state.partner_ids
    assert _events(state) == [
        "step_offered", "offer_made", "offer_made", "offer_made", "offer_accepted",
        "step_activated",
    ]  # fmt: skip
    # a later accept, by the winner or another, is a conflict
    for bidder in (first, second):
        assert (await _refused(_accept(handle, bidder, _offer_of(state, bidder)))).startswith(
            "conflict:"
        )
    await world.email_kinds(process_id, "offer_withdrawn", "offer_withdrawn", "handover")
    assert sorted(_sent_to(world, process_id, "offer_withdrawn")) == sorted(
        [first.address, third.address]
    )
    assert _sent_to(world, process_id, "handover") == [second.address]
    notices = [(n.kind, n.user_id) for n in world.notices(process_id)]
    for bidder in (first, third):
        assert ("offer_withdrawn", bidder.actor.user_id) in notices
    assert ("step_assigned", second.actor.user_id) in notices
    rows = await eventually(
        lambda: asyncio.sleep(0, _offer_rows(world, process_id)),
        lambda found: "pending" not in found.values(),
    )
    assert rows == {
        first.partner_id: "withdrawn", second.partner_id: "accepted",
        third.partner_id: "withdrawn",
    }  # fmt: skip
    assert world.step(process_id, "install").assignee_partner_id == second.partner_id
    assert (await handle.describe()).typed_search_attributes.get(PF_OFFERED) in ([], None)

    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="install", actor=second.actor),
    )
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="check", actor=world.as_contact),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "offer_first_accept")


async def test_ten_partners_accept_at_once_and_exactly_one_gets_the_step(world: World) -> None:
    bidders = _bidders(world, 10)
    handle = await _start(
        world, [_offered(None)], offer_pools={"install": [b.partner_id for b in bidders]}
    )
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    assert [o.partner_id for o in _install(state).offers] == [b.partner_id for b in bidders]

    answers = await asyncio.gather(
        *(_accept(handle, b, _offer_of(state, b)) for b in bidders), return_exceptions=True
    )
    won = [
        b for b, answer in zip(bidders, answers, strict=True) if isinstance(answer, ProcessState)
    ]
    lost = [answer for answer in answers if not isinstance(answer, ProcessState)]
    assert len(won) == 1 and len(lost) == 9
    for error in lost:
        assert isinstance(error, WorkflowUpdateFailedError)
        assert isinstance(error.cause, ApplicationError) and error.cause.type == "conflict"
    state = await handle.query(PartnerProcessWorkflow.state)
    assert _install(state).assignee.partner_id == won[0].partner_id
    assert sorted(o.status for o in _install(state).offers) == ["accepted"] + ["withdrawn"] * 9
    kinds = await world.email_kinds(process_id, *(["offer_withdrawn"] * 9), "handover")
    assert kinds.count("handover") == 1 and kinds.count("offer_withdrawn") == 9
    assert _sent_to(world, process_id, "handover") == [won[0].address]
    assert won[0].address not in _sent_to(world, process_id, "offer_withdrawn")


# one at a time -----------------------------------------------------------------------------


async def test_ranked_the_first_ignores_the_second_declines_the_third_accepts(
    world: World,
) -> None:
    bidders = _bidders(world, 3)
    first, second, third = bidders
    handle = await _start(world, [_offered(bidders, mode="ranked", wait="PT1H", expires="P1D")])
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    install = _install(state)
    (offer,) = install.offers
    assert offer.partner_id == first.partner_id
    assert offer.expires_at == offer.offered_at + timedelta(hours=1)

    # the first lets its turn pass: the second has it
    await world.env.sleep(timedelta(hours=1, minutes=1))
    state = await _state_when(handle, lambda s: len(_install(s).offers) == 2)
    assert [(o.partner_id, o.status) for o in _install(state).offers] == [
        (first.partner_id, "expired"), (second.partner_id, "pending"),
    ]  # fmt: skip
    # too late for the first
    assert (await _refused(_accept(handle, first, _offer_of(state, first)))).startswith("conflict:")

    reason = _reason(world, handle, second.actor, "No fitter free that week")
    state = await handle.execute_update(
        PartnerProcessWorkflow.decline_offer,
        AnswerOfferInput(offer_id=_offer_of(state, second), actor=second.actor, note_id=reason),
    )
    install = _install(state)
    declined = install.offers[1]
    assert (declined.status, declined.note_id) == ("declined", reason)
    assert declined.answered_at is not None
    assert (install.offers[2].partner_id, install.offers[2].status) == (third.partner_id, "pending")
    entry = next(e for e in state.timeline if e.event == "offer_declined")
    assert (entry.user_id, entry.note_id) == (second.actor.user_id, reason)

    state = await _accept(handle, third, _offer_of(state, third))
    install = _install(state)
    assert install.status == "active" and install.assignee.partner_id == third.partner_id
    assert [o.status for o in install.offers] == ["expired", "declined", "accepted"]
    assert _events(state) == [
        "step_offered", "offer_made", "offer_turn_ended", "offer_made", "offer_declined",
        "offer_made", "offer_accepted", "step_activated",
    ]  # fmt: skip
    kinds = await world.email_kinds(process_id, "offer", "offer", "offer", "handover")
    assert "offer_withdrawn" not in kinds  # nothing was pending when it was taken
    assert _sent_to(world, process_id, "offer") == [b.address for b in bidders]
    assert _sent_to(world, process_id, "handover") == [third.address]


async def test_an_offer_nobody_takes_reaches_the_contact_person_when_it_expires(
    world: World,
) -> None:
    bidders = _bidders(world, 3)
    first, second, _ = bidders
    handle = await _start(
        world, [_offered(bidders, mode="ranked", wait="PT2H", expires="PT3H"), CHECK]
    )
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    expires_at = _install(state).offer_expires_at
    assert expires_at is not None

    reason = _reason(world, handle, first.actor, "Too far away")
    state = await handle.execute_update(
        PartnerProcessWorkflow.decline_offer,
        AnswerOfferInput(offer_id=_offer_of(state, first), actor=first.actor, note_id=reason),
    )
    # the second's turn passes unanswered; the third's is cut short by the expiry
    await world.env.sleep(timedelta(hours=2, minutes=1))
    state = await _state_when(handle, lambda s: len(_install(s).offers) == 3)
    assert _install(state).offers[2].expires_at == expires_at
    await world.env.sleep(expires_at - await world.env.get_current_time() + timedelta(minutes=1))
    state = await _state_when(handle, lambda s: _install(s).status == "active")
    install = _install(state)
    assert install.assignee == ResolvedAssignee(type="contact", user_id=world.contact.id)
    assert [o.status for o in install.offers] == ["declined", "expired", "expired"]
    # the deadline counts from the expiry (the timer fires then, or a moment later)
    assert install.activated_at is not None and install.activated_at >= expires_at
    assert install.due_at == install.activated_at + timedelta(days=3)
    assert _events(state) == [
        "step_offered", "offer_made", "offer_declined", "offer_made", "offer_turn_ended",
        "offer_made", "offer_expired", "step_activated",
    ]  # fmt: skip
    found = await eventually(
        lambda: asyncio.sleep(0, world.notices(process_id)),
        lambda ns: any(n.kind == "offer_expired" for n in ns),
    )
    assert [n.user_id for n in found if n.kind == "offer_expired"] == [world.contact.id]
    history = await handle.fetch_history()
    timers = [
        json.loads(e.user_metadata.summary.data)
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    ]
    assert any(t.startswith("offer of step install expires") for t in timers)
    assert any(
        t.startswith(f"offer of step install: turn of partner {second.partner_id}") for t in timers
    )

    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="install", actor=world.as_contact),
    )
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="check", actor=world.as_contact),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "offer_ranked_expired")
    kinds = [e.kind for e in world.emails(process_id)]
    assert kinds.count("offer") == 3 and "offer_withdrawn" not in kinds


# the offer taken away ----------------------------------------------------------------------


async def test_a_revoked_partners_offer_is_withdrawn_and_the_next_is_asked(world: World) -> None:
    first, second = _bidders(world, 2)
    handle = await _start(world, [_offered([first, second], mode="ranked", wait="PT4H")])
    process_id = _process_id(handle)
    with Session(world.engine) as session:
        partner = session.get(Partner, first.partner_id)
        assert partner is not None
        partner.status = "revoked"
        session.add(partner)
        session.commit()
    state = await handle.execute_update(
        PartnerProcessWorkflow.partner_revoked, PartnerRevokedInput(partner_id=first.partner_id)
    )
    install = _install(state)
    assert [(o.partner_id, o.status) for o in install.offers] == [
        (first.partner_id, "withdrawn"), (second.partner_id, "pending"),
    ]  # fmt: skip
    await world.email_kinds(process_id, "offer", "offer")
    # the revoked partner is told nothing, not even that
    assert "offer_withdrawn" not in [e.kind for e in world.emails(process_id)]
    assert all(n.kind != "offer_withdrawn" for n in world.notices(process_id))
    assert (await _refused(_accept(handle, first, _offer_of(state, first)))).startswith("conflict:")


async def test_reassigning_skipping_or_cancelling_an_offered_step_withdraws_its_offers(
    world: World,
) -> None:
    bidders = _bidders(world, 2)
    reassigned, skipped, cancelled = await asyncio.gather(
        *(_start(world, [_offered(bidders), CHECK]) for _ in range(3))
    )
    state = await reassigned.execute_update(
        PartnerProcessWorkflow.reassign,
        ReassignInput(step_key="install", actor=world.as_contact, assignee={"type": "contact"}),
    )
    install = _install(state)
    assert install.status == "active" and install.due_at is not None
    assert install.assignee == ResolvedAssignee(type="contact", user_id=world.contact.id)
    state = await skipped.execute_update(
        PartnerProcessWorkflow.skip_step, SkipStepInput(step_key="install", actor=world.as_contact)
    )
    assert _install(state).status == "skipped"
    state = await cancelled.execute_update(
        PartnerProcessWorkflow.cancel, CancelInput(actor=world.as_contact)
    )
    assert _install(state).status == "cancelled"
    for handle in (reassigned, skipped, cancelled):
        state = await handle.query(PartnerProcessWorkflow.state)
        assert [o.status for o in _install(state).offers] == ["withdrawn", "withdrawn"]
        process_id = _process_id(handle)
        await world.email_kinds(process_id, "offer_withdrawn", "offer_withdrawn")
        assert sorted(_sent_to(world, process_id, "offer_withdrawn")) == sorted(
            b.address for b in bidders
        )
    # a partner cannot accept an offer of a step taken out of its offer
    state = await reassigned.query(PartnerProcessWorkflow.state)
    assert (
        await _refused(_accept(reassigned, bidders[0], _offer_of(state, bidders[0])))
    ).startswith("conflict:")


async def test_an_offer_with_nobody_to_ask_is_the_contact_persons_at_once(world: World) -> None:
    handle = await _start(world, [_offered(None)], offer_pools={})
    state = await handle.query(PartnerProcessWorkflow.state)
    install = _install(state)
    assert install.status == "active" and install.offers == []
    assert install.assignee == ResolvedAssignee(type="contact", user_id=world.contact.id)
    found = await eventually(
        lambda: asyncio.sleep(0, world.notices(_process_id(handle))),
        lambda ns: any(n.kind == "offer_expired" for n in ns),
    )
    assert [n.user_id for n in found if n.kind == "offer_expired"] == [world.contact.id]


# absences ----------------------------------------------------------------------------------


async def test_steps_of_someone_away_move_to_and_open_for_the_substitute(world: World) -> None:
    approver = _user(world, "Approver")
    stand_in = _user(world, "Standin")
    deputy = _user(world, "Deputy")
    now = await world.env.get_current_time()
    # the approver is away from the start: the approval opens for the stand-in
    approver_away = Absence(
        user_id=approver.user_id, starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=10), substitute_user_id=stand_in.user_id,
    )  # fmt: skip
    handle = await _start(
        world,
        [
            {"key": "check", "name": "Check", "requires": [], "assignee": {"type": "contact"}},
            {
                "key": "approve",
                "name": "Approval",
                "requires": ["check"],
                "assignee": {"type": "user", "user_id": str(approver.user_id)},
                "review": {"by": {"type": "contact"}},
            },
        ],
        absences=[approver_away],
    )
    process_id = _process_id(handle)
    state = await handle.query(PartnerProcessWorkflow.state)
    assert state.steps[0].assignee.user_id == world.contact.id

    # an absence to come moves nothing; one that ends before it starts is refused
    later = Absence(
        user_id=world.contact.id, starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=5), substitute_user_id=deputy.user_id,
    )  # fmt: skip
    state = await handle.execute_update(
        PartnerProcessWorkflow.absence, AbsenceInput(user_id=world.contact.id, absence=later)
    )
    assert state.steps[0].assignee.user_id == world.contact.id
    backwards = later.model_copy(update={"ends_at": later.starts_at - timedelta(hours=1)})
    assert (
        await _refused(
            handle.execute_update(
                PartnerProcessWorkflow.absence,
                AbsenceInput(user_id=world.contact.id, absence=backwards),
            )
        )
    ) == "invalid: absence.ends_at: must come after starts_at"

    # the contact person's absence starts: their open step moves to the deputy
    away = later.model_copy(update={"starts_at": now - timedelta(minutes=1)})
    moved = AbsenceInput(user_id=world.contact.id, absence=away)
    state = await handle.execute_update(PartnerProcessWorkflow.absence, moved)
    check = state.steps[0]
    assert check.assignee == ResolvedAssignee(type="user", user_id=deputy.user_id)
    assert check.substitute_for_user_id == world.contact.id
    entry = state.timeline[-1]
    assert (entry.event, entry.step_key, entry.user_id) == (
        "step_substituted", "check", world.contact.id,
    )  # fmt: skip
    # told again (the absence service retries), nothing moves twice
    again = await handle.execute_update(PartnerProcessWorkflow.absence, moved)
    assert again.version == state.version and again.timeline == state.timeline
    found = await eventually(
        lambda: asyncio.sleep(0, world.notices(process_id)),
        lambda ns: sum(n.kind == "step_substituted" for n in ns) == 2,
    )
    assert sorted(str(n.user_id) for n in found if n.kind == "step_substituted") == sorted(
        [str(deputy.user_id), str(world.contact.id)]
    )

    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="check", actor=deputy),
    )
    approve = state.steps[1]
    assert approve.status == "active"
    assert approve.assignee == ResolvedAssignee(type="user", user_id=stand_in.user_id)
    assert approve.substitute_for_user_id == approver.user_id
    found = await eventually(
        lambda: asyncio.sleep(0, world.notices(process_id)),
        lambda ns: sum(n.kind == "step_substituted" for n in ns) == 4,
    )
    told = {(n.user_id, n.step_key) for n in found if n.kind == "step_substituted"}
    assert {(stand_in.user_id, "approve"), (approver.user_id, "approve")} <= told
    assert (
        await _refused(
            handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="approve", actor=approver),
            )
        )
    ).startswith("forbidden:")
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="approve", actor=stand_in),
    )
    # the contact person, who reviews it, is away too: the deputy has the review
    approve = state.steps[1]
    assert approve.status == "in_review" and approve.reviewer_user_id == deputy.user_id
    await handle.execute_update(
        PartnerProcessWorkflow.review_step,
        ReviewStepInput(step_key="approve", actor=deputy, decision="approve"),
    )
    result = await handle.result()
    assert result.status == "completed" and not result.attention
    await histories.record(handle, "absence_substitute")
