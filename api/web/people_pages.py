"""The company's people: the list (admins), and a person's page with their absence and who
stands in for them, set and withdrawn there by an admin or the person themself."""

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.web.builder_steps import company_users
from api.web.i18n import N_
from api.web.refusals import Loc, PostedForm, context, refusals, sorted_out, status_of, text
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page, picker_value
from api.web.views import flashed
from partnerflow import absences
from partnerflow.callers import Caller
from partnerflow.db import utcnow
from partnerflow.models import Absence, User
from partnerflow.refusals import Refused, forbidden, invalid
from partnerflow.settings import Settings

router = APIRouter(include_in_schema=False)

FLASHES = {
    "absence_set": N_("The absence is set."),
    "absence_withdrawn": N_("The absence is withdrawn."),
}
_INPUTS = ("from", "until", "substitute_user_id")


@router.get("/people")
def people_page(request: Request, session: SessionDep, caller: WebStaff) -> HTMLResponse:
    if not caller.is_admin:
        raise forbidden("only an admin sees everyone; your own page is linked on your account")
    users = session.exec(
        select(User).where(col(User.partner_id).is_(None)).order_by(col(User.name))
    ).all()
    away = {a.user_id: a for a in session.exec(select(Absence))}
    now = utcnow()
    rows = [
        (user, away.get(user.id), absences.state_of(away[user.id], now) if user.id in away else "")
        for user in users
    ]
    return page(request, "people.html", caller=caller, section="people", rows=rows)


@router.get("/people/{user_id}")
def person_page(
    request: Request,
    user_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    flash: str | None = None,
) -> HTMLResponse:
    person = absences.absent_user(session, caller, user_id)
    shown = absences.current(session, person.id)
    return _person(
        request, session, settings, caller, person, _entered(shown, settings),
        flash=flashed(FLASHES, flash),
    )  # fmt: skip


@router.post("/people/{user_id}/absence", dependencies=[CsrfChecked])
async def set_absence(
    request: Request,
    user_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: WebStaff,
    posted: PostedForm,
) -> Response:
    person = absences.absent_user(session, caller, user_id)
    entered = {name: text(posted, name).strip() for name in _INPUTS}
    try:
        asked = _asked(entered, ZoneInfo(settings.default_timezone))
        await absences.set_absence(session, temporal, settings, caller, person.id, asked)
    except Refused as error:
        if error.kind != "invalid":
            raise
        session.rollback()
        errors = sorted_out(refusals(error), _input_for)
        return _person(
            request, session, settings, caller, person, entered,
            errors=context(errors), status_code=status_of(error),
        )  # fmt: skip
    return RedirectResponse(f"/people/{person.id}?flash=absence_set", status_code=303)


@router.post("/people/{user_id}/absence/withdraw", dependencies=[CsrfChecked])
async def withdraw_absence(
    user_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: WebStaff,
) -> Response:
    await absences.withdraw(session, temporal, settings, caller, user_id)
    return RedirectResponse(f"/people/{user_id}?flash=absence_withdrawn", status_code=303)


def _person(
    request: Request,
    session: Session,
    settings: Settings,
    caller: Caller,
    person: User,
    entered: dict[str, str],
    *,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    absence = absences.current(session, person.id)
    names = {u.id: u.name for u in session.exec(select(User).where(col(User.partner_id).is_(None)))}
    substitutes = [(str(u.id), u.name) for u in company_users(session) if u.id != person.id]
    return page(
        request, "person.html", status_code,
        caller=caller, section="people" if caller.is_admin else "account", person=person,
        absence=absence, state=absences.state_of(absence, utcnow()) if absence else None,
        substitute_name=names.get(absence.substitute_user_id, "") if absence else "",
        substitutes=substitutes, entered=entered, timezone=settings.default_timezone,
        flash=flash, **(errors or context(None)),
    )  # fmt: skip


def _entered(absence: Absence | None, settings: Settings) -> dict[str, str]:
    """The form's inputs: the absence set now, or empty."""
    if absence is None:
        return dict.fromkeys(_INPUTS, "")
    zone = settings.default_timezone
    return {
        "from": picker_value(absence.starts_at, zone),
        "until": picker_value(absence.ends_at, zone),
        "substitute_user_id": str(absence.substitute_user_id),
    }


def _asked(entered: dict[str, str], zone: ZoneInfo) -> absences.AbsenceRequest:
    """The form's text as an absence: date pickers' local times in the company's time zone."""
    starts_at = _moment(entered["from"], "from", "when the absence begins", zone)
    until = _moment(entered["until"], "until", "when the absence ends", zone)
    try:
        substitute = uuid.UUID(entered["substitute_user_id"])
    except ValueError:
        raise invalid("substitute_user_id", "choose who stands in") from None
    return absences.AbsenceRequest(starts_at=starts_at, until=until, substitute_user_id=substitute)


def _moment(value: str, name: str, what: str, zone: ZoneInfo) -> datetime:
    if not value:
        raise invalid(name, f"choose {what}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(name, f"'{value}' is not a date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _input_for(loc: Loc) -> str | None:
    return str(loc[0]) if loc[:1] and loc[0] in _INPUTS else None
