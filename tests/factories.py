"""Test data made through the API, the way a user would make it."""

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from partnerflow.sign_in import csrf_token
from tests.conftest import eventually
from tests.web import browser, link_in

Headers = dict[str, str]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# The text of the newest e-mail a provider (an SMTP server, a SendGrid stand-in) delivered
# to an address: where a test reads a link the outbox keeps masked.
Inbox = Callable[[str], str]


async def invited_partner(
    http: httpx.AsyncClient,
    admin: Headers,
    name: str = "Sonnenschein Solar GmbH",
    inbox: Inbox | None = None,
) -> tuple[dict[str, Any], str]:
    """A partner as created: invited. Answers it and the token of its invitation link, read
    where the partner got it: the outbox (the `outbox` transport keeps it in clear, it is the
    delivery), or the `inbox` of the provider that delivered it (the outbox masks it then)."""
    slug = uuid.uuid4().hex[:8]
    email = f"office-{slug}@partner.example.com"
    partner = await created(
        await http.post("/api/partners", json={"name": name, "email": email}, headers=admin)
    )
    if inbox is None:
        invitations = (
            await http.get("/api/outbox", params={"kind": "invitation", "to": email}, headers=admin)
        ).json()["data"]
        text = invitations[0]["text"]
    else:
        text = inbox(email)
    match = re.search(r"/invitations/([A-Za-z0-9_-]+)", text)
    assert match, text
    return partner, match.group(1)


async def partner(
    http: httpx.AsyncClient,
    admin: Headers,
    name: str = "Sonnenschein Solar GmbH",
    inbox: Inbox | None = None,
) -> dict[str, Any]:
    """An active partner: invited, and the invitation accepted by its first user."""
    invited, token = await invited_partner(http, admin, name, inbox)
    owner_email = f"owner-{uuid.uuid4().hex[:8]}@partner.example.com"
    accepted = await created(
        await http.post(
            f"/api/invitations/{token}/accept",
            json={"name": "Erika Inhaberin", "email": owner_email},
        )
    )
    response = await http.get(f"/api/partners/{invited['id']}", headers=admin)
    active: dict[str, Any] = response.json()
    assert active["status"] == "active"
    active["owner_token"] = accepted["token"]
    active["owner_email"] = owner_email
    return active


async def granted(
    http: httpx.AsyncClient, admin: Headers, partner_id: str, *permissions: str
) -> dict[str, Any]:
    """The partner with exactly these permissions."""
    response = await http.put(
        f"/api/partners/{partner_id}/permissions",
        json={"permissions": list(permissions)},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def partner_user(
    http: httpx.AsyncClient, admin: Headers, partner_id: str, by: Headers | None = None
) -> dict[str, Any]:
    """A colleague added to an active partner (by an admin unless `by` says who), with the
    API token they made themselves after following their welcome link."""
    slug = uuid.uuid4().hex[:8]
    user = await created(
        await http.post(
            f"/api/partners/{partner_id}/users",
            json={"name": "Paul Monteur", "email": f"paul-{slug}@partner.example.com"},
            headers=by or admin,
        )
    )
    user["token"] = await own_token(http, admin, user["email"])
    return user


async def member(
    http: httpx.AsyncClient, admin: Headers, name: str = "Maria Mitarbeiter"
) -> dict[str, Any]:
    """A company user, with the API token they made themselves after their first sign-in."""
    slug = uuid.uuid4().hex[:8]
    user = await created(
        await http.post(
            "/api/users",
            json={"name": name, "email": f"{slug}@company.example.com", "role": "member"},
            headers=admin,
        )
    )
    user["token"] = await own_token(http, admin, user["email"])
    return user


async def welcome_link(http: httpx.AsyncClient, admin: Headers, email: str) -> str:
    """The path of the newest sign-in link e-mailed to a new account (read from the outbox,
    where the `outbox` transport keeps it in clear)."""
    sent = (
        await http.get("/api/outbox", params={"kind": "welcome", "to": email}, headers=admin)
    ).json()["data"]
    assert sent, f"no welcome e-mail to {email}"
    return link_in(sent[0]["text"], r"(?:/portal)?/sign-in/[A-Za-z0-9_-]+")


async def own_token(http: httpx.AsyncClient, admin: Headers, email: str) -> str:
    """What the new person does: follow the welcome link in a browser of their own, then
    create an API token on their account page, which shows it once."""
    link = await welcome_link(http, admin, email)
    account = "/portal/account" if link.startswith("/portal") else "/account"
    async with browser(http) as person:
        signed_in = await person.post(link)
        assert signed_in.status_code == 303, signed_in.text
        made = await person.post(
            f"{account}/tokens", data={"csrf": csrf_token(person.cookies["pf_session"])}
        )
        assert made.status_code == 200, made.text
        match = re.search(r'<code id="new-token">([^<]+)</code>', made.text)
        assert match, made.text
        return match.group(1)


HANDOVER_HTML = """<p>Hallo {{ partner.name }},</p>
<p>bitte installieren Sie die Anlage bei {{ customer.name }},
{{ customer.address.street }}, {{ customer.address.city }}.</p>
<p>Vereinbaren Sie den Termin mit dem Kunden und tragen Sie ihn als Frist ein.</p>
<p><a href="{{ step.url }}">Zum Auftrag</a></p>"""


async def email_template(http: httpx.AsyncClient, admin: Headers) -> dict[str, Any]:
    return await created(
        await http.post(
            "/api/email-templates",
            json={
                "name": "Übergabe Installation",
                "language": "de",
                "subject": "Auftrag: {{ step.name }} bei {{ customer.name }}",
                "body_html": HANDOVER_HTML,
            },
            headers=admin,
        )
    )


def two_step_template(partner_id: str, email_template_id: str | None = None) -> dict[str, Any]:
    installation: dict[str, Any] = {
        "key": "installation",
        "name": "Installation",
        "instructions": "Install the PV system and record the date it was done.",
        "assignee": {"type": "partner", "partner_id": partner_id},
        "fields": [
            {"key": "installed_on", "label": "Installed on", "type": "date", "required": True}
        ],
    }
    if email_template_id:
        installation["on_activate_email"] = email_template_id
    return {
        "name": f"PV installation {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": "commission_partner",
                "name": "Commission partner",
                "assignee": {"type": "contact"},
            },
            installation,
        ],
    }


def installation_template(
    partner_id: str, deadline: dict[str, Any] | None = None, name: str | None = None
) -> dict[str, Any]:
    """Commission the partner, then its installation: a date to record, an invoice to upload."""
    return {
        "name": name or f"PV installation {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": "commission_partner",
                "name": "Commission partner",
                "assignee": {"type": "contact"},
            },
            {
                "key": "installation",
                "name": "Installation",
                "instructions": "Agree the date with the customer, install, upload the invoice.",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "deadline": deadline,
                "fields": [
                    {
                        "key": "installed_on",
                        "label": "Installed on",
                        "type": "date",
                        "required": True,
                    }
                ],
                "documents": [{"type": "invoice", "label": "Invoice", "required": True}],
            },
        ],
    }


async def published_template(
    http: httpx.AsyncClient, admin: Headers, body: dict[str, Any]
) -> dict[str, Any]:
    template = await created(await http.post("/api/process-templates", json=body, headers=admin))
    response = await http.post(f"/api/process-templates/{template['id']}/publish", headers=admin)
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    return published


async def automation(
    http: httpx.AsyncClient,
    admin: Headers,
    template_id: str,
    *,
    name: str = "PV",
    event: str = "opportunity.created",
    filter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An automation that starts the template on the event (every PV opportunity by default)."""
    return await created(
        await http.post(
            "/api/automations",
            json={
                "name": name,
                "trigger": {
                    "event": event,
                    "filter": {"product": "pv"} if filter is None else filter,
                },
                "action": {"start_process": template_id},
            },
            headers=admin,
        )
    )


async def opportunity(
    http: httpx.AsyncClient, admin: Headers, *, test: bool = False
) -> dict[str, Any]:
    return await created(
        await http.post(
            "/api/opportunities",
            json={
                "title": "PV-Anlage Familie Becker",
                "customer": {
                    "name": "Jana Becker",
                    "email": "jana.becker@customer.example.com",
                    "phone": "+49 221 555 0100",
                    "address": {
                        "street": "Lindenweg 4",
                        "postal_code": "50667",
                        "city": "Köln",
                        "country": "DE",
                    },
                },
                "product": "pv",
                "test": test,
            },
            headers=admin,
        )
    )


async def outbox(
    http: httpx.AsyncClient, admin: Headers, process_id: str, *, count: int, wait: float = 10.0
) -> list[dict[str, Any]]:
    """The process's e-mails once `count` are there; they go out after the step opens."""

    async def listed() -> dict[str, Any]:
        response = await http.get("/api/outbox", params={"process_id": process_id}, headers=admin)
        body: dict[str, Any] = response.json()
        return body

    body = await eventually(listed, lambda body: body["count"] >= count, wait=wait)
    emails: list[dict[str, Any]] = body["data"]
    return emails


async def started(
    http: httpx.AsyncClient, admin: Headers, template_id: str, **body: Any
) -> dict[str, Any]:
    """A process of the template, started on a new opportunity unless one is given."""
    if "opportunity_id" not in body:
        body["opportunity_id"] = (await opportunity(http, admin))["id"]
    return await created(
        await http.post("/api/processes", json={"template_id": template_id, **body}, headers=admin)
    )


async def commissioned(
    http: httpx.AsyncClient, admin: Headers, partner_id: str, email_template_id: str | None = None
) -> dict[str, Any]:
    """A two-step process whose internal step is done: the partner's installation is open."""
    template = await published_template(
        http, admin, two_step_template(partner_id, email_template_id)
    )
    process = await started(http, admin, template["id"])
    return await commission(http, admin, process["id"])


async def commission(http: httpx.AsyncClient, admin: Headers, process_id: str) -> dict[str, Any]:
    """The internal first step done: the process hands over to the partner."""
    response = await http.post(
        f"/api/processes/{process_id}/steps/commission_partner/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


async def commissioned_for(
    http: httpx.AsyncClient, admin: Headers, template_id: str, customer: str
) -> dict[str, Any]:
    """A PV installation for the customer (an opportunity in Köln), started and commissioned:
    the partner's step is open. The browser tests' customer cases."""
    opportunity = await http.post(
        "/api/opportunities",
        json={
            "title": f"PV-Anlage {customer}",
            "customer": {
                "name": customer,
                "phone": "+49 221 555 0100",
                "address": {"street": "Lindenweg 4", "postal_code": "50667", "city": "Köln"},
            },
            "product": "pv",
        },
        headers=admin,
    )
    assert opportunity.status_code == 201, opportunity.text
    process = await started(http, admin, template_id, opportunity_id=opportunity.json()["id"])
    await commission(http, admin, process["id"])
    return process
