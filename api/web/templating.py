"""The pages' Jinja2 environment (our own templates, autoescaped) and its display filters.

User-written e-mail templates never render here: they go through the sandbox in
`partnerflow.emails`.
"""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from partnerflow.db import utcnow
from partnerflow.models import Notification

DISPLAY_TIMEZONE = "Europe/Berlin"

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def when(value: datetime | None, timezone: str = DISPLAY_TIMEZONE) -> str:
    """'Fri, 11 Dec 2026, 14:00' in the process's time zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return format_datetime(value, "EEE, d MMM y, HH:mm", tzinfo=ZoneInfo(timezone), locale="en")
    except OverflowError:  # at the edge of the calendar: shown as stored
        return value.isoformat()


def picker_value(value: datetime | None, timezone: str = DISPLAY_TIMEZONE) -> str:
    """A moment as a date-and-time picker shows it: local, to the minute."""
    if value is None:
        return ""
    try:
        return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
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


def unread_notifications(engine: Engine, user_id: uuid.UUID) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, col(Notification.read).is_(False))
        ).one()


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; every page knows its caller's form token and the Temporal UI address."""
    settings = request.app.state.settings
    caller = context.get("caller")
    if caller is not None and caller.is_staff:
        context["unread"] = unread_notifications(request.app.state.engine, caller.user.id)
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    context.setdefault("temporal_ui_url", settings.temporal_ui_url.rstrip("/"))
    context.setdefault("namespace", settings.temporal_namespace)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
