"""The pages' Jinja2 environment (our own templates, autoescaped) and its display filters.

User-written e-mail templates never render here: they go through the sandbox in
`partnerflow.emails`.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from partnerflow.db import utcnow
from partnerflow.settings import get_settings

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _zone(timezone: str | None) -> ZoneInfo:
    return ZoneInfo(timezone or get_settings().default_timezone)


def when(value: datetime | None, timezone: str | None = None) -> str:
    """'Fri, 11 Dec 2026, 14:00' in the process's time zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return format_datetime(value, "EEE, d MMM y, HH:mm", tzinfo=_zone(timezone), locale="en")
    except OverflowError:  # at the edge of the calendar: shown as stored
        return value.isoformat()


def picker_value(value: datetime | None, timezone: str | None = None) -> str:
    """A moment as a date-and-time picker shows it: local, to the minute."""
    if value is None:
        return ""
    try:
        return value.astimezone(_zone(timezone)).strftime("%Y-%m-%dT%H:%M")
    except OverflowError:
        return ""


def due_in(value: datetime | None) -> str:
    """How far away a deadline is, in words: 'in 3 days', 'due today', '2 days overdue'."""
    if value is None:
        return "no deadline"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        seconds = (value - utcnow()).total_seconds()
    except OverflowError:
        return ""
    hours = abs(seconds) / 3600
    amount = f"{round(hours)} h" if hours < 24 else f"{round(hours / 24)} days"
    if hours < 24 and round(hours) <= 1:
        amount = "1 h" if hours >= 0.5 else "less than an hour"
    if round(hours / 24) == 1 and hours >= 24:
        amount = "1 day"
    return f"in {amount}" if seconds >= 0 else f"{amount} overdue"


templates.env.filters["when"] = when
templates.env.filters["due_in"] = due_in
templates.env.filters["picker_value"] = picker_value


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; every page knows its caller's form token and unread notices."""
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    context.setdefault("unread", getattr(request.state, "unread", 0))
    return templates.TemplateResponse(request, name, context, status_code=status_code)
