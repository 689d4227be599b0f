"""Who may call what: every route of the app × every kind of caller → the expected status.

The table is checked against the app's own routes, so a new route without a rule here
fails this test. Requests are chosen to change nothing that matters to the next one: a
valid body where the answer depends on who asks, a refused one (or an unknown id) where
the call would otherwise destroy something.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import Session, select

from api.main import create_app
from partnerflow.models import Notification, User
from partnerflow.partners import PERMISSIONS
from tests import factories
from tests.conftest import Stack

CALLERS = ("anonymous", "admin", "member", "partner_a", "partner_b", "revoked")
UNKNOWN = str(uuid.UUID(int=7))
PDF = b"%PDF-1.7\n%%EOF\n"


@dataclass
class Rule:
    admin: int
    member: int
    partner_a: int
    partner_b: int
    public: bool = False
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    files: bool = False

    def expected(self, caller: str) -> int:
        if caller in ("anonymous", "revoked"):
            return self.admin if self.public else 401
        return int(getattr(self, caller))


def admin_only(ok: int, **kw: Any) -> Rule:
    return Rule(ok, 403, 403, 403, **kw)


def staff(ok: int, **kw: Any) -> Rule:
    return Rule(ok, ok, 403, 403, **kw)


def anyone(ok: int, **kw: Any) -> Rule:
    return Rule(ok, ok, ok, ok, **kw)


def public(status: int, **kw: Any) -> Rule:
    return Rule(status, status, status, status, public=True, **kw)


P = "/api/processes/{process_id}"
PT = "/api/process-templates/{template_id}"
ET = "/api/email-templates/{template_id}"

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): public(200),
    ("GET", "/readyz"): public(200),
    ("GET", "/metrics"): public(404),  # only with the metrics token, or on its own port
    # users and tokens
    ("POST", "/api/users"): admin_only(422, body={}),
    ("GET", "/api/users"): admin_only(200),
    ("GET", "/api/me"): anyone(200),
    ("PUT", "/api/me"): anyone(200, body={"language": None}),
    ("GET", "/api/me/tokens"): anyone(200),
    ("POST", "/api/me/tokens"): anyone(201),
    ("DELETE", "/api/me/tokens/{token_id}"): anyone(404, params={"token_id": UNKNOWN}),
    # a calendar feed: everyone's own (asked in order: none to revoke yet, then one made)
    ("DELETE", "/api/me/calendar-feed"): anyone(404),
    ("POST", "/api/me/calendar-feed"): anyone(201),
    ("POST", "/api/users/{user_id}/deactivate"): admin_only(404, params={"user_id": UNKNOWN}),
    ("POST", "/api/users/{user_id}/activate"): admin_only(404, params={"user_id": UNKNOWN}),
    ("POST", "/api/users/{user_id}/sign-in-link"): admin_only(404, params={"user_id": UNKNOWN}),
    # an absence: an admin's or the user's own business (nobody here is the unknown user)
    ("PUT", "/api/users/{user_id}/absence"): admin_only(
        404,
        params={"user_id": UNKNOWN},
        body={
            "from": "2030-01-01T08:00:00Z",
            "until": "2030-01-02T08:00:00Z",
            "substitute_user_id": UNKNOWN,
        },
    ),
    ("GET", "/api/users/{user_id}/absence"): admin_only(404, params={"user_id": UNKNOWN}),
    ("DELETE", "/api/users/{user_id}/absence"): admin_only(404, params={"user_id": UNKNOWN}),
    ("GET", "/api/tokens"): admin_only(200),
    ("DELETE", "/api/tokens/{token_id}"): admin_only(404, params={"token_id": UNKNOWN}),
    # partners
    ("POST", "/api/partners"): admin_only(422, body={}),
    ("GET", "/api/partners"): staff(200),
    ("GET", "/api/partners/{partner_id}"): Rule(200, 200, 200, 404),
    ("POST", "/api/partners/{partner_id}/users"): Rule(
        201, 403, 201, 404, body={"name": "Kai", "email": "kai@partner.example.com"}
    ),
    ("PUT", "/api/partners/{partner_id}/permissions"): admin_only(422, body={}),
    # a service area: seen like the partner, changed by an admin (a refused body changes none)
    ("GET", "/api/partners/{partner_id}/service-area"): Rule(200, 200, 200, 404),
    ("PUT", "/api/partners/{partner_id}/service-area"): admin_only(
        422, body={"postal_codes": ["5066x"]}
    ),
    ("POST", "/api/partners/{partner_id}/revoke"): admin_only(404, params={"partner_id": UNKNOWN}),
    ("POST", "/api/partners/{partner_id}/invite"): admin_only(409),  # A has joined already
    # A's scorecard: the company's users and A's own; B cannot see A
    ("GET", "/api/partners/{partner_id}/scorecard"): Rule(200, 200, 200, 404),
    ("GET", "/api/partners/{partner_id}/scorecard.csv"): Rule(200, 200, 200, 404),
    ("GET", "/api/invitations/{token}"): public(404),
    ("POST", "/api/invitations/{token}/accept"): public(
        404, body={"name": "E", "email": "e@example.com"}
    ),
    ("POST", "/api/invitations/{token}/decline"): public(404),
    # e-mail templates
    ("GET", "/api/email-templates/variables"): staff(200),
    ("POST", "/api/email-templates"): staff(422, body={}),
    ("GET", "/api/email-templates"): staff(200),
    ("GET", ET): staff(200),
    ("PUT", ET): staff(422, body={}),
    ("DELETE", ET): staff(404, params={"template_id": UNKNOWN}),
    ("POST", ET + "/preview"): staff(200),
    # process templates
    ("POST", "/api/process-templates"): staff(422, body={}),
    ("GET", "/api/process-templates"): staff(200),
    ("GET", PT): staff(200),
    ("PUT", PT): staff(422, body={}),
    ("DELETE", PT): staff(404, params={"template_id": UNKNOWN}),
    ("POST", PT + "/publish"): staff(200),
    ("POST", PT + "/archive"): staff(404, params={"template_id": UNKNOWN}),
    ("POST", PT + "/duplicate"): staff(201),
    ("GET", PT + "/versions"): staff(200),
    ("GET", PT + "/versions/{version}"): staff(200),
    ("POST", PT + "/replace"): staff(422, body={}),
    # opportunities
    ("POST", "/api/opportunities"): staff(422, body={}),
    ("GET", "/api/opportunities"): staff(200),
    ("GET", "/api/opportunities/{opportunity_id}"): staff(200),
    ("PATCH", "/api/opportunities/{opportunity_id}"): staff(422, body={"title": ""}),
    ("POST", "/api/opportunities/{opportunity_id}/erase"): admin_only(
        404, params={"opportunity_id": UNKNOWN}
    ),
    # automations
    ("POST", "/api/automations"): staff(422, body={}),
    ("GET", "/api/automations"): staff(200),
    ("GET", "/api/automations/{automation_id}"): staff(404),
    ("PUT", "/api/automations/{automation_id}"): staff(422, body={}),
    ("DELETE", "/api/automations/{automation_id}"): staff(404),
    ("GET", "/api/automations/{automation_id}/runs"): staff(404),
    # processes: partner B has no step in A's process, so it does not exist for B
    ("POST", "/api/processes"): staff(422, body={}),
    ("GET", "/api/processes"): anyone(200),
    ("GET", "/api/processes.csv"): anyone(200),
    ("GET", P): Rule(200, 200, 200, 404),
    ("POST", P + "/cancel"): staff(422, body={}),
    # the installation step is open; its required field is missing, so nothing completes
    ("POST", P + "/steps/{step_key}/complete"): Rule(422, 403, 422, 404, body={"fields": {}}),
    ("POST", P + "/steps/{step_key}/skip"): Rule(
        409, 409, 403, 403, body={}, params={"step_key": "commission_partner"}
    ),
    ("PUT", P + "/steps/{step_key}/deadline"): Rule(
        422, 403, 422, 404, body={"due_at": "2001-01-01"}
    ),
    ("POST", P + "/steps/{step_key}/reassign"): staff(
        422, body={"assignee": {"type": "partner", "partner_id": UNKNOWN}}
    ),
    # the installation step has no review: whoever may see it is told it is not in review
    ("POST", P + "/steps/{step_key}/review"): Rule(
        409, 409, 409, 404, body={"decision": "approve"}
    ),
    # only a partner's users hand a step back, and only an active one of theirs
    ("POST", P + "/steps/{step_key}/decline"): Rule(
        403, 403, 409, 404, body={"reason": "busy"}, params={"step_key": "commission_partner"}
    ),
    ("POST", P + "/steps/{step_key}/documents"): Rule(415, 415, 415, 404, files=True),
    ("GET", P + "/steps/{step_key}/documents"): Rule(200, 200, 200, 404),
    ("GET", P + "/documents/{document_id}"): Rule(200, 200, 200, 404),
    ("POST", P + "/steps/{step_key}/comments"): Rule(201, 201, 201, 404, body={"body": "Hallo"}),
    ("GET", P + "/steps/{step_key}/comments"): Rule(200, 200, 200, 404),
    # bulk changes are the company's; an empty selection is refused before any step
    ("POST", "/api/steps/bulk"): staff(422, body={"action": "skip", "items": []}),
    ("GET", "/api/my/tasks"): anyone(200),
    ("GET", "/api/my/scorecard"): Rule(403, 403, 200, 200),  # a partner's users have one
    # offers are made to partners: the company's users have none to see or answer
    ("GET", "/api/my/offers"): Rule(403, 403, 200, 200),
    ("POST", "/api/offers/{offer_id}/accept"): Rule(
        403, 403, 404, 404, params={"offer_id": UNKNOWN}
    ),
    ("POST", "/api/offers/{offer_id}/decline"): Rule(
        403, 403, 404, 404, body={"reason": "busy"}, params={"offer_id": UNKNOWN}
    ),
    ("GET", "/api/notifications"): anyone(200),
    ("POST", "/api/notifications/{notification_id}/read"): Rule(200, 404, 404, 404),
    ("GET", "/api/outbox"): admin_only(200),
    ("GET", "/api/outbox/{email_id}/attachments/{position}"): admin_only(
        404, params={"email_id": UNKNOWN, "position": "0"}
    ),
    # webhooks (admins): a refused body, or a subscription that does not exist
    ("POST", "/api/webhooks"): admin_only(422, body={}),
    ("GET", "/api/webhooks"): admin_only(200),
    ("GET", "/api/webhooks/{webhook_id}"): admin_only(404, params={"webhook_id": UNKNOWN}),
    ("PATCH", "/api/webhooks/{webhook_id}"): admin_only(
        404, body={}, params={"webhook_id": UNKNOWN}
    ),
    ("DELETE", "/api/webhooks/{webhook_id}"): admin_only(404, params={"webhook_id": UNKNOWN}),
    ("POST", "/api/webhooks/{webhook_id}/rotate-secret"): admin_only(
        404, params={"webhook_id": UNKNOWN}
    ),
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): admin_only(
        404, params={"webhook_id": UNKNOWN}
    ),
    ("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): admin_only(
        404, params={"webhook_id": UNKNOWN, "delivery_id": UNKNOWN}
    ),
}


async def _world(stack: Stack) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The callers' headers, and the ids the route paths are filled with."""
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    a = await factories.partner(http, admin, name="Partner A")
    b = await factories.partner(http, admin, name="Partner B")
    revoked = await factories.partner(http, admin, name="Partner R")
    await factories.granted(http, admin, a["id"], *PERMISSIONS)
    await http.post(f"/api/partners/{revoked['id']}/revoke", headers=admin)
    email = await factories.email_template(http, admin)
    process = await factories.commissioned(http, admin, a["id"], email["id"])
    document = await factories.created(
        await http.post(
            f"/api/processes/{process['id']}/steps/installation/documents",
            files={"file": ("r.pdf", PDF, "application/pdf")},
            data={"type": "invoice"},
            headers=admin,
        )
    )
    with Session(stack.engine) as session:
        admin_id = session.exec(select(User.id).where(User.role == "admin")).one()
        notification = Notification(
            idempotency_key="matrix", user_id=admin_id, kind="step_completed", message="x"
        )
        session.add(notification)
        session.commit()
        notification_id = str(notification.id)
    headers = {
        "anonymous": {},
        "admin": admin,
        "member": factories.bearer(member["token"]),
        "partner_a": factories.bearer(a["owner_token"]),
        "partner_b": factories.bearer(b["owner_token"]),
        "revoked": factories.bearer(revoked["owner_token"]),
    }
    ids = {
        "process_id": process["id"],
        "step_key": "installation",
        "partner_id": a["id"],
        "opportunity_id": process["opportunity_id"],
        "document_id": document["id"],
        "notification_id": notification_id,
        "token": "no-such-invitation",
        "token_id": UNKNOWN,
        "automation_id": UNKNOWN,
        "version": "1",
    }
    return headers, {
        **ids,
        "process_template_id": process["template_id"],
        "email_template_id": email["id"],
    }


def _url(path: str, ids: dict[str, str], rule: Rule) -> str:
    values = {**ids, **rule.params}
    if "{template_id}" in path and "template_id" not in rule.params:
        kind = (
            "email_template_id"
            if path.startswith("/api/email-templates")
            else "process_template_id"
        )
        values["template_id"] = ids[kind]
    return path.format(**values)


def test_every_route_has_a_rule() -> None:
    # The OpenAPI of the app as built: no server or database needed to read it.
    routes = {
        (method.upper(), path)
        for path, operations in create_app().openapi()["paths"].items()
        for method in operations
    }
    assert routes - RULES.keys() == set(), "routes without an authorisation rule"
    assert RULES.keys() - routes == set(), "rules for routes that do not exist"


# Who may call what is decided in code, before any query that could differ by database; the
# routes' queries run on PostgreSQL in their own tests. Twice, it cost 5 s of CPU.
@pytest.mark.sqlite_only
async def test_authorisation_matrix(stack: Stack) -> None:
    headers, ids = await _world(stack)
    mismatches = []
    for (method, path), rule in sorted(RULES.items()):
        url = _url(path, ids, rule)
        for caller in CALLERS:
            kwargs: dict[str, Any] = {"headers": headers[caller]}
            if rule.files:
                kwargs["files"] = {"file": ("x.pdf", b"just text", "application/pdf")}
                kwargs["data"] = {"type": "invoice"}
            elif rule.body is not None:
                kwargs["json"] = rule.body
            response = await stack.http.request(method, url, **kwargs)
            if response.status_code != rule.expected(caller):
                mismatches.append(
                    f"{method} {path} as {caller}: {response.status_code}, "
                    f"expected {rule.expected(caller)} ({response.text[:120]})"
                )
            assert response.status_code < 500, f"{method} {path} as {caller}: {response.text}"
    assert mismatches == []
