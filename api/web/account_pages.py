"""A person's own account: the first sign-in by an e-mailed link (company users; partners use
the portal's), and their API tokens: made here, shown once, revoked here."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from api.deps import Caller, SessionDep, SettingsDep
from api.errors import not_found
from api.rate_limit import PublicLimit
from api.web.session import (
    CsrfChecked,
    SameOrigin,
    WebPartner,
    WebStaff,
    safe_next,
    set_session_cookie,
)
from api.web.templating import page
from partnerflow.auth import issue, revoke_token, token_state
from partnerflow.models import ApiToken
from partnerflow.sign_in import LinkGone, redeem_link, usable_link

router = APIRouter(include_in_schema=False)


@router.get("/sign-in/{token}")
def staff_link(request: Request, token: str, session: SessionDep, _: PublicLimit) -> HTMLResponse:
    """A button, not the sign-in itself: a mail scanner that opens links does not use it up."""
    try:
        _link, user = usable_link(session, token, staff=True)
    except LookupError:
        return page(request, "staff_link_gone.html", 404, reason="This sign-in link is not known.")
    except LinkGone as gone:
        return page(request, "staff_link_gone.html", 410, reason=str(gone))
    return page(request, "staff_link.html", user=user, token=token)


@router.post("/sign-in/{token}", dependencies=[SameOrigin])
def staff_redeem(
    request: Request, token: str, session: SessionDep, settings: SettingsDep, _: PublicLimit
) -> Response:
    try:
        cookie, next_path = redeem_link(session, token, settings, staff=True)
    except LookupError:
        return page(request, "staff_link_gone.html", 404, reason="This sign-in link is not known.")
    except LinkGone as gone:
        session.rollback()
        return page(request, "staff_link_gone.html", 410, reason=str(gone))
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
    flash: str | None = None,
) -> HTMLResponse:
    tokens = [
        (token, token_state(token))
        for token in session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == caller.user.id)
            .order_by(col(ApiToken.created_at).desc())
        )
    ]
    response = page(
        request, "account.html",
        caller=caller, section="account", base=base, tokens=tokens,
        new_token=new_token, flash=flash,
        ttl_days=request.app.state.settings.token_ttl_days,
    )  # fmt: skip
    # A page that shows a token once must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _create(
    request: Request, session: Session, ttl_days: int, caller: Caller, base: str
) -> HTMLResponse:
    issued = issue(session, caller.user.id, ttl_days=ttl_days)
    session.commit()
    return _account(request, session, caller, base, new_token=issued.token)


def _revoke(session: Session, caller: Caller, token_id: uuid.UUID, base: str) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != caller.user.id:
        not_found("token")
    revoke_token(session, token_id)
    session.commit()
    # Revoking the token this session was opened with ends the session: then sign in again.
    return RedirectResponse(f"{base}?flash=revoked", status_code=303)


_FLASHES = {"revoked": "The token is revoked: it no longer works anywhere."}


@router.get("/account")
def staff_account(
    request: Request, session: SessionDep, caller: WebStaff, flash: str | None = None
) -> HTMLResponse:
    return _account(request, session, caller, "/account", flash=_FLASHES.get(flash or ""))


@router.post("/account/tokens", dependencies=[CsrfChecked])
def staff_new_token(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebStaff
) -> HTMLResponse:
    return _create(request, session, settings.token_ttl_days, caller, "/account")


@router.post("/account/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def staff_revoke_token(token_id: uuid.UUID, session: SessionDep, caller: WebStaff) -> Response:
    return _revoke(session, caller, token_id, "/account")


@router.get("/portal/account")
def partner_account(
    request: Request, session: SessionDep, caller: WebPartner, flash: str | None = None
) -> HTMLResponse:
    return _account(request, session, caller, "/portal/account", flash=_FLASHES.get(flash or ""))


@router.post("/portal/account/tokens", dependencies=[CsrfChecked])
def partner_new_token(
    request: Request, session: SessionDep, settings: SettingsDep, caller: WebPartner
) -> HTMLResponse:
    return _create(request, session, settings.token_ttl_days, caller, "/portal/account")


@router.post("/portal/account/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def partner_revoke_token(token_id: uuid.UUID, session: SessionDep, caller: WebPartner) -> Response:
    return _revoke(session, caller, token_id, "/portal/account")
