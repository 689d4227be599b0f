"""A person's own account: the first sign-in by an e-mailed link (company users; partners use
the portal's), the language of their pages, and their API tokens and calendar feed: made
here, shown once, revoked here."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep, SettingsDep
from api.rate_limit import PublicLimit
from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.session import (
    CsrfChecked,
    SameOrigin,
    WebPartner,
    WebStaff,
    safe_next,
    set_session_cookie,
)
from api.web.sign_in_pages import UNKNOWN_LINK, gone_page
from api.web.templating import page
from partnerflow import calendar_feeds, preferences, tokens
from partnerflow.auth import token_state
from partnerflow.callers import Caller
from partnerflow.refusals import Refused
from partnerflow.settings import Settings
from partnerflow.sign_in import redeem_link, usable_link

router = APIRouter(include_in_schema=False)


@router.get("/sign-in/{token}")
def staff_link(request: Request, token: str, session: SessionDep, _: PublicLimit) -> HTMLResponse:
    """A button, not the sign-in itself: a mail scanner that opens links does not use it up."""
    try:
        _link, user = usable_link(session, token, staff=True)
    except Refused as refused:
        return gone_page(request, "staff_link_gone.html", refused, UNKNOWN_LINK)
    return page(request, "staff_link.html", user=user, token=token)


@router.post("/sign-in/{token}", dependencies=[SameOrigin])
def staff_redeem(
    request: Request, token: str, session: SessionDep, settings: SettingsDep, _: PublicLimit
) -> Response:
    try:
        cookie, next_path = redeem_link(session, token, settings, staff=True)
    except Refused as refused:
        session.rollback()
        return gone_page(request, "staff_link_gone.html", refused, UNKNOWN_LINK)
    session.commit()
    response = RedirectResponse(safe_next(next_path, "/account"), status_code=303)
    set_session_cookie(response, cookie, settings)
    return response


def _account(
    request: Request,
    session: Session,
    caller: Caller,
    base: str,
    *,
    new_token: str | None = None,
    new_feed_url: str | None = None,
    flash: str | None = None,
) -> HTMLResponse:
    newest_first = [
        (token, token_state(token)) for token in reversed(tokens.own(session, caller.user))
    ]
    response = page(
        request, "account.html",
        caller=caller, section="account", base=base, tokens=newest_first,
        new_token=new_token, flash=flash,
        ttl_days=request.app.state.settings.token_ttl_days,
        feed=calendar_feeds.current(session, caller.user), new_feed_url=new_feed_url,
    )  # fmt: skip
    # A page that shows a token once must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _create(
    request: Request, session: Session, settings: Settings, caller: Caller, base: str
) -> HTMLResponse:
    issued = tokens.issue_own(session, settings, caller.user)
    return _account(request, session, caller, base, new_token=issued.token)


def _revoke(session: Session, caller: Caller, token_id: uuid.UUID, base: str) -> Response:
    tokens.revoke_own(session, caller.user, token_id)
    # Revoking the token this session was opened with ends the session: then sign in again.
    return RedirectResponse(f"{base}?flash=revoked", status_code=303)


_FLASHES = {
    "revoked": N_("The token is revoked: it no longer works anywhere."),
    "language": N_("Your language is saved."),
    "feed_revoked": N_("The calendar feed is revoked: its address no longer works."),
}
# the account form's choice: a language, or whatever each browser asks for
LanguageChoice = Annotated[Literal["de", "en", "browser"], Form()]


def _flash(key: str | None) -> str | None:
    return _(_FLASHES[key]) if key in _FLASHES else None


def _set_language(session: Session, caller: Caller, choice: str, base: str) -> Response:
    match choice:
        case "de" | "en":
            preferences.set_language(session, caller.user, choice)
        case _:
            preferences.set_language(session, caller.user, None)
    return RedirectResponse(f"{base}?flash=language", status_code=303)


@router.get("/account")
def staff_account(
    request: Request, session: SessionDep, caller: WebStaff, flash: str | None = None
) -> HTMLResponse:
    return _account(request, session, caller, "/account", flash=_flash(flash))


@router.post("/account/language", dependencies=[CsrfChecked])
def staff_language(session: SessionDep, caller: WebStaff, language: LanguageChoice) -> Response:
    return _set_language(session, caller, language, "/account")


@router.post("/account/tokens", dependencies=[CsrfChecked])
def staff_new_token(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebStaff
) -> HTMLResponse:
    return _create(request, session, settings, caller, "/account")


@router.post("/account/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def staff_revoke_token(token_id: uuid.UUID, session: SessionDep, caller: WebStaff) -> Response:
    return _revoke(session, caller, token_id, "/account")


@router.get("/portal/account")
def partner_account(
    request: Request, session: SessionDep, caller: WebPartner, flash: str | None = None
) -> HTMLResponse:
    return _account(request, session, caller, "/portal/account", flash=_flash(flash))


@router.post("/portal/account/language", dependencies=[CsrfChecked])
def partner_language(session: SessionDep, caller: WebPartner, language: LanguageChoice) -> Response:
    return _set_language(session, caller, language, "/portal/account")


@router.post("/portal/account/tokens", dependencies=[CsrfChecked])
def partner_new_token(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebPartner
) -> HTMLResponse:
    return _create(request, session, settings, caller, "/portal/account")


@router.post("/portal/account/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def partner_revoke_token(token_id: uuid.UUID, session: SessionDep, caller: WebPartner) -> Response:
    return _revoke(session, caller, token_id, "/portal/account")


# the calendar feed (partnerflow/calendar_feeds.py): its address shown once, like a token


def _new_feed(
    request: Request, session: Session, settings: Settings, caller: Caller, base: str
) -> HTMLResponse:
    issued = calendar_feeds.create(session, settings, caller.user)
    return _account(request, session, caller, base, new_feed_url=issued.url)


def _revoke_feed(session: Session, caller: Caller, base: str) -> Response:
    if calendar_feeds.current(session, caller.user) is not None:
        calendar_feeds.revoke(session, caller.user)
    return RedirectResponse(f"{base}?flash=feed_revoked", status_code=303)


@router.post("/account/calendar-feed", dependencies=[CsrfChecked])
def staff_new_feed(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebStaff
) -> HTMLResponse:
    return _new_feed(request, session, settings, caller, "/account")


@router.post("/account/calendar-feed/revoke", dependencies=[CsrfChecked])
def staff_revoke_feed(session: SessionDep, caller: WebStaff) -> Response:
    return _revoke_feed(session, caller, "/account")


@router.post("/portal/account/calendar-feed", dependencies=[CsrfChecked])
def partner_new_feed(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebPartner
) -> HTMLResponse:
    return _new_feed(request, session, settings, caller, "/portal/account")


@router.post("/portal/account/calendar-feed/revoke", dependencies=[CsrfChecked])
def partner_revoke_feed(session: SessionDep, caller: WebPartner) -> Response:
    return _revoke_feed(session, caller, "/portal/account")
