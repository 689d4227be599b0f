"""Who may open which page: every page of the web UI and the portal × every kind of caller →
what the person sees: the status, where a redirect goes, and no customer data where none is due.

The table is checked against the app's own routes (those outside the JSON API, whose matrix
is tests/api/test_authorization.py), so a new page without a rule here fails, naming it. Each
caller is a browser of its own (its own cookies and client address) whose session was opened
the way the product opens one; the revoked partner's, the deactivated user's and the expired
token's sessions were live before they were cut off. Requests are chosen, as in the API's
matrix, to change nothing that matters to the next one.
"""

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.main import create_app
from api.web.session import COOKIE
from partnerflow.auth import hash_token
from partnerflow.db import utcnow
from partnerflow.models import ApiToken
from partnerflow.partners import PERMISSIONS
from partnerflow.sign_in import csrf_token
from tests import factories
from tests.api.test_authorization import PDF, UNKNOWN
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser_at, signed_in_partner, signed_in_staff

# Whose browser asks. `forged` is a form another site posts in the browser of the person the
# page serves (admin; partner A in the portal): their session cookie, no form token, a
# foreign Origin. Only forms (POST) have this column.
CALLERS = (
    "anonymous",
    "admin",
    "member",
    "partner_a",  # a user of the partner the process's open step is assigned to
    "partner_b",  # a user of another, active partner
    "revoked",  # a user of a partner revoked while signed in
    "deactivated",  # a company user deactivated while signed in
    "expired",  # a company user's session opened with an API token that has since expired
    "forged",
)
# The callers that sign in; `anonymous` never does, `forged` borrows another's cookie.
SIGNED_IN = ("admin", "member", "partner_a", "partner_b", "revoked", "deactivated", "expired")
# Who must be shown the sign-in page, whatever they had: nobody, or a session now dead.
SIGNED_OUT = ("anonymous", "revoked", "deactivated", "expired")
# Who may see the customer of the process: the company's users and the assigned partner.
MAY_SEE_CUSTOMER = ("admin", "member", "partner_a")
# A refusal shows nobody the customer (a form shown again with its error, 415/422, may).
REFUSED = (401, 403, 404, 405, 410)
# Not the e-mail editor's made-up customer (Jana Becker), whom every preview shows.
CUSTOMER = {
    "name": "Wiebke Sonnleitner",
    "email": "wiebke.sonnleitner@customer.example.com",
    "phone": "+49 89 555 0177",
    "address": {
        "street": "Am Kiesberg 17",
        "postal_code": "81549",
        "city": "München",
        "country": "DE",
    },
}
# What of it must not reach a caller who may not see it (the title names the family too).
CUSTOMER_TEXTS = ("Sonnleitner", "Am Kiesberg 17", "555 0177")
FOREIGN_ORIGIN = "https://attacker.example.com"

# An outcome is "<status>" or "<status> <location>"; the location may use `*` and the ids.
SIGN_IN = "sign-in"  # 303 to the sign-in page of the path's side, back to the page after


@dataclass
class Page:
    """What each caller sees of one page (`signed_out`: anonymous and every dead session),
    and what to send: the form's inputs besides its token, ids in place of the world's."""

    admin: str
    member: str
    partner_a: str
    partner_b: str
    signed_out: str = SIGN_IN
    form: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    upload: bool = False
    ends_session: bool = False  # asked after every other page, so the sessions live till then

    def expected(
        self, caller: str, method: str, path: str, url: str, values: dict[str, str]
    ) -> str:
        if caller == "forged":
            return "403"
        outcome = self.signed_out if caller in SIGNED_OUT else getattr(self, caller)
        if outcome != SIGN_IN:
            return str(outcome).format(**values)
        portal = path.startswith("/portal")
        sign_in = "/portal/sign-in" if portal else "/sign-in"
        # A page comes back to itself; a form posted after the session ended, without a
        # Referer, to the side's start page.
        back = url if method == "GET" else ("/portal" if portal else "/processes")
        return f"303 {sign_in}?next={quote(back, safe='/')}"


def public(outcome: str, **kw: Any) -> Page:
    return Page(outcome, outcome, outcome, outcome, signed_out=outcome, **kw)


def staff(ok: str, **kw: Any) -> Page:
    return Page(ok, ok, "403", "403", **kw)


def admin_only(ok: str, **kw: Any) -> Page:
    return Page(ok, "403", "403", "403", **kw)


def portal(a: str, b: str, **kw: Any) -> Page:
    return Page("403", "403", a, b, **kw)


P = "/processes/{process_id}"
B = "/builder/{template_id}"
MY_STEP = "/portal/processes/{process_id}/steps/{step_key}"

RULES: dict[tuple[str, str], Page] = {
    # the API's description, public like the API's own sign-in-free routes
    ("GET", "/openapi.json"): public("200"),
    ("GET", "/docs"): public("200"),
    ("GET", "/docs/oauth2-redirect"): public("200"),
    ("GET", "/redoc"): public("200"),
    # signing in and out
    ("GET", "/"): Page(
        "303 /processes", "303 /processes", "303 /portal", "303 /portal", signed_out="303 /sign-in"
    ),
    ("GET", "/sign-in"): public("200"),
    ("POST", "/sign-in"): public("401", form={"token": "pf_not_a_token"}),
    ("POST", "/sign-out"): Page(
        "303 /sign-in",
        "303 /sign-in",
        "303 /portal/sign-in",
        "303 /portal/sign-in",
        ends_session=True,
    ),
    ("GET", "/sign-in/{token}"): public("404"),
    ("POST", "/sign-in/{token}"): public("404"),
    ("GET", "/portal/sign-in"): public("200"),
    # the same answer whether or not the address is known
    ("POST", "/portal/sign-in"): public("200", form={"email": "nobody@example.com"}),
    ("GET", "/portal/sign-in/{token}"): public("404"),
    ("POST", "/portal/sign-in/{token}"): public("404"),
    ("GET", "/invitations/{token}"): public("404"),
    ("POST", "/invitations/{token}"): public("404", form={"answer": "decline"}),
    # a person's own account; the token to revoke is partner A's owner's, nobody else's
    ("GET", "/account"): staff("200"),
    ("POST", "/account/tokens"): staff("200"),
    ("POST", "/account/tokens/{token_id}/revoke"): staff("404"),
    ("POST", "/account/language"): staff(
        "303 /account?flash=language", form={"language": "browser"}
    ),
    ("GET", "/portal/account"): portal("200", "200"),
    ("POST", "/portal/account/tokens"): portal("200", "200"),
    ("POST", "/portal/account/language"): portal(
        "303 /portal/account?flash=language",
        "303 /portal/account?flash=language",
        form={"language": "browser"},
    ),
    ("POST", "/portal/account/tokens/{token_id}/revoke"): portal(
        "303 /portal/account?flash=revoked", "404"
    ),
    # a calendar feed: each person's own, its address shown once; read by its token alone
    ("POST", "/account/calendar-feed"): staff("200"),
    ("POST", "/account/calendar-feed/revoke"): staff("303 /account?flash=feed_revoked"),
    ("POST", "/portal/account/calendar-feed"): portal("200", "200"),
    ("POST", "/portal/account/calendar-feed/revoke"): portal(
        "303 /portal/account?flash=feed_revoked", "303 /portal/account?flash=feed_revoked"
    ),
    ("GET", "/calendar/{token}.ics"): public("404"),
    # the contact person's pages
    ("GET", "/processes"): staff("200"),
    ("GET", P): staff("200"),
    ("POST", P + "/steps/{step_key}/comments"): staff(
        "303 /processes/{process_id}", form={"body": "Hallo"}
    ),
    ("GET", P + "/documents/{document_id}"): staff("200"),
    # no decision chosen: refused before the workflow is asked
    ("POST", P + "/steps/{step_key}/review"): staff("422"),
    ("POST", "/steps/bulk"): staff("422"),  # nothing selected: nothing changes
    ("GET", "/notifications"): staff("200"),
    # partners and their scorecards (partner A's)
    ("GET", "/partners"): staff("200"),
    ("GET", "/partners/{partner_id}"): staff("200"),
    ("GET", "/partners/{partner_id}/scorecard.csv"): staff("200"),
    # the service area: changed by an admin only; a pattern that is no postal code is refused
    ("POST", "/partners/{partner_id}/service-area"): admin_only(
        "422", form={"postal_codes": "5066x", "country": "DE"}
    ),
    ("POST", "/notifications/read"): staff("303 /notifications"),
    # people and their absences: an admin's, or the person's own (nobody is the unknown user)
    ("GET", "/people"): admin_only("200"),
    ("GET", "/people/{user_id}"): Page("404", "403", "403", "403", params={"user_id": UNKNOWN}),
    ("POST", "/people/{user_id}/absence"): Page(
        "404", "403", "403", "403", params={"user_id": UNKNOWN}
    ),
    ("POST", "/people/{user_id}/absence/withdraw"): Page(
        "404", "403", "403", "403", params={"user_id": UNKNOWN}
    ),
    ("GET", "/outbox"): admin_only("200"),
    ("GET", "/webhooks"): admin_only("200"),
    ("GET", "/outbox/{email_id}"): admin_only("200"),  # the hand-over, with the customer
    # the process builder: refused forms and unknown ids where a change would destroy
    ("GET", "/builder"): staff("200"),
    ("GET", "/builder/new"): staff("200"),
    ("POST", "/builder/new"): staff("422"),
    ("GET", B): staff("200"),
    ("POST", B): staff("422"),
    ("POST", B + "/duplicate"): staff("303 /builder/*?flash=duplicated"),
    ("POST", B + "/archive"): staff("404", params={"template_id": UNKNOWN}),
    ("POST", B + "/publish"): staff("303 /builder/{template_id}?flash=*"),
    ("POST", B + "/steps"): staff("303 /builder/{template_id}/steps/*?flash=added"),
    ("GET", B + "/steps/{index}"): staff("200"),
    ("POST", B + "/steps/{index}"): staff("422"),
    ("POST", B + "/steps/{index}/delete"): staff("404", params={"index": "99"}),
    ("POST", B + "/steps/{index}/move-up"): staff("303 /builder/{template_id}"),
    # the e-mail templates
    ("GET", "/emails"): staff("200"),
    ("GET", "/emails/new"): staff("200"),
    ("POST", "/emails/new"): staff("422"),
    ("POST", "/emails/preview"): staff(
        "200", form={"subject": "Hallo", "body_html": "<p>{{ customer.name }}</p>"}
    ),
    ("GET", "/emails/{template_id}"): staff("200"),
    ("POST", "/emails/{template_id}"): staff("422"),
    # the portal: partner B has no step in A's process, so it does not exist for B
    ("GET", "/portal"): portal("200", "200"),
    ("GET", MY_STEP): portal("200", "404"),
    ("POST", MY_STEP + "/appointment"): portal("422", "404", form={"appointment": ""}),
    ("POST", MY_STEP + "/documents"): portal("415", "404", upload=True),
    ("POST", MY_STEP + "/complete"): portal("422", "404"),  # its required field is missing
    ("POST", MY_STEP + "/decline"): portal("422", "404"),  # no reason given
    ("POST", MY_STEP + "/comments"): portal(
        "303 /portal/processes/{process_id}/steps/{step_key}?flash=commented",
        "404",
        form={"body": "Hallo"},
    ),
    ("GET", "/portal/processes/{process_id}/documents/{document_id}"): portal("200", "404"),
    ("GET", "/portal/scorecard"): portal("200", "200"),  # each partner its own
    # offers: each partner its own (none here: an unknown one is not found)
    ("GET", "/portal/offers"): portal("200", "200"),
    ("POST", "/portal/offers/{offer_id}/accept"): portal(
        "404", "404", params={"offer_id": UNKNOWN}
    ),
    ("POST", "/portal/offers/{offer_id}/decline"): portal(
        "404", "404", form={"reason": "busy"}, params={"offer_id": UNKNOWN}
    ),
    ("GET", "/portal/scorecard.csv"): portal("200", "200"),
}


# Addresses that only take a posted form. (A GET of /emails/preview is the editor of a
# template with that id, and /builder/new a page of its own.)
FORMS_ONLY = (
    {path for method, path in RULES if method == "POST"}
    - {path for method, path in RULES if method == "GET"}
    - {"/emails/preview"}
)


def page_routes() -> set[tuple[str, str]]:
    """(method, path) of every route outside the JSON API and the static files."""
    app = create_app()
    api_paths = set(app.openapi()["paths"])
    found = set()
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if not path or not methods or path in api_paths or path.startswith("/api/"):
            continue  # a mount (static files), or the JSON API
        # HEAD comes with every GET of a plain route: the same answer without a body.
        found |= {(method, path) for method in methods if method != "HEAD"}
    return found


def test_every_page_has_a_rule() -> None:
    routes = page_routes()
    missing = sorted(routes - RULES.keys())
    assert missing == [], f"pages without an authorisation rule: {missing}"
    assert sorted(RULES.keys() - routes) == [], "rules for pages that do not exist"


@dataclass
class World:
    """What the table's requests are made of, built once per test."""

    ids: dict[str, str]
    sessions: dict[str, str]  # the pf_session cookie of each caller's browser


def _api_token_id(stack: Stack, token: str) -> str:
    with Session(stack.engine) as session:
        found = session.exec(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))
        return str(found.one())


async def _world(stack: Stack, browsers: dict[str, httpx.AsyncClient]) -> World:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    leaver = await factories.member(http, admin, name="Lena Geht")
    a = await factories.partner(http, admin, name="Partner A")
    b = await factories.partner(http, admin, name="Partner B")
    dropped = await factories.partner(http, admin, name="Partner R")
    await factories.granted(http, admin, a["id"], *PERMISSIONS)
    email = await factories.email_template(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(a["id"], email["id"])
    )
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={"title": "PV-Anlage Sonnleitner", "customer": CUSTOMER, "product": "pv"},
            headers=admin,
        )
    )
    started = await factories.started(http, admin, template["id"], opportunity_id=opportunity["id"])
    process = await factories.commission(http, admin, started["id"])
    document = await factories.created(
        await http.post(
            f"/api/processes/{process['id']}/steps/installation/documents",
            files={"file": ("r.pdf", PDF, "application/pdf")},
            data={"type": "invoice"},
            headers=admin,
        )
    )
    [handover] = await factories.outbox(http, admin, process["id"], count=1)
    # the member's second token: the browser opened with it outlives it
    spare = await factories.created(
        await http.post("/api/me/tokens", headers=factories.bearer(member["token"]))
    )

    for caller, token in (
        ("admin", ADMIN_TOKEN),
        ("member", member["token"]),
        ("deactivated", leaver["token"]),
        ("expired", spare["token"]),
    ):
        await signed_in_staff(browsers[caller], token)
    for caller, partner in (("partner_a", a), ("partner_b", b), ("revoked", dropped)):
        await signed_in_partner(browsers[caller], admin, partner["owner_email"])
    sessions = {caller: client.cookies[COOKIE] for caller, client in browsers.items()}
    for caller, start in (("deactivated", "/processes"), ("expired", "/"), ("revoked", "/portal")):
        opened = await browsers[caller].get(start)
        assert opened.status_code in (200, 303) and "sign-in" not in opened.headers.get(
            "location", ""
        ), f"{caller}: the session did not work before it was cut off"

    # Cut off: the leaver deactivated, partner R revoked, the spare token past its expiry.
    deactivated = await http.post(f"/api/users/{leaver['id']}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text
    revoked = await http.post(f"/api/partners/{dropped['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    with Session(stack.engine) as session:
        session.execute(
            update(ApiToken)
            .where(col(ApiToken.token_hash) == hash_token(spare["token"]))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()

    ids = {
        "process_id": process["id"],
        "step_key": "installation",
        "document_id": document["id"],
        "email_id": handover["id"],
        "process_template_id": process["template_id"],
        "email_template_id": email["id"],
        "index": "0",
        "token": "no-such-link",
        "token_id": _api_token_id(stack, a["owner_token"]),
        "partner_id": a["id"],
    }
    return World(ids=ids, sessions=sessions)


def _values(path: str, ids: dict[str, str], rule: Page) -> dict[str, str]:
    """What the path's and the outcome's placeholders stand for on this page."""
    kind = "email_template_id" if path.startswith("/emails") else "process_template_id"
    return {**ids, "template_id": ids[kind], **rule.params}


def _seen(response: httpx.Response) -> str:
    if not response.is_redirect:
        return str(response.status_code)
    location = urlsplit(response.headers["location"])
    query = f"?{location.query}" if location.query else ""
    return f"{response.status_code} {location.path}{query}"


def _said(response: httpx.Response) -> str:
    """What the page says it is (its title), for the failure's message."""
    found = re.search(r"<title>([^<]*)</title>", response.text)
    return found.group(1).strip() if found else response.text[:80]


@asynccontextmanager
async def _browsers(stack: Stack) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A browser per caller, each from its own address."""
    async with AsyncExitStack() as exits:
        yield {
            caller: await exits.enter_async_context(browser_at(stack.http, f"10.0.0.{n}"))
            for n, caller in enumerate(CALLERS, start=1)
        }


async def test_page_authorisation_matrix(stack: Stack) -> None:
    async with _browsers(stack) as browsers:
        world = await _world(stack, {c: browsers[c] for c in SIGNED_IN})
        mismatches, leaks = [], []
        ordered = sorted(RULES.items(), key=lambda item: (item[1].ends_session, item[0]))
        for (method, path), rule in ordered:
            values = _values(path, world.ids, rule)
            url = path.format(**values)
            for caller in CALLERS:
                if caller == "forged" and method != "POST":
                    continue
                response = await _ask(browsers[caller], caller, method, path, url, rule, world)
                expected = rule.expected(caller, method, path, url, values)
                seen = _seen(response)
                if not fnmatchcase(seen, expected):
                    mismatches.append(
                        f"{method} {path} as {caller}: {seen} ({_said(response)}), "
                        f"expected {expected}"
                    )
                if caller not in MAY_SEE_CUSTOMER or response.status_code in REFUSED:
                    shown = [text for text in CUSTOMER_TEXTS if text in response.text]
                    if shown:
                        leaks.append(f"{method} {path} as {caller} ({seen}) shows {shown}")
        assert mismatches + leaks == [], "\n".join(mismatches + leaks)

        # A form's address opened as a page (a link, the address bar): 405, a page too.
        wrong = []
        for path in sorted(FORMS_ONLY):
            url = path.format(**_values(path, world.ids, RULES["POST", path]))
            response = await browsers["anonymous"].get(url)
            if response.status_code != 405 or "text/html" not in response.headers["content-type"]:
                wrong.append(f"GET {path}: {response.status_code} {_said(response)}")
        assert wrong == [], "\n".join(wrong)


async def _ask(
    client: httpx.AsyncClient,
    caller: str,
    method: str,
    path: str,
    url: str,
    rule: Page,
    world: World,
) -> httpx.Response:
    """One request as the caller's browser would send it: its session cookie, and on a form
    the session's form token (the forged one has the victim's cookie but not the token)."""
    owner = (
        ("partner_a" if path.startswith("/portal") else "admin") if caller == "forged" else caller
    )
    session = world.sessions.get(owner)
    headers = {"Cookie": f"{COOKIE}={session}"} if session else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "POST":
        form = dict(rule.form)
        if caller == "forged":
            headers["Origin"] = FOREIGN_ORIGIN
        elif session:
            form["csrf"] = csrf_token(session)
        kwargs["data"] = form
        if rule.upload:
            kwargs["files"] = {"file": ("x.pdf", b"just text", "application/pdf")}
            form["type"] = "invoice"
    client.cookies.clear()  # only the session this caller has: nothing a response set
    response = await client.request(method, url, **kwargs)
    client.cookies.clear()
    return response
