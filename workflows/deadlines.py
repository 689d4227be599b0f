"""Deadline arithmetic, pure and deterministic: ISO 8601 durations, business days, dates.

Calendar parts of a duration (years, months, weeks, days) move the wall clock in the
template's time zone, so "P1D" from 10:00 is 10:00 the next day across a DST change;
the time parts (hours, minutes, seconds) are elapsed time. A date without a time means
the end of that day (23:59:59) in the time zone.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from temporalio import workflow

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
    match = _DURATION.match(text) if isinstance(text, str) else None
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


def _zone(tz: Zone) -> ZoneInfo:
    # Workflows pass the name: a ZoneInfo made inside the sandbox is a restricted proxy.
    return zone(tz) if isinstance(tz, str) else tz


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a deadline needs a timezone-aware moment")
    return moment.astimezone(tz)


def _on_wall_clock(day: date, clock: time, tz: ZoneInfo) -> datetime:
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
    tz = _zone(tz)
    local = _local(moment, tz)
    day = _add_months(local.date(), sign * (duration.years * 12 + duration.months))
    day = day + timedelta(days=sign * duration.days)
    moved = _on_wall_clock(day, local.time().replace(tzinfo=None), tz)
    # Elapsed time is added in UTC: aware arithmetic within one zone would move the wall clock.
    return moved.astimezone(UTC) + sign * timedelta(seconds=duration.seconds)


def split_region(region: str) -> tuple[str, str | None]:
    country, _, subdivision = region.partition("-")
    return country.upper(), subdivision.upper() or None


def check_region(region: str) -> None:
    """ValueError unless `holidays` knows the country (and subdivision), e.g. "DE-NW", "AT"."""
    country, subdivision = split_region(region)
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"unknown region '{region}': no public holidays known for '{country}'")
    if subdivision and subdivision not in supported[country]:
        raise ValueError(
            f"unknown region '{region}': '{country}' has no subdivision '{subdivision}'"
        )


@lru_cache(maxsize=64)
def _holidays(region: str, year: int) -> frozenset[date]:
    country, subdivision = split_region(region)
    # `holidays` reads its translations through `locale` while it builds a year's table:
    # deterministic for a given package version, but the workflow sandbox forbids it.
    # (Outside a workflow this block does nothing.)
    with workflow.unsafe.sandbox_unrestricted():
        table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(table.keys())


def is_business_day(day: date, region: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(region, day.year)


def add_business_days(moment: datetime, count: int, tz: Zone, region: str) -> datetime:
    """The same wall-clock time on the `count`-th business day after `moment`'s local date."""
    tz = _zone(tz)
    local = _local(moment, tz)
    day = local.date()
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, region):
            remaining -= 1
    return _on_wall_clock(day, local.time().replace(tzinfo=None), tz).astimezone(UTC)


def end_of_day(day: date, tz: Zone) -> datetime:
    tz = _zone(tz)
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def moment_from_value(value: str, tz: Zone) -> datetime:
    """A recorded date or datetime as a deadline: a bare date is the end of that day, locally."""
    tz = _zone(tz)
    if len(value) == 10:
        return end_of_day(date.fromisoformat(value), tz)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
