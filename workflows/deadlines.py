"""Business days: weekends and a region's public holidays skipped, at the same wall-clock time.

The rest of the deadline arithmetic is pure and lives with the template schema
(partnerflow/spec.py); this part reads the `holidays` tables, which change with a release, so
the workflow asks for it through a local activity (activities/deadlines.py).
"""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import holidays
from temporalio import workflow

from partnerflow.spec import Zone, as_zone, local, on_wall_clock


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
    tz = as_zone(tz)
    here = local(moment, tz)
    day = here.date()
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, region):
            remaining -= 1
    return on_wall_clock(day, here.time().replace(tzinfo=None), tz).astimezone(UTC)
