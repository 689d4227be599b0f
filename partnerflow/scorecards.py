"""How reliably a partner finished its steps over a period (its scorecard), and the open work
by deadline week: read from the process read model, test runs left out.

A step counts for the partner it was assigned to when it was completed. Its time to complete
runs from `activated_at` to `completed_at` (for a reviewed step to when the partner last
finished it, `submitted_at`: a slow reviewer does not make the partner late); it was on time
when that moment is at or before `due_at` (a step without a deadline counts for the times,
not for the on-time rate). The median is the
middle value (the mean of the two middle ones for an even count); p90 is the nearest rank,
the ceil(0.9 n)-th smallest. A decline, and a request for changes, count for the partner
their reason's note names, when it was written (partnerflow/steps.py writes it so). Rows
come through indexed WHERE clauses only (migrations 0012 and 0015),
as plain numbers the database computed (hours, on time, seconds since 1970); counting,
percentiles and months happen here in one pass, the same on SQLite and PostgreSQL.
"""

import math
import statistics
import uuid
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy
from pydantic import BaseModel, Field
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from partnerflow import partners
from partnerflow.callers import Caller
from partnerflow.db import epoch_seconds
from partnerflow.models import Partner, Process, ProcessNote, ProcessStep, ProcessTemplate
from partnerflow.refusals import Refused, forbidden
from partnerflow.wording import N_

MAX_SPAN = timedelta(days=3660)  # ten years: a chart of months stays readable
# The edges of the time-to-complete histogram, in hours; the last bin is open-ended.
HOUR_EDGES = (0, 4, 24, 48, 72, 120, 168, 336, 720)
# the API's labels; a page says them in its reader's language (partnerflow/charts.py)
HOUR_LABELS = (
    N_("under 4 h"), N_("4–24 h"), N_("1–2 d"), N_("2–3 d"), N_("3–5 d"), N_("5–7 d"),
    N_("7–14 d"), N_("14–30 d"), N_("over 30 d"),
)  # fmt: skip
DEADLINE_WEEKS = 8  # the dashboard's weeks ahead, the current one included


@dataclass(frozen=True)
class Period:
    """Whole days, `first` to `last` inclusive, in the installation's time zone."""

    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.timezone))

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.timezone))


def period(first: date | None, last: date | None, timezone: str, now: datetime) -> Period:
    """The period asked for; by default the last 12 months: this month and the 11 before."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    last = last or today
    if first is None:
        months_back = last.year * 12 + last.month - 1 - 11
        first = date(months_back // 12, months_back % 12 + 1, 1)
    if first > last:
        raise Refused("invalid", "`from` is after `to`", "from", where="query")
    if last - first > MAX_SPAN or last >= date.max - timedelta(days=1):
        raise Refused("invalid", "the period may span at most ten years", "to", where="query")
    return Period(first, last, timezone)


class StepRecord(BaseModel):
    """One template step's completions by the partner in the period."""

    template_id: uuid.UUID
    template_name: str
    step_key: str
    step_name: str
    n: int
    on_time_rate: float | None = Field(description="share on time of those with a deadline")
    median_hours: float | None
    p90_hours: float | None


class MonthRecord(BaseModel):
    month: str = Field(description="YYYY-MM, in the installation's time zone")
    steps_completed: int
    with_deadline: int
    on_time: int
    on_time_rate: float | None


class DurationBin(BaseModel):
    """Completions whose time to complete is at least `from_hours`, less than `to_hours`."""

    label: str
    from_hours: int
    to_hours: int | None
    n: int


class Scorecard(BaseModel):
    partner_id: uuid.UUID
    partner_name: str
    from_date: date
    to_date: date = Field(description="inclusive")
    steps_completed: int
    with_deadline: int = Field(description="completed steps that had a deadline")
    on_time: int
    on_time_rate: float | None = Field(
        description="on_time / with_deadline, 0 to 1; null without a step with a deadline"
    )
    median_hours: float | None = Field(description="time to complete, activation to completion")
    p90_hours: float | None = Field(description="nearest rank: ceil(0.9 n)-th smallest")
    overdue_now: int = Field(description="open steps past their deadline, whatever the period")
    declined: int = Field(description="steps the partner handed back in the period")
    changes_requested: int = Field(
        description="times a reviewer sent the partner's work back in the period"
    )
    by_step: list[StepRecord]
    by_month: list[MonthRecord]
    time_to_complete: list[DurationBin]


class WeekLoad(BaseModel):
    """Open steps due in one week (`starts` on a Monday), or already overdue, or later."""

    label: str
    starts: date | None
    open_steps: int
    overdue: bool = False


# who may see which --------------------------------------------------------------------------


def of_partner(
    session: Session, caller: Caller, partner_id: uuid.UUID, asked: Period, now: datetime
) -> Scorecard:
    """A partner's scorecard: staff see any partner's, a partner's users only their own."""
    return scorecard(session, partners.visible(session, caller, partner_id), asked, now)


def own(session: Session, caller: Caller, asked: Period, now: datetime) -> Scorecard:
    """The scorecard of the caller's own partner organisation."""
    if caller.partner is None:
        raise forbidden("only a partner's users have a scorecard of their own")
    return scorecard(session, caller.partner, asked, now)


# the numbers ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """Completions counted together (a template step, a month, the whole period)."""

    n: int = 0
    with_deadline: int = 0
    on_time: int = 0
    hours: list[float] = field(default_factory=list)
    name: str = ""

    def merge(self, other: "_Tally") -> None:
        self.n += other.n
        self.with_deadline += other.with_deadline
        self.on_time += other.on_time
        self.hours += other.hours

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.with_deadline, 4) if self.with_deadline else None


def scorecard(session: Session, partner: Partner, asked: Period, now: datetime) -> Scorecard:
    months = _month_starts(asked)
    by_month = [_Tally() for _ in months]
    edges = [start.timestamp() for _, start in months]
    groups: dict[tuple[str, str], _Tally] = {}
    for template_id, key, name, hours, on_time, finished in _completed(session, partner, asked):
        group = groups.get((template_id, key))
        if group is None:
            group = groups[template_id, key] = _Tally()
        month = by_month[bisect_right(edges, finished) - 1]
        group.n += 1
        month.n += 1
        group.name = name  # the newest name (rows come in completion order), if renamed
        if hours is not None:
            group.hours.append(hours)
        if on_time is not None:
            group.with_deadline += 1
            group.on_time += on_time
            month.with_deadline += 1
            month.on_time += on_time
    total = _Tally()
    for group in groups.values():
        total.merge(group)
    ids = {group_key: uuid.UUID(str(group_key[0])) for group_key in groups}
    names = _template_names(session, set(ids.values()))
    by_step = [
        StepRecord(
            template_id=ids[group_key],
            template_name=names.get(ids[group_key], ""),
            step_key=group_key[1],
            step_name=group.name,
            n=group.n,
            on_time_rate=group.rate,
            median_hours=_median(group.hours),
            p90_hours=_p90(group.hours),
        )
        for group_key, group in groups.items()
    ]
    by_step.sort(key=lambda s: (s.template_name, s.template_id, s.step_key))
    noted = _noted(session, partner.id, asked)
    return Scorecard(
        partner_id=partner.id,
        partner_name=partner.name,
        from_date=asked.first,
        to_date=asked.last,
        steps_completed=total.n,
        with_deadline=total.with_deadline,
        on_time=total.on_time,
        on_time_rate=total.rate,
        median_hours=_median(total.hours),
        p90_hours=_p90(total.hours),
        overdue_now=_overdue_now(session, partner.id, now),
        declined=noted.get("decline_reason", 0),
        changes_requested=noted.get("review_reason", 0),
        by_step=by_step,
        by_month=[
            MonthRecord(
                month=month,
                steps_completed=tally.n,
                with_deadline=tally.with_deadline,
                on_time=tally.on_time,
                on_time_rate=tally.rate,
            )
            for (month, _), tally in zip(months, by_month, strict=True)
        ],
        time_to_complete=_histogram(total.hours),
    )


def _completed(
    session: Session, partner: Partner, asked: Period
) -> Iterable[tuple[Any, str, str, float | None, int | None, float]]:
    """The partner's completions in the period, in completion order, through the index on
    (assignee_partner_id, status, completed_at), each joined to its process by key: template
    id (as the driver gives it), step key and name, hours to complete, on time (1, 0, or None
    without a deadline), completion in seconds since 1970. Core, not the ORM: thousands of
    rows of a few numbers each."""
    connection = session.connection()
    dialect = connection.dialect.name
    step = ProcessStep.__table__.c  # type: ignore[attr-defined]
    finished = epoch_seconds(dialect, step.completed_at)
    # a reviewed step: the partner's own last finish, not the reviewer's approval
    done = func.coalesce(step.submitted_at, step.completed_at)
    took = (epoch_seconds(dialect, done) - epoch_seconds(dialect, step.activated_at)) / 3600.0
    on_time = case((step.due_at.is_(None), None), (done <= step.due_at, 1), else_=0)
    statement = (
        sqlalchemy.select(
            # the driver's value (text on SQLite), made a UUID once per template step
            sqlalchemy.type_coerce(col(Process.template_id), sqlalchemy.String),
            step.key,
            step.name,
            took,
            on_time,
            finished,
        )
        .join(Process, col(Process.id) == step.process_id)
        .where(
            step.assignee_partner_id == partner.id,
            step.status == "completed",
            step.completed_at >= asked.start,
            step.completed_at < asked.end,
            col(Process.test).is_(False),
        )
        .order_by(step.completed_at)
    )
    return connection.execute(statement)


def _overdue_now(session: Session, partner_id: uuid.UUID, now: datetime) -> int:
    statement = (
        select(func.count())
        .select_from(ProcessStep)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            ProcessStep.assignee_partner_id == partner_id,
            ProcessStep.status == "active",
            col(ProcessStep.due_at) < now,
            col(Process.test).is_(False),
        )
    )
    return session.exec(statement).one()


def _noted(session: Session, partner_id: uuid.UUID, asked: Period) -> dict[str, int]:
    """How many declines and requests for changes count on the partner in the period, by note
    kind: the notes that name it (written with each decline, and with each request for
    changes of its work), through the index on (partner_id, kind, created_at)."""
    statement = (
        select(ProcessNote.kind, func.count())
        .join(Process, col(Process.id) == ProcessNote.process_id)
        .where(
            ProcessNote.partner_id == partner_id,
            col(ProcessNote.kind).in_(("decline_reason", "review_reason")),
            col(ProcessNote.created_at) >= asked.start,
            col(ProcessNote.created_at) < asked.end,
            col(Process.test).is_(False),
        )
        .group_by(col(ProcessNote.kind))
    )
    return {kind: count for kind, count in session.exec(statement)}


def _template_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.exec(
        select(ProcessTemplate.id, ProcessTemplate.name).where(col(ProcessTemplate.id).in_(ids))
    )
    return dict(rows.all())


def _median(hours: list[float]) -> float | None:
    return round(statistics.median(hours), 2) if hours else None


def _p90(hours: list[float]) -> float | None:
    if not hours:
        return None
    return round(sorted(hours)[math.ceil(0.9 * len(hours)) - 1], 2)


def _month_starts(asked: Period) -> list[tuple[str, datetime]]:
    """Each month of the period (YYYY-MM) and the moment it starts in the time zone; the
    first starts with the period."""
    zone = ZoneInfo(asked.timezone)
    months = []
    year, month = asked.first.year, asked.first.month
    while (year, month) <= (asked.last.year, asked.last.month):
        months.append((f"{year:04d}-{month:02d}", datetime(year, month, 1, tzinfo=zone)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    months[0] = (months[0][0], asked.start)
    return months


def _histogram(hours: list[float]) -> list[DurationBin]:
    counts = [0] * len(HOUR_EDGES)
    for h in hours:
        counts[bisect_right(HOUR_EDGES, max(h, 0)) - 1] += 1
    uppers: list[int | None] = [*HOUR_EDGES[1:], None]
    return [
        DurationBin(label=label, from_hours=lower, to_hours=upper, n=n)
        for label, lower, upper, n in zip(HOUR_LABELS, HOUR_EDGES, uppers, counts, strict=True)
    ]


# the dashboard's open work ------------------------------------------------------------------


def open_steps_by_week(
    session: Session,
    now: datetime,
    timezone: str,
    *,
    test: bool = False,
    contact_user_id: uuid.UUID | None = None,
) -> list[WeekLoad]:
    """Open steps with a deadline: overdue, due this week, in each of the next weeks, later.
    One aggregate over the index on (status, due_at); the week boundaries are parameters."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    mondays = [monday + timedelta(weeks=n) for n in range(1, DEADLINE_WEEKS + 1)]
    edges = [now] + [datetime.combine(m, time(), zone) for m in mondays]
    due = col(ProcessStep.due_at)
    counts = [func.sum(case((due < now, 1), else_=0))]
    counts += [func.sum(case(((due >= a) & (due < b), 1), else_=0)) for a, b in pairwise(edges)]
    counts += [func.sum(case((due >= edges[-1], 1), else_=0))]
    statement = (
        sqlalchemy.select(*counts)
        .select_from(ProcessStep)
        .join(Process, col(Process.id) == col(ProcessStep.process_id))
        .where(col(ProcessStep.status) == "active", due.is_not(None), col(Process.test) == test)
    )
    if contact_user_id is not None:
        statement = statement.where(col(Process.contact_user_id) == contact_user_id)
    row = [int(n or 0) for n in session.execute(statement).one()]
    weeks = [WeekLoad(label="overdue", starts=None, open_steps=row[0], overdue=True)]
    weeks.append(WeekLoad(label="this week", starts=monday, open_steps=row[1]))
    for start, n in zip(mondays[:-1], row[2:-1], strict=True):
        weeks.append(WeekLoad(label=f"from {start.day} {start:%b}", starts=start, open_steps=n))
    weeks.append(WeekLoad(label="later", starts=mondays[-1], open_steps=row[-1]))
    return weeks
