"""The late-step forecast on seeded histories: a partner that always takes five days on a step
with a three-day deadline is flagged at risk on day one, one that takes a day is not, and the
contact person hears of it once; on SQLite and PostgreSQL, and through the worker."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from activities.forecast import refresh
from activities.read_model import ReadModelActivities
from partnerflow import forecast
from partnerflow.forecast_schedule import ensure_forecast_schedule
from partnerflow.models import (
    Notification,
    Opportunity,
    Partner,
    Process,
    ProcessStep,
    ProcessTemplate,
    User,
)
from tests.conftest import settings_for
from worker import build_worker
from workflows.forecast_messages import ForecastInput
from workflows.forecaster import ForecastWorkflow
from workflows.messages import ProcessState, ResolvedAssignee, StepState, TransitionWrite

DAY = timedelta(days=1)
OPENED = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


class Installers:
    """Two partners' histories of the template step `install`, one process per step."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine, expire_on_commit=False) as session:
            self.contact = User(name="Clara", email="c@example.com", role="member")
            self.slow = Partner(name="Slow", email="s@example.com", status="active")
            self.fast = Partner(name="Fast", email="f@example.com", status="active")
            self.opportunity = Opportunity(title="PV")
            session.add_all([self.contact, self.slow, self.fast, self.opportunity])
            session.flush()
            self.template = ProcessTemplate(
                name="Installation", contact_user_id=self.contact.id, language="en"
            )
            session.add(self.template)
            session.commit()

    def step(
        self,
        partner: Partner | None,
        activated: datetime,
        took: timedelta | None = None,
        due: timedelta | None = None,
    ) -> uuid.UUID:
        """A completed step (`took`) or an open one; answers its process's id."""
        with Session(self.engine) as session:
            process = Process(
                id=uuid.uuid4(),
                template_id=self.template.id,
                template_version=1,
                opportunity_id=self.opportunity.id,
                contact_user_id=self.contact.id,
            )
            session.add(process)
            session.flush()
            session.add(
                ProcessStep(
                    process_id=process.id,
                    position=0,
                    key="install",
                    name="Install",
                    status="completed" if took else "active",
                    assignee={"type": "partner"},
                    assignee_partner_id=partner.id if partner else None,
                    activated_at=activated,
                    completed_at=activated + took if took else None,
                    due_at=activated + due if due else None,
                )
            )
            session.commit()
            return process.id

    def history(self, partner: Partner, took: timedelta, n: int = 6) -> None:
        for i in range(n):
            self.step(partner, OPENED - (30 - i) * DAY, took, 3 * DAY)

    def step_row(self, process_id: uuid.UUID) -> ProcessStep:
        with Session(self.engine) as session:
            return session.exec(
                select(ProcessStep).where(ProcessStep.process_id == process_id)
            ).one()

    def at_risk_notices(self) -> list[Notification]:
        with Session(self.engine) as session:
            return list(
                session.exec(select(Notification).where(Notification.kind == "step_at_risk"))
            )


def test_the_model_in_numbers() -> None:
    three_days = OPENED + 3 * DAY
    # five days every time: late whatever the day; done five days after opening
    assert forecast.estimate([5 * 86400.0] * 6, OPENED, three_days, OPENED + DAY) == (
        1.0, OPENED + 5 * DAY,
    )  # fmt: skip
    assert forecast.estimate([86400.0] * 6, OPENED, three_days, OPENED) == (0.0, OPENED + DAY)
    # 1, 2, 4 and 5 days: half late at the start; after 2.5 days only 4 and 5 remain
    mixed = [d * 86400.0 for d in (1, 2, 4, 5)]
    assert forecast.estimate(mixed, OPENED, three_days, OPENED)[0] == 0.5
    assert forecast.estimate(mixed, OPENED, three_days, OPENED + 2.5 * DAY)[0] == 1.0
    # open longer than every sample: as likely as not before the deadline, late after it
    assert forecast.estimate([3600.0], OPENED, three_days, OPENED + DAY) == (0.5, OPENED + DAY)
    # a day's samples after exactly a day: not done yet, but not beyond them either
    assert forecast.estimate([86400.0] * 6, OPENED, three_days, OPENED + DAY)[0] == 0.0
    assert forecast.estimate([3600.0], OPENED, three_days, OPENED + 4 * DAY)[0] == 1.0
    assert forecast.choose([1.0] * 5, [2.0] * 9) == ([1.0] * 5, "partner")
    assert forecast.choose([1.0] * 4, [2.0] * 9) == ([2.0] * 9, "all_partners")
    assert forecast.choose([], [2.0] * 4) == ([], "none")


def test_a_slow_partner_is_flagged_on_day_one_and_a_fast_one_is_not(engine: Engine) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY)
    seeded.history(seeded.fast, DAY)
    slow = seeded.step(seeded.slow, OPENED, due=3 * DAY)
    fast = seeded.step(seeded.fast, OPENED, due=3 * DAY)

    first = refresh(engine, OPENED + 12 * timedelta(hours=1))  # on day one

    assert (first.steps, first.at_risk, first.notified) == (2, 1, 1)
    slow_row, fast_row = seeded.step_row(slow), seeded.step_row(fast)
    assert (slow_row.late_probability, slow_row.risk_basis) == (1.0, "partner")
    assert slow_row.expected_done_at == OPENED + 5 * DAY
    assert (fast_row.late_probability, fast_row.risk_basis) == (0.0, "partner")
    assert fast_row.expected_done_at == OPENED + DAY
    [notice] = seeded.at_risk_notices()
    assert (notice.user_id, notice.process_id, notice.step_key) == (
        seeded.contact.id, slow, "install",
    )  # fmt: skip
    assert notice.message == "Likely to finish late: Install"

    # the next rounds tell nobody again; nor does one without a day left to act
    assert refresh(engine, OPENED + DAY).notified == 0
    assert len(seeded.at_risk_notices()) == 1


def test_no_notice_without_a_day_left_and_the_fallbacks(engine: Engine) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY)
    late_to_tell = seeded.step(seeded.slow, OPENED, due=3 * DAY)
    # the fast partner has done it twice: too few of its own, so everyone's (8) count
    seeded.history(seeded.fast, DAY, n=2)
    borrowed = seeded.step(seeded.fast, OPENED, due=3 * DAY)

    refresh(engine, OPENED + 2.5 * DAY)  # half a day before the deadline

    assert seeded.step_row(late_to_tell).late_probability == 1.0
    assert seeded.at_risk_notices() == []
    row = seeded.step_row(borrowed)
    # of the 8, the 6 five-day ones are longer than the 2.5 days elapsed: all late
    assert (row.risk_basis, row.late_probability) == ("all_partners", 1.0)


def test_without_samples_the_basis_says_none(engine: Engine) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY, n=3)
    process_id = seeded.step(seeded.slow, OPENED, due=3 * DAY)
    assert refresh(engine, OPENED + DAY).at_risk == 0
    row = seeded.step_row(process_id)
    assert (row.risk_basis, row.late_probability, row.expected_done_at) == ("none", None, None)


def test_a_step_is_forecast_when_it_opens_and_the_contact_told_once(engine: Engine) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY)
    opened = datetime.now(UTC)
    process_id = uuid.uuid4()

    def state(version: int, status: str) -> ProcessState:
        return ProcessState(
            process_id=process_id,
            template_id=seeded.template.id,
            template_version=1,
            opportunity_id=seeded.opportunity.id,
            contact_user_id=seeded.contact.id,
            partner_ids=[seeded.slow.id],
            started_at=opened,
            steps=[
                StepState(
                    key="install",
                    name="Install",
                    status=status,
                    assignee=ResolvedAssignee(type="partner", partner_id=seeded.slow.id),
                    requires=[],
                    activated_at=opened,
                    completed_at=opened + DAY if status == "completed" else None,
                    due_at=opened + 3 * DAY,
                )
            ],
            version=version,
        )

    read_model = ReadModelActivities(engine)
    read_model.record_transition(TransitionWrite(state=state(1, "active")))
    row = seeded.step_row(process_id)
    assert (row.late_probability, row.risk_basis) == (1.0, "partner")
    read_model.record_transition(TransitionWrite(state=state(2, "active")))
    refresh(engine, datetime.now(UTC))
    assert [n.process_id for n in seeded.at_risk_notices()] == [process_id]

    # done: the forecast goes with it
    read_model.record_transition(TransitionWrite(state=state(3, "completed")))
    row = seeded.step_row(process_id)
    assert (row.late_probability, row.risk_basis) == (None, None)


def test_samples_are_the_partners_own_and_everyones(engine: Engine) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY)
    seeded.step(seeded.slow, OPENED, due=3 * DAY)  # open: not a sample
    with engine.connect() as connection:
        own, everyone = forecast.samples(connection, seeded.template.id, "install", seeded.slow.id)
        assert own == everyone == [5 * 86400.0] * 6
        assert forecast.samples(connection, seeded.template.id, "install", seeded.fast.id) == (
            [], [5 * 86400.0] * 6,
        )  # fmt: skip
        assert forecast.samples(connection, seeded.template.id, "survey", seeded.slow.id) == (
            [], [],
        )  # fmt: skip


async def test_the_schedule_runs_a_round_through_the_worker(
    engine: Engine, database_url: str, temporal_env: WorkflowEnvironment
) -> None:
    seeded = Installers(engine)
    seeded.history(seeded.slow, 5 * DAY)
    process_id = seeded.step(seeded.slow, datetime.now(UTC), due=3 * DAY)
    settings = settings_for(database_url)
    handle = await ensure_forecast_schedule(temporal_env.client, settings)
    try:
        described = await handle.describe()
        assert described.schedule.action.workflow == ForecastWorkflow.__name__  # type: ignore[attr-defined]
        assert described.schedule.spec.intervals[0].every == timedelta(hours=1)
        await ensure_forecast_schedule(temporal_env.client, settings)  # a second start: one
        with ThreadPoolExecutor(max_workers=2) as executor:
            async with build_worker(temporal_env.client, settings, engine, executor):
                round = await temporal_env.client.execute_workflow(
                    ForecastWorkflow.run,
                    ForecastInput(),
                    id=f"forecast-test-{uuid.uuid4()}",
                    task_queue=settings.task_queue,
                )
    finally:
        await handle.delete()
    assert (round.steps, round.at_risk, round.notified) == (1, 1, 1)
    assert seeded.step_row(process_id).late_probability == 1.0
