"""The template schema's pure parts (partnerflow/spec.py) that tests/test_deadlines.py leaves
out: explicit requirements, duration limits, wall clocks DST skips or repeats, and the
schema's own refusals."""

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from partnerflow.spec import (
    AfterDeadline,
    BusinessDaysDeadline,
    ContactAssignee,
    Duration,
    Escalation,
    FromFieldDeadline,
    PartnerAssignee,
    PartnerSlotAssignee,
    StepSpec,
    TemplateSnapshot,
    UserAssignee,
    end_of_day,
    moment_from_value,
    parse_duration,
    resolve_requires,
    shift,
)

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def spec(key: str, requires: list[str] | None = None, **more: Any) -> StepSpec:
    return StepSpec.model_validate(
        {"key": key, "name": key.title(), "assignee": {"type": "contact"}, "requires": requires}
        | more
    )


def errors(payload: dict[str, Any]) -> list[tuple[str, tuple[str | int, ...]]]:
    """The schema's refusals of a step: (pydantic's type, loc) each."""
    step = {"key": "survey", "name": "Survey", "assignee": {"type": "contact"}} | payload
    with pytest.raises(ValidationError) as error:
        StepSpec.model_validate(step)
    return [(item["type"], tuple(item["loc"])) for item in error.value.errors()]


# resolve_requires -----------------------------------------------------------------------------


def test_absent_requires_means_the_step_before_and_the_first_opens_at_once() -> None:
    resolved = resolve_requires([spec("survey"), spec("offer"), spec("install")])
    assert [step.requires for step in resolved] == [[], ["survey"], ["offer"]]


def test_explicit_requires_are_kept_even_when_empty() -> None:
    steps = [spec("survey"), spec("permit", requires=[]), spec("install", ["survey", "permit"])]
    assert [step.requires for step in resolve_requires(steps)] == [
        [],
        [],
        ["survey", "permit"],
    ]


def test_resolving_leaves_the_template_as_it_was() -> None:
    steps = [spec("survey"), spec("offer")]
    resolve_requires(steps)
    assert [step.requires for step in steps] == [None, None]


# parse_duration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("P2W", Duration(days=14)),
        ("P1W3D", Duration(days=10)),
        ("P1Y2M", Duration(years=1, months=2)),
        ("PT1M", Duration(seconds=60)),
        ("P1M", Duration(months=1)),
        ("PT0S", Duration()),
        ("PT1.5S", Duration(seconds=1.5)),
        ("P1DT2H30M", Duration(days=1, seconds=9000)),
    ],
)
def test_durations_split_into_calendar_parts_and_elapsed_seconds(
    text: str, duration: Duration
) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    "text", ["P1H", "PT1D", "P1D2W", " P1D", "P1,5D", "PT-1H", "P1DT1H1D", "P1D\n"]
)
def test_what_a_person_might_type_that_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration(text)


def test_a_duration_that_is_no_text_is_refused_not_crashed_on() -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("P3660D", True),
        ("P3661D", False),
        ("P10Y", True),
        ("P10Y1D", False),
        ("P118M", True),
        ("PT87840H", True),
        ("PT87841H", False),
        ("P3659DT24H1S", False),
    ],
)
def test_ten_years_is_the_longest_duration(text: str, fits: bool) -> None:
    if fits:
        parse_duration(text)
        return
    with pytest.raises(ValueError, match="longer than ten years"):
        parse_duration(text)


# shift across DST in Europe/Berlin ------------------------------------------------------------


def test_a_wall_clock_time_the_spring_change_skips_lands_an_hour_later() -> None:
    # 02:30 does not exist on 29 March 2026 in Berlin: the due moment is 03:30 summer time.
    due = shift(berlin(2026, 3, 28, 2, 30), parse_duration("P1D"), BERLIN)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_a_wall_clock_time_the_autumn_change_repeats_is_its_first_occurrence() -> None:
    # 02:30 happens twice on 25 October 2026: the first, still summer time (+02:00).
    due = shift(berlin(2026, 10, 24, 2, 30), parse_duration("P1D"), BERLIN)
    assert due == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_reminder_a_day_before_keeps_the_wall_clock_24_hours_before_do_not() -> None:
    due = berlin(2026, 3, 29, 10, 0)  # summer time since the night before
    day_before = shift(due, parse_duration("P1D"), BERLIN, sign=-1)
    hours_before = shift(due, parse_duration("PT24H"), BERLIN, sign=-1)
    assert day_before.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 28, 10, 0)
    assert hours_before.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 28, 9, 0)


def test_a_month_keeps_the_wall_clock_across_the_change() -> None:
    due = shift(berlin(2026, 3, 1, 10, 0), parse_duration("P1M"), BERLIN)
    assert due == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)  # 10:00 summer time


def test_days_move_the_calendar_first_then_hours_pass() -> None:
    due = shift(berlin(2026, 3, 28, 10, 0), parse_duration("P1DT2H"), BERLIN)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 12, 0)


@pytest.mark.parametrize(
    ("start", "text", "sign", "day"),
    [
        (date(2028, 1, 31), "P1M", 1, date(2028, 2, 29)),  # a leap year's February
        (date(2028, 2, 29), "P1Y", 1, date(2029, 2, 28)),
        (date(2026, 3, 31), "P1M", -1, date(2026, 2, 28)),
        (date(2026, 11, 30), "P2M", 1, date(2027, 1, 30)),
        (date(2026, 1, 15), "P1M", -1, date(2025, 12, 15)),
    ],
)
def test_months_and_years_land_on_a_day_the_month_has(
    start: date, text: str, sign: int, day: date
) -> None:
    moved = shift(
        berlin(start.year, start.month, start.day, 9, 0), parse_duration(text), BERLIN, sign
    )
    assert moved.astimezone(BERLIN).date() == day
    assert moved.astimezone(BERLIN).hour == 9


def test_shift_answers_in_utc_and_takes_the_zone_by_name() -> None:
    start = berlin(2026, 10, 24, 10, 0)
    by_name = shift(start, parse_duration("P1D"), "Europe/Berlin")
    assert by_name == shift(start, parse_duration("P1D"), BERLIN)
    assert by_name.tzinfo == UTC


def test_a_moment_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        shift(datetime(2026, 3, 28, 10, 0), parse_duration("P1D"), BERLIN)


# end_of_day and recorded values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        (date(2026, 3, 29), datetime(2026, 3, 29, 21, 59, 59, tzinfo=UTC)),  # spring change
        (date(2026, 10, 25), datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC)),  # autumn change
        (date(2026, 12, 31), datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)),
    ],
)
def test_a_day_ends_at_235959_berlin_time_even_on_a_dst_change(day: date, utc: datetime) -> None:
    assert end_of_day(day, BERLIN) == utc
    assert end_of_day(day, "Europe/Berlin") == utc


def test_a_day_ends_in_the_templates_own_zone() -> None:
    assert end_of_day(date(2026, 7, 1), "America/New_York") == datetime(
        2026, 7, 2, 3, 59, 59, tzinfo=UTC
    )


def test_a_recorded_time_without_an_offset_is_read_in_the_templates_zone() -> None:
    assert moment_from_value("2026-03-29T10:00:00", BERLIN) == datetime(
        2026, 3, 29, 8, 0, tzinfo=UTC
    )
    assert moment_from_value("2026-03-28T10:00:00", "Europe/Berlin") == datetime(
        2026, 3, 28, 9, 0, tzinfo=UTC
    )


# the schema's refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignee", "kind"),
    [
        ({"type": "partner", "partner_id": str(uuid4())}, PartnerAssignee),
        ({"type": "partner_slot", "slot": "installer"}, PartnerSlotAssignee),
        ({"type": "user", "user_id": str(uuid4())}, UserAssignee),
        ({"type": "contact"}, ContactAssignee),
    ],
)
def test_the_assignee_type_picks_its_kind(assignee: dict[str, str], kind: type) -> None:
    assert isinstance(spec("survey", assignee=assignee).assignee, kind)


@pytest.mark.parametrize(
    ("assignee", "refusal", "loc"),
    [
        ({"type": "partner"}, "missing", ("partner", "partner_id")),
        ({"type": "user", "user_id": "bob"}, "uuid_parsing", ("user", "user_id")),
        ({"type": "partner_slot", "slot": ""}, "string_too_short", ("partner_slot", "slot")),
        ({"type": "contact", "user_id": str(uuid4())}, "extra_forbidden", ("contact", "user_id")),
        ({"type": "robot"}, "union_tag_invalid", ()),
        ({"slot": "installer"}, "union_tag_not_found", ()),
    ],
)
def test_an_assignee_is_refused_at_the_input_of_its_kind(
    assignee: dict[str, str], refusal: str, loc: tuple[str, ...]
) -> None:
    assert errors({"assignee": assignee}) == [(refusal, ("assignee", *loc))]


def test_an_escalation_hands_over_to_a_kind_of_assignee_too() -> None:
    assert errors({"escalation": {"reassign_to": {"type": "partner_slot"}}}) == [
        ("missing", ("escalation", "reassign_to", "partner_slot", "slot"))
    ]
    escalation = Escalation.model_validate({"reassign_to": {"type": "contact"}, "grace": "P1D"})
    assert isinstance(escalation.reassign_to, ContactAssignee)
    assert escalation.notify_contact is True


@pytest.mark.parametrize(
    ("key", "fits"),
    [
        ("survey", True),
        ("2nd-visit_a", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("Survey", False),
        ("_survey", False),
        ("site visit", False),
        ("", False),
    ],
)
def test_a_step_key_is_lower_case_letters_digits_dash_and_underscore(key: str, fits: bool) -> None:
    if fits:
        assert spec(key).key == key
    else:
        assert errors({"key": key}) == [("string_pattern_mismatch", ("key",))]


def test_name_is_required_and_other_inputs_are_refused() -> None:
    assert errors({"name": ""}) == [("string_too_short", ("name",))]
    assert errors({"colour": "red"}) == [("extra_forbidden", ("colour",))]
    assert errors({"reminders": ["P1D"] * 11}) == [("too_long", ("reminders",))]


def test_fields_and_documents_are_checked_row_by_row() -> None:
    payload = {
        "fields": [
            {"key": "visit", "label": "Visit", "type": "date"},
            {"key": "rooms", "label": "Rooms", "type": "integer"},
        ],
        "documents": [{"type": "photo", "label": "Photo", "min_count": 101}],
    }
    assert errors(payload) == [
        ("literal_error", ("fields", 1, "type")),
        ("less_than_equal", ("documents", 0, "min_count")),
    ]


@pytest.mark.parametrize(
    ("deadline", "kind"),
    [
        ({"after": "P3D"}, AfterDeadline),
        ({"business_days": 5, "region": "DE-NW"}, BusinessDaysDeadline),
        ({"from_field": {"step": "survey", "field": "visit"}}, FromFieldDeadline),
    ],
)
def test_a_deadline_is_the_kind_its_inputs_name(deadline: dict[str, Any], kind: type) -> None:
    assert isinstance(spec("offer", deadline=deadline).deadline, kind)


def test_a_deadline_counts_from_activation_unless_from_start_and_says_so_as_from() -> None:
    after = AfterDeadline.model_validate({"after": "P3D"})
    assert after.from_ == "activation"
    started = AfterDeadline.model_validate({"after": "P3D", "from": "start"})
    assert started.model_dump() == {"after": "P3D", "from": "start"}
    assert BusinessDaysDeadline(business_days=2).model_dump() == {
        "business_days": 2,
        "from": "activation",
        "region": "DE",
    }


@pytest.mark.parametrize("business_days", [0, 366])
def test_business_days_lie_between_one_and_a_year(business_days: int) -> None:
    with pytest.raises(ValidationError):
        BusinessDaysDeadline(business_days=business_days)


def test_a_deadline_mixing_two_kinds_is_refused() -> None:
    refused = errors({"deadline": {"after": "P1D", "business_days": 3}})
    assert ("extra_forbidden", ("deadline", "AfterDeadline", "business_days")) in refused
    assert ("extra_forbidden", ("deadline", "BusinessDaysDeadline", "after")) in refused


def test_a_snapshot_speaks_german_or_english_only() -> None:
    snapshot = {
        "template_id": str(uuid4()),
        "version": 1,
        "name": "Installation",
        "language": "fr",
        "timezone": "Europe/Berlin",
        "steps": [],
    }
    with pytest.raises(ValidationError) as error:
        TemplateSnapshot.model_validate(snapshot)
    assert [item["loc"] for item in error.value.errors()] == [("language",)]
    assert TemplateSnapshot.model_validate(snapshot | {"language": "en"}).language == "en"
