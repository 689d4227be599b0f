"""The deadline module: calendar durations, business days, regional holidays, local dates."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerflow.spec import moment_from_value, parse_duration, shift
from workflows.deadlines import add_business_days, check_region, is_business_day

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
