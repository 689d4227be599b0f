"""The pages' Jinja2 environment (our own templates, autoescaped) and its display filters.

User-written e-mail templates never render here: they go through the sandbox in
`partnerflow.emails`.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.web import i18n
from api.web.i18n import gettext as _
from api.web.i18n import ngettext
from partnerflow.db import utcnow
from partnerflow.settings import get_settings

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
i18n.install(templates.env)


def _zone(timezone: str | None) -> ZoneInfo:
    return ZoneInfo(timezone or get_settings().default_timezone)


def when(value: datetime | None, timezone: str | None = None) -> str:
    """'Fri, 11 Dec 2026, 14:00' (or 'Fr., 11. Dez. 2026, 14:00') in the process's time zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return i18n.moment(value, _zone(timezone))
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
    """How far away a deadline is, in words: 'in 3 days', 'in less than an hour',
    '2 days overdue'."""
    if value is None:
        return _("no deadline")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        seconds = (value - utcnow()).total_seconds()
    except OverflowError:
        return ""
    hours = abs(seconds) / 3600
    if hours < 0.5:
        return _("in less than an hour") if seconds >= 0 else _("less than an hour overdue")
    if hours < 24:
        count = max(1, round(hours))
        if seconds >= 0:
            return ngettext("in %(num)d h", "in %(num)d h", count) % {"num": count}
        return ngettext("%(num)d h overdue", "%(num)d h overdue", count) % {"num": count}
    count = round(hours / 24)
    if seconds >= 0:
        return ngettext("in %(num)d day", "in %(num)d days", count) % {"num": count}
    return ngettext("%(num)d day overdue", "%(num)d days overdue", count) % {"num": count}


templates.env.filters["when"] = when
templates.env.filters["due_in"] = due_in
templates.env.filters["picker_value"] = picker_value


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; every page knows its caller's form token and unread notices."""
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    context.setdefault("unread", getattr(request.state, "unread", 0))
    return templates.TemplateResponse(request, name, context, status_code=status_code)
