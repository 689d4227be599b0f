"""The late-step forecast: how likely an open step is to finish after its deadline, and when
it will probably be done, from how long the same template step took before (docs/forecast.md).

The samples are the times to complete (activation to completion) of the newest `WINDOW`
completions of the same step key in the same template, test runs left out: the assigned
partner's own when it has at least `MIN_SAMPLES`, else everyone's, else none. Given that
the step has been open for `elapsed` and is not done, only the samples at least as long as
`elapsed` can still describe it: the late probability is the share of those that are also
longer than the time the deadline allows, and the expected completion is the activation
plus their median. A step open longer than every sample is beyond what the history knows:
late (1.0) once its deadline has passed, else as likely late as not (0.5), expected now.

The contact person is told once per process and step (`step_at_risk`) when the probability
reaches `AT_RISK` while the deadline is at least `TIME_TO_ACT` away.
"""

import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy
from pydantic import BaseModel
from sqlalchemy import Table, literal, union_all
from sqlalchemy.engine import Connection

from partnerflow.db import epoch_seconds
from partnerflow.models import Process, ProcessStep, ProcessTemplate, RiskBasis
from workflows import notices
from workflows.messages import NotificationRequest

MIN_SAMPLES = 5
WINDOW = 200  # the newest completions read per basis: old habits fade
AT_RISK = 0.5
TIME_TO_ACT = timedelta(days=1)

PROCESS: Table = Process.__table__  # type: ignore[attr-defined]
STEP: Table = ProcessStep.__table__  # type: ignore[attr-defined]
TEMPLATE: Table = ProcessTemplate.__table__  # type: ignore[attr-defined]


class StepRisk(BaseModel):
    """An open step's forecast, as staff see it beside the step."""

    late_probability: float | None
    expected_done_at: datetime | None
    basis: RiskBasis


def estimate(
    durations: Sequence[float], activated_at: datetime, due_at: datetime, now: datetime
) -> tuple[float, datetime]:
    """The late probability and expected completion from past times to complete (seconds),
    given that the step, open since `activated_at`, is not done at `now`. Pure."""
    elapsed = max((now - activated_at).total_seconds(), 0.0)
    allowed = (due_at - activated_at).total_seconds()
    still = [d for d in durations if d >= elapsed]
    if not still:
        return (1.0 if now > due_at else 0.5), now
    late = 1.0 if elapsed >= allowed else sum(1 for d in still if d > allowed) / len(still)
    expected = activated_at + timedelta(seconds=statistics.median(still))
    return round(late, 4), expected


def choose(own: list[float], everyone: list[float]) -> tuple[list[float], RiskBasis]:
    """The partner's own samples when there are enough, else everyone's, else none."""
    if len(own) >= MIN_SAMPLES:
        return own, "partner"
    if len(everyone) >= MIN_SAMPLES:
        return everyone, "all_partners"
    return [], "none"


# reading the samples, writing the forecast --------------------------------------------------


@dataclass(frozen=True)
class OpenStep:
    """An open step with a deadline, and what its forecast and notice need."""

    id: uuid.UUID
    process_id: uuid.UUID
    key: str
    name: str
    template_id: uuid.UUID
    partner_id: uuid.UUID | None
    contact_user_id: uuid.UUID
    activated_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Assessed:
    step: OpenStep
    risk: StepRisk


def samples(
    connection: Connection, template_id: uuid.UUID, key: str, partner_id: uuid.UUID | None
) -> tuple[list[float], list[float]]:
    """The partner's and everyone's newest times to complete of the template step (seconds):
    one statement, each branch through an index in completion order (the partner's on
    (assignee_partner_id, status, completed_at), everyone's on (key, status, completed_at))."""
    dialect = connection.dialect.name
    took = epoch_seconds(dialect, STEP.c.completed_at) - epoch_seconds(dialect, STEP.c.activated_at)

    def newest(mine: bool) -> sqlalchemy.Subquery:
        statement = (
            sqlalchemy.select(literal(mine).label("own"), took.label("seconds"))
            .select_from(STEP.join(PROCESS, PROCESS.c.id == STEP.c.process_id))
            .where(
                STEP.c.key == key,
                STEP.c.status == "completed",
                STEP.c.activated_at.is_not(None),
                PROCESS.c.template_id == template_id,
                PROCESS.c.test.is_(False),
            )
            .order_by(STEP.c.completed_at.desc())
            .limit(WINDOW)
        )
        if mine:
            statement = statement.where(STEP.c.assignee_partner_id == partner_id)
        return statement.subquery()

    branches = [newest(False)] + ([newest(True)] if partner_id is not None else [])
    own: list[float] = []
    everyone: list[float] = []
    statement = union_all(*(sqlalchemy.select(b.c.own, b.c.seconds) for b in branches))
    for mine, seconds in connection.execute(statement):
        (own if mine else everyone).append(float(seconds))
    return own, everyone


def assess(connection: Connection, steps: Sequence[OpenStep], now: datetime) -> list[Assessed]:
    """Forecast each step and store it on its row (while the step is still open). Steps of
    the same template step and partner share one read of the samples."""
    read: dict[tuple[uuid.UUID, str, uuid.UUID | None], tuple[list[float], RiskBasis]] = {}
    assessed = []
    for step in steps:
        which = (step.template_id, step.key, step.partner_id)
        if which not in read:
            read[which] = choose(*samples(connection, *which))
        durations, basis = read[which]
        if basis == "none":
            risk = StepRisk(late_probability=None, expected_done_at=None, basis=basis)
        else:
            late, expected = estimate(durations, step.activated_at, step.due_at, now)
            risk = StepRisk(late_probability=late, expected_done_at=expected, basis=basis)
        assessed.append(Assessed(step, risk))
    if assessed:
        connection.execute(
            STEP.update()
            .where(STEP.c.id == sqlalchemy.bindparam("step_id"), STEP.c.status == "active")
            .values(
                late_probability=sqlalchemy.bindparam("p"),
                expected_done_at=sqlalchemy.bindparam("expected"),
                risk_basis=sqlalchemy.bindparam("basis"),
                risk_updated_at=now,
            ),
            [
                {
                    "step_id": a.step.id,
                    "p": a.risk.late_probability,
                    "expected": a.risk.expected_done_at,
                    "basis": a.risk.basis,
                }
                for a in assessed
            ],
        )
    return assessed


def open_steps(connection: Connection) -> list[OpenStep]:
    """Every open step with a deadline (the index on (status, due_at)), with its process's
    template and contact person."""
    statement = (
        sqlalchemy.select(
            STEP.c.id,
            STEP.c.process_id,
            STEP.c.key,
            STEP.c.name,
            PROCESS.c.template_id,
            STEP.c.assignee_partner_id,
            PROCESS.c.contact_user_id,
            STEP.c.activated_at,
            STEP.c.due_at,
        )
        .select_from(STEP.join(PROCESS, PROCESS.c.id == STEP.c.process_id))
        .where(
            STEP.c.status == "active",
            STEP.c.due_at.is_not(None),
            STEP.c.activated_at.is_not(None),
        )
        .order_by(PROCESS.c.template_id, STEP.c.key)
    )
    return [OpenStep(*row) for row in connection.execute(statement)]


def at_risk_notices(
    connection: Connection, assessed: Sequence[Assessed], now: datetime
) -> list[NotificationRequest]:
    """`step_at_risk` for the contact person of each step likely late while there is still
    time to act; the key is the same every time, so each goes out once per process and step."""
    due = [
        a
        for a in assessed
        if (a.risk.late_probability or 0) >= AT_RISK and a.step.due_at - now >= TIME_TO_ACT
    ]
    if not due:
        return []
    languages = {
        template_id: language
        for template_id, language in connection.execute(
            sqlalchemy.select(TEMPLATE.c.id, TEMPLATE.c.language).where(
                TEMPLATE.c.id.in_({a.step.template_id for a in due})
            )
        )
    }
    return [
        NotificationRequest(
            process_id=a.step.process_id,
            to_user_id=a.step.contact_user_id,
            kind="step_at_risk",
            step_key=a.step.key,
            message=notices.at_risk(languages.get(a.step.template_id, "en"), a.step.name),
            idempotency_key=f"{a.step.process_id}:{a.step.key}:at_risk:notice",
        )
        for a in due
    ]
