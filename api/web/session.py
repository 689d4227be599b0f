"""Who is looking at a page: the session cookie, its form token, and where to sign in."""

from hmac import compare_digest
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from sqlmodel import col, func, select

from api.deps import SessionDep
from api.errors import forbidden
from api.web.i18n import choose_user_language
from partnerflow.callers import Caller, caller_for
from partnerflow.models import Notification
from partnerflow.settings import Settings
from partnerflow.sign_in import csrf_token, session_user

COOKIE = "pf_session"


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page that fits the path."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def location(self) -> str:
        page = "/portal/sign-in" if self.path.startswith("/portal") else "/sign-in"
        return f"{page}?next={quote(self.path, safe='/')}"


def safe_next(path: str | None, default: str) -> str:
    """Only a path of this site: never another host (`//evil`, `https://…`, `/\\evil`)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
        path="/",
    )


def _come_back_to(request: Request) -> str:
    """Where to return after signing in: this page, or for a form posted after the session
    ended, the page the form was on (a form's own address only takes posts)."""
    if request.method == "GET":
        return request.url.path
    referer = request.headers.get("referer", "")
    fallback = "/portal" if request.url.path.startswith("/portal") else "/processes"
    return safe_next(urlsplit(referer).path, fallback) if _this_site(request, referer) else fallback


def get_web_caller(request: Request, session: SessionDep) -> Caller:
    token = request.cookies.get(COOKIE)
    user = session_user(session, token) if token else None
    caller = caller_for(session, user) if user else None
    if caller is None:
        raise SignInRequired(_come_back_to(request))
    request.state.csrf = csrf_token(token or "")
    choose_user_language(caller.user.language)
    if caller.is_staff:
        # the menu's count, read on the request's own session
        request.state.unread = session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == caller.user.id, col(Notification.read).is_(False))
        ).one()
    session.commit()  # end the read, as api.deps.get_caller does, before a route awaits
    return caller


WebCaller = Annotated[Caller, Depends(get_web_caller)]


def get_web_staff(caller: WebCaller) -> Caller:
    if not caller.is_staff:
        forbidden("this page is for the company's users; partners use /portal")
    return caller


def get_web_partner(caller: WebCaller) -> Caller:
    if caller.partner is None:
        forbidden("the portal is for partners; the company's pages are at /")
    return caller


WebStaff = Annotated[Caller, Depends(get_web_staff)]
WebPartner = Annotated[Caller, Depends(get_web_partner)]


async def check_csrf(request: Request) -> None:
    """Every form that changes something carries the session's form token."""
    form = await request.form()
    sent = form.get("csrf")
    token = request.cookies.get(COOKIE) or ""
    if not token:  # signed out: sign in first, then back to the form's page
        raise SignInRequired(_come_back_to(request))
    if not isinstance(sent, str) or not compare_digest(sent, csrf_token(token)):
        forbidden("the form has expired; reload the page and try again")


CsrfChecked = Depends(check_csrf)


def check_same_origin(request: Request) -> None:
    """Forms that sign someone in have no session token yet: a browser names where they came
    from, and a foreign page must not sign this browser into another account."""
    origin = request.headers.get("origin")
    if origin is not None and not _this_site(request, origin):
        forbidden("this form must be sent from this site")


def _this_site(request: Request, address: str) -> bool:
    """The address is on this site: the host the request names, or the public address (a
    proxy in front may pass on a host of its own)."""
    settings: Settings = request.app.state.settings
    host = urlsplit(address).netloc
    return host in (request.url.netloc, urlsplit(settings.public_url).netloc)


SameOrigin = Depends(check_same_origin)
