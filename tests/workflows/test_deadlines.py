"""Deadlines: the arithmetic, and the workflow keeping them on the time-skipping server."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from partnerflow.models import (
    Notification,
    Opportunity,
    OutboxEmail,
    Partner,
    ProcessStep,
    ProcessTemplate,
    User,
)
from partnerflow.spec import StepSpec, TemplateSnapshot, moment_from_value, parse_duration, shift
from tests.conftest import settings_for
from worker import build_worker
from workflows.deadlines import add_business_days, check_region, is_business_day
from workflows.messages import (
    Actor,
    AddDocumentInput,
    AwaitRecordedInput,
    CompleteStepInput,
    DocumentRef,
    ProcessInput,
    ProcessState,
    SetDeadlineInput,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.versions import CODE_VERSION

# The arithmetic: calendar durations, business days, regional holidays, local dates (pure).

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_day_across_the_spring_dst_change_keeps_the_wall_clock() -> None:
    before = datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN)  # Saturday; clocks go forward that night
    due = shift(before, parse_duration("P1D"), BERLIN)
    assert due.astimezone(BERLIN) == datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN)
    assert due - before == timedelta(hours=23)
    # Hours are elapsed time: 24 of them end at 11:00 summer time.
    assert shift(before, parse_duration("PT24H"), BERLIN).astimezone(BERLIN).hour == 11


def test_a_day_across_the_autumn_dst_change_keeps_the_wall_clock() -> None:
    before = datetime(2026, 10, 24, 10, 0, tzinfo=BERLIN)
    due = shift(before, parse_duration("P1D"), BERLIN)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 25, 10, 0)
    assert due - before == timedelta(hours=25)


def test_reminder_before_a_deadline_goes_backwards() -> None:
    due = datetime(2026, 12, 11, 14, 0, tzinfo=BERLIN)
    reminder = shift(due, parse_duration("P1D"), BERLIN, sign=-1)
    assert reminder.astimezone(BERLIN) == datetime(2026, 12, 10, 14, 0, tzinfo=BERLIN)


def test_month_end_is_clamped() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=BERLIN)
    assert shift(start, parse_duration("P1M"), BERLIN).astimezone(BERLIN).date() == date(
        2026, 2, 28
    )


def test_five_business_days_over_german_unity_day() -> None:
    # Wednesday 1 October 2025; Friday the 3rd is a public holiday everywhere in Germany.
    start = datetime(2025, 10, 1, 9, 0, tzinfo=BERLIN)
    due = add_business_days(start, 5, BERLIN, "DE-NW").astimezone(BERLIN)
    assert due == datetime(2025, 10, 9, 9, 0, tzinfo=BERLIN)  # Thu 2, Mon 6, Tue 7, Wed 8, Thu 9


def test_corpus_christi_counts_in_nrw_not_in_berlin() -> None:
    corpus_christi = date(2026, 6, 4)
    assert not is_business_day(corpus_christi, "DE-NW")
    assert is_business_day(corpus_christi, "DE-BE")
    start = datetime(2026, 6, 3, 12, 0, tzinfo=BERLIN)  # the Wednesday before
    assert add_business_days(start, 1, BERLIN, "DE-NW").astimezone(BERLIN).date() == date(
        2026, 6, 5
    )
    assert add_business_days(start, 1, BERLIN, "DE-BE").astimezone(BERLIN).date() == corpus_christi


def test_date_only_appointment_ends_at_235959_local_time() -> None:
    due = moment_from_value("2026-12-11", BERLIN)
    assert due.astimezone(BERLIN) == datetime(2026, 12, 11, 23, 59, 59, tzinfo=BERLIN)
    assert due.tzinfo == UTC
    summer = moment_from_value("2026-07-01", BERLIN)
    assert summer == datetime(2026, 7, 1, 21, 59, 59, tzinfo=UTC)


def test_recorded_datetime_keeps_its_offset() -> None:
    assert moment_from_value("2026-12-11T14:00:00+01:00", BERLIN) == datetime(
        2026, 12, 11, 13, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["", "P", "PT", "3D", "P1.5D", "P1DT", "P-1D", "p3d", "P99999D"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|ten years"):
        parse_duration(text)


@pytest.mark.parametrize("region", ["XX", "DE-ZZ", "DE-"])
def test_unknown_regions_are_refused(region: str) -> None:
    if region == "DE-":
        check_region(region)  # a country without subdivision: all of Germany's national holidays
        return
    with pytest.raises(ValueError, match="unknown region"):
        check_region(region)


REGIONS = st.sampled_from(["DE-NW", "DE-BE", "DE-BY", "AT", "FR", "DE-SN"])
MOMENTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(BERLIN)
)


@settings(max_examples=300, deadline=None)
@given(moment=MOMENTS, count=st.integers(min_value=1, max_value=40), region=REGIONS)
def test_business_day_deadline_is_never_a_weekend_or_holiday(
    moment: datetime, count: int, region: str
) -> None:
    due = add_business_days(moment, count, BERLIN, region).astimezone(BERLIN)
    assert is_business_day(due.date(), region)
    assert due > moment


@settings(max_examples=300, deadline=None)
@given(moment=MOMENTS, count=st.integers(min_value=0, max_value=40), region=REGIONS)
def test_one_more_business_day_is_never_earlier(moment: datetime, count: int, region: str) -> None:
    assert add_business_days(moment, count + 1, BERLIN, region) > add_business_days(
        moment, count, BERLIN, region
    )


# The article's installation scenario on the time-skipping server: days pass in moments.
# The workflow runs with its real activities against the database; the test drives it as the
# API would (updates carrying the actor) and reads what people would see: the outbox, the
# in-app notifications and the read model.


@dataclass
class World:
    env: WorkflowEnvironment
    engine: Engine
    task_queue: str
    contact: Actor
    partner: Actor
    partner_id: uuid.UUID
    opportunity_id: uuid.UUID
    template_id: uuid.UUID

    async def start(self, steps: list[dict[str, Any]]) -> WorkflowHandle[Any, ProcessState]:
        process_id = uuid.uuid4()
        template = TemplateSnapshot(
            template_id=self.template_id,
            version=1,
            name="PV",
            language="de",
            timezone="Europe/Berlin",
            steps=[StepSpec.model_validate(step) for step in steps],
        )
        handle = await self.env.client.start_workflow(
            PartnerProcessWorkflow.run,
            ProcessInput(
                process_id=process_id,
                template=template,
                opportunity_id=self.opportunity_id,
                contact_user_id=self.contact.user_id,
                code_version=CODE_VERSION,
                partners={"installer": self.partner_id},
            ),
            id=workflow_id_for(process_id),
            task_queue=self.task_queue,
        )
        # As the API does: carry on once the read model shows the process.
        await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
        return handle

    def emails(self, process_id: uuid.UUID) -> list[OutboxEmail]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(OutboxEmail)
                    .where(OutboxEmail.process_id == process_id)
                    .order_by(col(OutboxEmail.created_at))
                )
            )

    def notifications(self, process_id: uuid.UUID) -> list[Notification]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(Notification)
                    .where(Notification.process_id == process_id)
                    .order_by(col(Notification.created_at))
                )
            )

    def step(self, process_id: uuid.UUID, key: str) -> ProcessStep:
        with Session(self.engine) as session:
            return session.exec(
                select(ProcessStep).where(
                    ProcessStep.process_id == process_id, ProcessStep.key == key
                )
            ).one()

    async def until(self, check: Any, what: str) -> None:
        """Activities run in real time after a timer fired; give them a moment."""
        for _ in range(200):
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never happened: {what}")


@pytest.fixture
async def world(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> AsyncIterator[World]:
    with Session(engine, expire_on_commit=False) as session:
        contact = User(name="Carla Kontakt", email="carla@company.example.com", role="member")
        partner = Partner(name="Dach & Sonne GmbH", email="info@dach.example.com", status="active")
        session.add_all([contact, partner])
        session.flush()
        partner_user = User(
            name="Paul Monteur",
            email="paul@dach.example.com",
            role="partner",
            partner_id=partner.id,
        )
        opportunity = Opportunity(
            title="PV Becker",
            customer={"name": "Jana Becker", "address": {"street": "Lindenweg 4", "city": "Köln"}},
        )
        template = ProcessTemplate(name="PV", contact_user_id=contact.id)
        session.add_all([partner_user, opportunity, template])
        session.commit()
    settings = settings_for(database_url)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(time_skipping_env.client, settings, engine, executor):
            yield World(
                env=time_skipping_env,
                engine=engine,
                task_queue=settings.task_queue,
                contact=Actor(user_id=contact.id, name=contact.name, role="member"),
                partner=Actor(
                    user_id=partner_user.id,
                    name=partner_user.name,
                    role="partner",
                    partner_id=partner.id,
                    permissions=["steps:complete", "steps:set_deadline", "documents:upload"],
                ),
                partner_id=partner.id,
                opportunity_id=opportunity.id,
                template_id=template.id,
            )


INSTALLATION_PROCESS: list[dict[str, Any]] = [
    {"key": "commission", "name": "Partner beauftragen", "assignee": {"type": "contact"}},
    {
        "key": "agree_appointment",
        "name": "Termin vereinbaren",
        "assignee": {"type": "partner_slot", "slot": "installer"},
        "fields": [
            {"key": "installation_date", "label": "Termin", "type": "date", "required": True}
        ],
    },
    {
        "key": "installation",
        "name": "Installation",
        "assignee": {"type": "partner_slot", "slot": "installer"},
        "deadline": {"from_field": {"step": "agree_appointment", "field": "installation_date"}},
        "reminders": ["P1D"],
        "documents": [
            {"type": "invoice", "label": "Rechnung", "required": True},
            {"type": "attachment", "label": "Anhänge", "required": False},
        ],
    },
    {"key": "acceptance", "name": "Abnahme prüfen", "assignee": {"type": "contact"}},
]


async def test_the_articles_installation_scenario(world: World) -> None:
    handle = await world.start(INSTALLATION_PROCESS)
    process_id = uuid.UUID(handle.id.removeprefix("process-"))

    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="commission", actor=world.contact),
    )
    await world.until(lambda: len(world.emails(process_id)) == 1, "the hand-over e-mail")
    handover = world.emails(process_id)[0]
    assert (handover.kind, handover.to) == (
        "handover",
        "info@dach.example.com, paul@dach.example.com",
    )

    # The partner records the installation date agreed with the customer.
    today = (await world.env.get_current_time()).astimezone(BERLIN).date()
    appointment = today + timedelta(days=10)
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(
            step_key="agree_appointment",
            actor=world.partner,
            fields={"installation_date": appointment.isoformat()},
        ),
    )
    # ... and it is the installation step's deadline: the end of that day, Berlin time.
    due = world.step(process_id, "installation").due_at
    assert due is not None
    assert due.astimezone(BERLIN) == datetime.combine(
        appointment, datetime.min.time(), tzinfo=BERLIN
    ).replace(hour=23, minute=59, second=59)
    await world.until(lambda: len(world.emails(process_id)) == 3, "the installation hand-over")
    installation_handover = world.emails(process_id)[2]
    assert installation_handover.kind == "handover"
    assert f"{appointment.day}. " in installation_handover.html  # "Frist: Montag, 8. Dezember …"

    # A day before the appointment the partner is reminded, once.
    await world.env.sleep(due - (await world.env.get_current_time()) - timedelta(hours=23))
    await world.until(
        lambda: [e.kind for e in world.emails(process_id)].count("reminder") == 1, "the reminder"
    )
    reminder = next(e for e in world.emails(process_id) if e.kind == "reminder")
    assert reminder.to == "info@dach.example.com, paul@dach.example.com"
    assert world.step(process_id, "installation").overdue is False

    # The partner misses the deadline: overdue, the contact is told by e-mail and in-app.
    await world.env.sleep(timedelta(hours=24))
    await world.until(lambda: world.step(process_id, "installation").overdue, "overdue")
    await world.until(
        lambda: any(e.kind == "overdue" for e in world.emails(process_id)), "the overdue e-mail"
    )
    overdue = next(e for e in world.emails(process_id) if e.kind == "overdue")
    assert overdue.to == "carla@company.example.com"
    await world.until(
        lambda: any(n.kind == "step_overdue" for n in world.notifications(process_id)),
        "the overdue notice",
    )

    # Completing without the invoice is refused, naming the document.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key="installation", actor=world.partner),
        )
    assert "step 'installation', document 'invoice': 0 of 1 uploaded" in str(refused.value.cause)
    for doc_type in ("invoice", "attachment"):
        await handle.execute_update(
            PartnerProcessWorkflow.add_document,
            AddDocumentInput(
                step_key="installation",
                actor=world.partner,
                document=DocumentRef(id=uuid.uuid4(), type=doc_type, filename=f"{doc_type}.pdf"),
            ),
        )
    state = await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="installation", actor=world.partner),
    )
    # The contact is told the partner is done, and the next internal step is theirs.
    assert {s.key: s.status for s in state.steps}["acceptance"] == "active"
    await world.until(
        lambda: any(e.kind == "completion" for e in world.emails(process_id)),
        "the completion e-mail",
    )
    await world.until(
        lambda: (
            {"step_completed", "step_assigned"}
            <= {
                n.kind
                for n in world.notifications(process_id)
                if n.user_id == world.contact.user_id
            }
        ),
        "the contact's notices",
    )
    await handle.execute_update(
        PartnerProcessWorkflow.complete_step,
        CompleteStepInput(step_key="acceptance", actor=world.contact),
    )
    result = await handle.result()
    assert result.status == "completed"

    kinds = sorted(e.kind for e in world.emails(process_id))
    assert kinds == ["completion", "completion", "handover", "handover", "overdue", "reminder"]
    assert len({e.idempotency_key for e in world.emails(process_id)}) == len(kinds)


async def test_a_moved_deadline_never_fires_the_old_reminder(world: World) -> None:
    handle = await world.start(
        [
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner_slot", "slot": "installer"},
                "requires": [],
                "deadline": {"after": "P5D"},
                "reminders": ["P1D"],
            }
        ]
    )
    process_id = uuid.UUID(handle.id.removeprefix("process-"))
    await world.until(
        lambda: world.step(process_id, "installation").due_at is not None, "a deadline"
    )
    first_due = world.step(process_id, "installation").due_at
    assert first_due is not None
    later = first_due + timedelta(days=5)
    await handle.execute_update(
        PartnerProcessWorkflow.set_deadline,
        SetDeadlineInput(step_key="installation", actor=world.partner, due=later.isoformat()),
    )
    assert world.step(process_id, "installation").due_at == later

    # Past the old reminder and the old deadline: nothing fires.
    await world.env.sleep(timedelta(days=5, hours=1))
    await asyncio.sleep(0.5)
    # the partner moved it itself: its new appointment is confirmed, nothing else goes out
    assert [e.kind for e in world.emails(process_id)] == ["handover", "appointment"]
    assert world.step(process_id, "installation").overdue is False

    # The reminder for the new date fires, once, a day before it.
    await world.env.sleep(timedelta(days=4))
    await world.until(
        lambda: (
            [e.kind for e in world.emails(process_id)] == ["handover", "appointment", "reminder"]
        ),
        "the new reminder",
    )
    assert world.step(process_id, "installation").overdue is False
    history = await handle.fetch_history()
    cancelled = [e for e in history.events if e.HasField("timer_canceled_event_attributes")]
    assert cancelled, "the old deadline's timer was cancelled"
    await handle.terminate("test over")


# A process waiting days for its partner: the read model follows each transition.


def _rows(engine: Engine) -> tuple[User, Partner, Opportunity, ProcessTemplate]:
    with Session(engine, expire_on_commit=False) as session:
        contact = User(name="Carla Kontakt", email="carla@company.example.com", role="member")
        partner = Partner(name="Dach & Sonne", email="info@dach.example.com", status="active")
        opportunity = Opportunity(title="PV", customer={"name": "Jana Becker"})
        session.add_all([contact, partner, opportunity])
        session.flush()
        template = ProcessTemplate(name="PV", contact_user_id=contact.id)
        session.add(template)
        session.commit()
        return contact, partner, opportunity, template


async def test_process_waits_days_for_the_partner_and_completes(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    contact, partner, opportunity, template_row = _rows(engine)
    settings = settings_for(database_url)
    template = TemplateSnapshot(
        template_id=template_row.id,
        version=1,
        name="PV",
        language="en",
        timezone="Europe/Berlin",
        steps=[
            StepSpec.model_validate(
                {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}}
            ),
            StepSpec.model_validate(
                {
                    "key": "install",
                    "name": "Install",
                    "assignee": {"type": "partner_slot", "slot": "installer"},
                }
            ),
        ],
    )
    process_id = uuid.uuid4()
    client = time_skipping_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await client.start_workflow(
                PartnerProcessWorkflow.run,
                ProcessInput(
                    process_id=process_id,
                    template=template,
                    opportunity_id=opportunity.id,
                    contact_user_id=contact.id,
                    code_version=CODE_VERSION,
                    partners={"installer": partner.id},
                ),
                id=workflow_id_for(process_id),
                task_queue=settings.task_queue,
            )
            as_contact = Actor(user_id=contact.id, name=contact.name, role="member")
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="commission", actor=as_contact),
            )
            await time_skipping_env.sleep(timedelta(days=3))
            as_partner = Actor(
                user_id=uuid.uuid4(),
                name="Paul",
                role="partner",
                partner_id=partner.id,
                permissions=["steps:complete"],
            )
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="install", actor=as_partner),
            )
            result = await handle.result()

    assert result.status == "completed"
    install = result.steps[1]
    assert install.assignee.partner_id == partner.id
    assert install.completed_at is not None and install.activated_at is not None
    assert install.completed_at - install.activated_at >= timedelta(days=3)
    with Session(engine) as session:
        rows = session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process_id)
            .order_by(ProcessStep.position)  # type: ignore[arg-type]
        ).all()
    assert [(r.key, r.status) for r in rows] == [
        ("commission", "completed"),
        ("install", "completed"),
    ]
