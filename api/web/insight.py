"""What the scorecard pages show, staff's and the portal's alike: the period the form asks for,
the scorecard, and its charts."""

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query

from api.web.i18n import gettext as _
from api.web.i18n import refusal_text
from partnerflow import charts, scorecards
from partnerflow.refusals import Refused
from partnerflow.scorecards import Period, Scorecard

# The form's days as typed: a bad one is said beside the form, not as a bare 422.
FirstDay = Annotated[str, Query(alias="from", max_length=40)]
LastDay = Annotated[str, Query(alias="to", max_length=40)]


def asked_period(first: str, last: str, timezone: str, now: datetime) -> tuple[Period, str | None]:
    """The period the form's `from` and `to` name; the default one, and why, when they do not
    make a period."""
    try:
        return scorecards.period(_day(first), _day(last), timezone, now), None
    except ValueError:
        problem = _("Enter the days as YYYY-MM-DD.")
    except Refused as refused:
        said = refusal_text(refused.message)
        problem = f"{said[:1].upper()}{said[1:]}."
    return scorecards.period(None, None, timezone, now), problem


def _day(value: str) -> date | None:
    return date.fromisoformat(value.strip()) if value.strip() else None


def scorecard_context(card: Scorecard, problem: str | None, csv_url: str) -> dict[str, Any]:
    """The template's values: the scorecard, its charts (SVG with a table each), the form."""
    query = f"?from={card.from_date.isoformat()}&to={card.to_date.isoformat()}"
    return {
        "card": card,
        "charts": [
            charts.on_time_by_month(card.by_month),
            charts.time_to_complete(card.time_to_complete),
        ],
        "problem": problem,
        "csv_url": csv_url + query,
    }
