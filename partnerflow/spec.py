"""The process template schema: steps, assignees, fields, documents, deadlines, escalation, the
published snapshot, the closed sets they use, and the deadline arithmetic that is pure.

The builder checks a template against it, the workflow runs on it. Pure (pydantic and the
standard library): the workflow sandbox imports it. Business days are not here: they read the
`holidays` tables (workflows/deadlines.py).

Durations: calendar parts (years, months, weeks, days) move the wall clock in the template's
time zone, so "P1D" from 10:00 is 10:00 the next day across a DST change; the time parts
(hours, minutes, seconds) are elapsed time. A date without a time means the end of that day
(23:59:59) in the time zone.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

# closed sets ------------------------------------------------------------------------------

Language = Literal["de", "en"]
Role = Literal["admin", "member", "partner"]
AssigneeKind = Literal["partner", "partner_slot", "user", "contact", "offer"]
# `in_review`: the assignee finished, the reviewer has not answered yet (the deadline runs on).
# `not_applicable`: the step's condition (`when`) did not hold: done, nothing sent, no timer.
# `offered`: offered to partners (OfferAssignee), none has accepted yet.
StepStatus = Literal[
    "pending",
    "offered",
    "active",
    "in_review",
    "completed",
    "skipped",
    "cancelled",
    "not_applicable",
]
ProcessStatus = Literal["running", "completed", "cancelled"]
OPEN_STATUSES: tuple[StepStatus, ...] = ("pending", "offered", "active", "in_review")
DONE_STATUSES: tuple[StepStatus, ...] = ("completed", "skipped", "not_applicable")
# The e-mails a process sends (the outbox also holds the account e-mails: models.OutboxKind).
EmailKind = Literal[
    "handover",
    "reminder",
    "overdue",
    "completion",
    "cancelled",
    "reassigned",
    "deadline_changed",
    "partner_revoked",
    "changes_requested",  # to the assignee: the reviewer sent the step back, with the reason
    "step_declined",  # to the contact person: the partner handed the step back, with the reason
    "offer",  # to a partner: a step is offered to it (postal code and city, no customer name)
    "offer_withdrawn",  # to a partner offered a step: another took it, or it went elsewhere
    "appointment",  # to a partner: the appointment (its step's deadline) it set or moved itself
]

# steps ------------------------------------------------------------------------------------

STEP_KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerAssignee(_Spec):
    type: Literal["partner"]
    partner_id: UUID


class PartnerSlotAssignee(_Spec):
    type: Literal["partner_slot"]
    slot: str = Field(min_length=1, max_length=64)


class UserAssignee(_Spec):
    type: Literal["user"]
    user_id: UUID


class ContactAssignee(_Spec):
    type: Literal["contact"]


OfferMode = Literal["first_accept", "ranked"]


class OfferAssignee(_Spec):
    """The step is offered to partners when it opens; the first to accept gets it.

    `partners` names them (in rank order), or `pool: "service_area"` offers it to the active
    partners whose service area covers the customer's postal code (decided when the process
    starts). `first_accept` offers it to all at once, `ranked` to one at a time, each for
    `wait`. Nobody accepted after `expires` (from the step's opening): the contact person
    gets it."""

    type: Literal["offer"]
    partners: list[UUID] | None = Field(default=None, max_length=100)
    pool: Literal["service_area"] | None = None
    mode: OfferMode = "first_accept"
    wait: str = Field(default="PT4H", description="ISO 8601 duration; ranked offers only")
    expires: str = Field(default="P2D", description="ISO 8601 duration from the step's opening")


# Every kind of assignee; a step is handed to one, `match` on it lists them all to mypy.
AnyAssignee = PartnerAssignee | PartnerSlotAssignee | UserAssignee | ContactAssignee | OfferAssignee
Assignee = Annotated[AnyAssignee, Field(discriminator="type")]
# Whom a running step can be handed to: a slot is bound when the process starts.
BoundAssignee = PartnerAssignee | UserAssignee | ContactAssignee

FieldType = Literal["date", "datetime", "text", "number", "boolean", "choice"]


class FieldSpec(_Spec):
    key: str = Field(pattern=STEP_KEY_PATTERN)
    label: str = Field(min_length=1, max_length=200)
    type: FieldType
    required: bool = False
    options: list[str] | None = None


class DocumentSpec(_Spec):
    type: str = Field(pattern=STEP_KEY_PATTERN)
    label: str = Field(min_length=1, max_length=200)
    required: bool = True
    min_count: int = Field(default=1, ge=0, le=100)


DeadlineStart = Literal["activation", "start"]


class AfterDeadline(_Spec):
    """Due a duration after the step opens (activation) or the process started."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    after: str = Field(description="ISO 8601 duration, e.g. P3D or PT4H")
    from_: DeadlineStart = Field(default="activation", alias="from")


class BusinessDaysDeadline(_Spec):
    """Due after N business days: weekends and the region's public holidays are skipped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    business_days: int = Field(ge=1, le=365)
    from_: DeadlineStart = Field(default="activation", alias="from")
    region: str = Field(default="DE", max_length=16, description='e.g. "DE-NW", "AT"')


class FieldRef(_Spec):
    step: str = Field(pattern=STEP_KEY_PATTERN)
    field: str = Field(pattern=STEP_KEY_PATTERN)


class FromFieldDeadline(_Spec):
    """Due at a date an earlier step recorded (the appointment), plus an optional offset."""

    from_field: FieldRef
    offset: str = Field(default="PT0S", description="ISO 8601 duration added to the date")


Deadline = AfterDeadline | BusinessDaysDeadline | FromFieldDeadline


class Escalation(_Spec):
    """What happens when the deadline passes: the contact person is told; optionally the
    step goes to another assignee after a grace period."""

    notify_contact: bool = True
    reassign_to: Assignee | None = None
    grace: str | None = Field(default=None, description="ISO 8601 duration")


# conditions and review ----------------------------------------------------------------------

# What a condition may name: opportunity.product, opportunity.test,
# opportunity.attributes.<name>, opportunity.customer.address.postal_code, and
# fields.<step>.<field> (a field of a step this step requires, directly or through others).
# Never the customer's name, e-mail, phone or street (partnerflow/conditions.py checks).
ConditionOp = Literal[
    "equals", "not_equals", "any_of", "none_of", "is_empty", "is_not_empty",
    "gt", "gte", "lt", "lte",
]  # fmt: skip
ConditionValue = str | int | float | bool | list[str | int | float | bool] | None


class Condition(_Spec):
    field: str = Field(min_length=1, max_length=200)
    op: ConditionOp
    # a scalar; a list for any_of/none_of; absent for is_empty/is_not_empty
    value: ConditionValue = None


class When(_Spec):
    """The step applies when all (or any) of its conditions hold; exactly one of the two."""

    all: list[Condition] | None = Field(default=None, min_length=1, max_length=20)
    any: list[Condition] | None = Field(default=None, min_length=1, max_length=20)

    @property
    def conditions(self) -> list[Condition]:
        return self.all or self.any or []


class Review(_Spec):
    """Someone checks the step before it counts as done; `max_rounds` bounds how often the
    reviewer may send it back."""

    by: Annotated[ContactAssignee | UserAssignee, Field(discriminator="type")] = ContactAssignee(
        type="contact"
    )
    max_rounds: int = Field(default=3, ge=1, le=20)


class StepSpec(_Spec):
    key: str = Field(pattern=STEP_KEY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    instructions: str = Field(default="", max_length=10_000)
    assignee: Assignee
    # None means "the step before"; [] makes the step open as soon as the process starts.
    requires: list[str] | None = None
    fields: list[FieldSpec] = Field(default_factory=list)
    documents: list[DocumentSpec] = Field(default_factory=list)
    deadline: Deadline | None = None
    # Durations before the deadline at which the assignee is reminded.
    reminders: list[str] = Field(default_factory=list, max_length=10)
    escalation: Escalation | None = None
    on_activate_email: UUID | None = None
    # None means: yes for partner steps, no for internal ones.
    notify_contact_on_complete: bool | None = None
    # decided when the step's requirements are done: false makes it `not_applicable`
    when: When | None = None
    review: Review | None = None


class TemplateSnapshot(BaseModel):
    """A frozen template version; a running process never sees later edits."""

    template_id: UUID
    version: int
    name: str
    language: Language
    timezone: str
    steps: list[StepSpec]


def resolve_requires(steps: list[StepSpec]) -> list[StepSpec]:
    """Make each step's `requires` explicit: absent means the step before it."""
    resolved = []
    for index, step in enumerate(steps):
        requires = step.requires
        if requires is None:
            requires = [steps[index - 1].key] if index else []
        resolved.append(step.model_copy(update={"requires": requires}))
    return resolved


# durations and dates ----------------------------------------------------------------------

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
MAX_DURATION_DAYS = 3660  # ten years: a deadline further out is a typo


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    seconds: float = 0.0


def parse_duration(text: str) -> Duration:
    """An ISO 8601 duration such as "P3D", "PT4H", "P1M2DT30M"; ValueError when it is not one."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not an ISO 8601 duration (e.g. P3D, PT4H, P1DT12H)")
    part = {name: float(value) if value else 0.0 for name, value in match.groupdict().items()}
    duration = Duration(
        years=int(part["years"]),
        months=int(part["months"]),
        days=int(part["weeks"]) * 7 + int(part["days"]),
        seconds=part["hours"] * 3600 + part["minutes"] * 60 + part["seconds"],
    )
    approximate_days = duration.years * 366 + duration.months * 31 + duration.days
    if approximate_days + duration.seconds / 86400 > MAX_DURATION_DAYS:
        raise ValueError(f"'{text}' is longer than ten years")
    return duration


Zone = ZoneInfo | str


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def as_zone(tz: Zone) -> ZoneInfo:
    # Workflows pass the name: a ZoneInfo made inside the sandbox is a restricted proxy.
    return zone(tz) if isinstance(tz, str) else tz


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a deadline needs a timezone-aware moment")
    return moment.astimezone(tz)


def on_wall_clock(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """That wall-clock time on that day. A time that DST skips (fold=0, PEP 495) lands
    the length of the gap later, e.g. 02:30 on the spring-forward night is 03:30."""
    return datetime.combine(day, clock, tzinfo=tz)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):  # 31 January + P1M is the last day of February
        try:
            return day.replace(year=year, month=month, day=min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def shift(moment: datetime, duration: Duration, tz: Zone, sign: int = 1) -> datetime:
    """`moment` moved by `duration` (backwards with sign=-1), as an aware UTC datetime."""
    tz = as_zone(tz)
    here = local(moment, tz)
    day = _add_months(here.date(), sign * (duration.years * 12 + duration.months))
    day = day + timedelta(days=sign * duration.days)
    moved = on_wall_clock(day, here.time().replace(tzinfo=None), tz)
    # Elapsed time is added in UTC: aware arithmetic within one zone would move the wall clock.
    return moved.astimezone(UTC) + sign * timedelta(seconds=duration.seconds)


def end_of_day(day: date, tz: Zone) -> datetime:
    tz = as_zone(tz)
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def moment_from_value(value: str, tz: Zone) -> datetime:
    """A recorded date or datetime as a deadline: a bare date is the end of that day, locally."""
    tz = as_zone(tz)
    if len(value) == 10:
        return end_of_day(date.fromisoformat(value), tz)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
