"""Signing in and out: staff with their token, partners by e-mailed link or their invitation."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.deps import MailerDep, SessionDep, SettingsDep
from api.rate_limit import PublicLimit
from api.web.i18n import N_, gettext, refusal_text
from api.web.session import (
    COOKIE,
    CsrfChecked,
    SameOrigin,
    SignInRequired,
    WebCaller,
    get_web_caller,
    safe_next,
    set_session_cookie,
)
from api.web.templating import page
from partnerflow import invitations
from partnerflow.mail import Mailer
from partnerflow.refusals import Refused, http_status
from partnerflow.settings import Settings
from partnerflow.sign_in import (
    end_session,
    redeem_link,
    send_magic_links,
    staff_by_token,
    start_session,
    usable_link,
)

router = APIRouter(include_in_schema=False)
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
UNKNOWN_LINK = N_("This sign-in link is not known.")
_UNKNOWN_INVITATION = N_("This invitation is not known.")


def _is_email(text: str) -> bool:
    try:
        _EMAIL.validate_python(text)
    except ValidationError:
        return False
    return True


def _signed_in(location: str, token: str, settings: Settings) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    set_session_cookie(response, token, settings)
    return response


def gone_page(request: Request, template: str, refused: Refused, unknown: str) -> HTMLResponse:
    """A link or invitation that no longer works (or never did), and why."""
    reason = gettext(unknown) if refused.kind == "not_found" else refusal_text(refused.message)
    return page(request, template, http_status(refused.kind), reason=reason)


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    try:
        caller = get_web_caller(request, session)
    except SignInRequired:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse("/portal" if caller.partner else "/processes", status_code=303)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "sign_in.html", next=safe_next(next, "/processes"), errors={})


@router.post("/sign-in", dependencies=[SameOrigin])
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: PublicLimit,
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/processes",
) -> Response:
    found = staff_by_token(session, token.strip()) if token.strip() else None
    if found is None:
        errors = {
            "token": gettext(
                "This token is not valid (or belongs to a partner: partners sign in "
                "by an e-mailed link)."
            )
        }
        return page(request, "sign_in.html", 401, next=safe_next(next, "/processes"), errors=errors)
    user, api_token = found
    cookie = start_session(session, user, settings, api_token=api_token)
    session.commit()
    return _signed_in(safe_next(next, "/processes"), cookie, settings)


@router.post("/sign-out", dependencies=[CsrfChecked])
def sign_out(request: Request, session: SessionDep, caller: WebCaller) -> Response:
    end_session(session, request.cookies.get(COOKIE, ""))
    session.commit()
    response = RedirectResponse(
        "/portal/sign-in" if caller.partner else "/sign-in", status_code=303
    )
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/portal/sign-in")
def portal_sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "portal_sign_in.html", next=_portal_next(next), errors={}, email="")


def _portal_next(path: str | None) -> str:
    path = safe_next(path, "/portal")
    return path if path.startswith("/portal") else "/portal"


@router.post("/portal/sign-in", dependencies=[SameOrigin])
def portal_send_link(
    request: Request,
    background: BackgroundTasks,
    settings: SettingsDep,
    mailer: MailerDep,
    _: PublicLimit,
    email: Annotated[str, Form(max_length=320)] = "",
    next: Annotated[str, Form(max_length=500)] = "/portal",
) -> HTMLResponse:
    email = email.strip()
    if not _is_email(email):
        return page(
            request,
            "portal_sign_in.html",
            422,
            next=_portal_next(next),
            email=email,
            errors={
                "email": gettext("Enter the e-mail address your organisation registered you with.")
            },
        )
    # The same answer, as fast, whether or not the address is known: the link is sent after.
    engine = request.app.state.engine
    background.add_task(_send_links, engine, mailer, settings, email, _portal_next(next))
    return page(request, "portal_link_sent.html", email=email)


def _send_links(engine: Engine, mailer: Mailer, settings: Settings, email: str, next: str) -> None:
    with Session(engine) as session:
        send_magic_links(session, mailer, settings, email, next)


@router.get("/portal/sign-in/{token}")
def portal_link(request: Request, token: str, session: SessionDep, _: PublicLimit) -> HTMLResponse:
    try:
        _link, user = usable_link(session, token)
    except Refused as refused:
        return gone_page(request, "portal_link_gone.html", refused, UNKNOWN_LINK)
    return page(request, "portal_link.html", user=user, token=token)


@router.post("/portal/sign-in/{token}", dependencies=[SameOrigin])
def portal_redeem(
    request: Request, token: str, session: SessionDep, settings: SettingsDep, _: PublicLimit
) -> Response:
    try:
        cookie, next_path = redeem_link(session, token, settings)
    except Refused as refused:
        session.rollback()
        return gone_page(request, "portal_link_gone.html", refused, UNKNOWN_LINK)
    session.commit()
    return _signed_in(_portal_next(next_path), cookie, settings)


@router.get("/invitations/{token}")
def invitation_page(
    request: Request, token: str, session: SessionDep, _: PublicLimit
) -> HTMLResponse:
    try:
        invitation, partner = invitations.usable(session, token)
    except Refused as refused:
        return gone_page(request, "invitation_gone.html", refused, _UNKNOWN_INVITATION)
    return page(
        request, "invitation.html", partner=partner, invitation=invitation, errors={}, form={}
    )


@router.post("/invitations/{token}", dependencies=[SameOrigin])
def invitation_answer(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    _: PublicLimit,
    answer: Annotated[str, Form(pattern="^(accept|decline)$")],
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    try:
        invitation, partner = invitations.usable(session, token)
        if answer == "decline":
            invitations.decline(session, token)
            session.commit()
            return page(
                request, "invitation_gone.html", reason=gettext("You declined the invitation.")
            )
        errors = {}
        if not name.strip():
            errors["name"] = gettext("Enter your name.")
        if not _is_email(email.strip()):
            errors["email"] = gettext("Enter a valid e-mail address.")
        if errors:
            form = {"name": name, "email": email}
            return page(
                request, "invitation.html", 422,
                partner=partner, invitation=invitation, errors=errors, form=form,
            )  # fmt: skip
        accepted = invitations.accept(
            session, token, name.strip(), email.strip(), ttl_days=settings.token_ttl_days
        )
    except Refused as refused:
        return gone_page(request, "invitation_gone.html", refused, _UNKNOWN_INVITATION)
    cookie = start_session(session, accepted.user, settings)
    session.commit()
    return _signed_in("/portal?flash=welcome", cookie, settings)
