"""The chaos run's processes, driven through the HTTP API as a careful client drives them.

A process of the chaos template: the contact person commissions two partners, who then
work in parallel (the installation and the grid registration, their completions sent at
the same moment), and the contact person accepts. Each partner step sends a hand-over
e-mail when it opens and a completion e-mail to the contact when it is done.

The client sends each call with an `Idempotency-Key` and, when no answer comes (connection
refused or cut: the API died) or the answer is a 5xx (Temporal or the database away), sends
it again with the same key, to the next API, with back-off, until it has an answer or gives
up. Everything it is told goes into a `Ledger`.
"""

import asyncio
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.chaos_tally import Ledger

Headers = dict[str, str]

# What a process takes: create its opportunity, start it, complete its four steps.
CALLS_PER_PROCESS = 6
COMMISSION = "commission"
PARALLEL = ("installation", "grid_registration")
ACCEPTANCE = "acceptance"
FIELDS: dict[str, dict[str, Any]] = {
    COMMISSION: {},
    "installation": {"installed_on": "2026-12-11"},
    "grid_registration": {"meter_number": "DE0001234567"},
    ACCEPTANCE: {},
}
# The opportunities a run creates carry this in their title, with the run and the number.
TITLE_PREFIX = "Chaos"


def chaos_template(
    installer_id: str, grid_partner_id: str, email_template_id: str
) -> dict[str, Any]:
    """The process template: a commission, two partner steps in parallel, an acceptance."""
    return {
        "name": f"Chaos PV {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": COMMISSION, "name": "Commission partners", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "instructions": "Install the PV system and record the date.",
                "assignee": {"type": "partner", "partner_id": installer_id},
                "requires": [COMMISSION],
                "on_activate_email": email_template_id,
                "fields": [
                    {"key": "installed_on", "label": "Installed on", "type": "date",
                     "required": True},
                ],
            },
            {
                "key": "grid_registration",
                "name": "Grid registration",
                "instructions": "Register the system with the grid operator.",
                "assignee": {"type": "partner", "partner_id": grid_partner_id},
                "requires": [COMMISSION],
                "fields": [
                    {"key": "meter_number", "label": "Meter number", "type": "text",
                     "required": True},
                ],
            },
            {
                "key": ACCEPTANCE,
                "name": "Acceptance",
                "assignee": {"type": "contact"},
                "requires": list(PARALLEL),
            },
        ],
    }  # fmt: skip


@dataclass
class Actors:
    """Who drives the processes: the admin (the contact person) and one user per partner."""

    admin: Headers
    installer: Headers
    grid_partner: Headers
    template_id: str

    def for_step(self, step_key: str) -> Headers:
        if step_key == "installation":
            return self.installer
        if step_key == "grid_registration":
            return self.grid_partner
        return self.admin


class CarefulClient:
    """Sends a call until it is answered, to the APIs in turn; tells the ledger everything."""

    def __init__(
        self,
        apis: Sequence[httpx.AsyncClient],
        ledger: Ledger,
        *,
        give_up_after: float = 600.0,
    ) -> None:
        self._apis = list(apis)
        self._next = random.randrange(len(self._apis))  # noqa: S311 (not for security)
        self.ledger = ledger
        self._give_up_after = give_up_after

    async def post(
        self, what: str, path: str, body: dict[str, Any], headers: Headers, key: str
    ) -> httpx.Response | None:
        """The answer (anything but a 5xx), or the last 5xx, or None if none came in time.
        `what` names the call in the ledger (e.g. "complete installation")."""
        self.ledger.in_flight[what] += 1
        try:
            return await self._post(path, body, headers, key)
        finally:
            self.ledger.in_flight[what] -= 1
            self.ledger.calls += 1

    async def _post(
        self, path: str, body: dict[str, Any], headers: Headers, key: str
    ) -> httpx.Response | None:
        began = time.monotonic()
        pause = 0.2
        last: httpx.Response | None = None
        while time.monotonic() - began < self._give_up_after:
            api = self._apis[self._next % len(self._apis)]
            self._next += 1
            try:
                last = await api.post(path, json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError:
                self.ledger.answers[0] += 1
            else:
                self.ledger.answers[last.status_code] += 1
                if last.status_code < 500:
                    self.ledger.latencies.append(time.monotonic() - began)
                    return last
                self.ledger.retried[f"{last.status_code} {_detail(last)}"] += 1
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311
            pause = min(pause * 2, 3.0)
        return last


async def drive_process(client: CarefulClient, actors: Actors, run: str, number: int) -> None:
    """One process from its opportunity to its acceptance; stops at the first refusal."""
    ledger = client.ledger
    name = f"{run}-{number}"
    title = f"{TITLE_PREFIX} {name}"
    response = await client.post(
        "create opportunity",
        "/api/opportunities",
        {"title": title, "customer": {"name": f"Kunde {number}"}, "product": "pv"},
        actors.admin,
        key=f"{name}:opportunity",
    )
    if response is None or response.status_code != 201:
        _gave_up(ledger, "create opportunity", response)
        return
    response = await client.post(
        "start process",
        "/api/processes",
        {"template_id": actors.template_id, "opportunity_id": response.json()["id"]},
        actors.admin,
        key=f"{name}:start",
    )
    if response is None or response.status_code != 201:
        _gave_up(ledger, "start process", response)
        return
    process_id: str = response.json()["id"]
    ledger.started.add(process_id)

    async def complete(step_key: str) -> bool:
        response = await client.post(
            f"complete {step_key}",
            f"/api/processes/{process_id}/steps/{step_key}/complete",
            {"fields": FIELDS[step_key]},
            actors.for_step(step_key),
            key=f"{name}:{step_key}",
        )
        if response is None or response.status_code != 200:
            _gave_up(ledger, f"complete {step_key}", response)
            return False
        ledger.acknowledge(process_id, step_key)
        return True

    if not await complete(COMMISSION):
        return
    # The two partners finish at the same moment: concurrent updates on parallel steps.
    if not all(await asyncio.gather(*(complete(step) for step in PARALLEL))):
        return
    await complete(ACCEPTANCE)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:120]
    return str(body.get("detail", "") if isinstance(body, dict) else body)[:120]


def _gave_up(ledger: Ledger, call: str, response: httpx.Response | None) -> None:
    answer = "no answer" if response is None else str(response.status_code)
    detail = "" if response is None else f" {response.text[:120]}"
    ledger.failed_calls[f"{call}: {answer}{detail}"] += 1


async def setup_world(
    http: httpx.AsyncClient, admin: Headers, inbox: Callable[[str], str]
) -> Actors:
    """Two partners (invited by e-mail, the invitation read from `inbox`, accepted), a
    hand-over e-mail template and the chaos template, published: before any kill."""

    async def created(path: str, body: dict[str, Any], headers: Headers | None = None) -> Any:
        response = await http.post(path, json=body, headers=admin if headers is None else headers)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return response.json()

    async def partner(name: str) -> tuple[str, Headers]:
        slug = uuid.uuid4().hex[:8]
        office = f"office-{slug}@partner.example.com"
        made = await created("/api/partners", {"name": name, "email": office})
        link = re.search(r"/invitations/([A-Za-z0-9_-]+)", inbox(office))
        if link is None:
            raise RuntimeError(f"no invitation reached {office}")
        accepted = await created(
            f"/api/invitations/{link.group(1)}/accept",
            {"name": "Erika Inhaberin", "email": f"owner-{slug}@partner.example.com"},
            headers={},
        )
        return made["id"], {"Authorization": f"Bearer {accepted['token']}"}

    installer_id, installer = await partner("Sonnenschein Solar GmbH")
    grid_id, grid_partner = await partner("Netz Elektro KG")
    email = await created(
        "/api/email-templates",
        {
            "name": "Übergabe Installation",
            "language": "de",
            "subject": "Auftrag: {{ step.name }} bei {{ customer.name }}",
            "body_html": "<p>Hallo {{ partner.name }}, bitte installieren Sie die Anlage bei "
            '{{ customer.name }}.</p><p><a href="{{ step.url }}">Zum Auftrag</a></p>',
        },
    )
    template = await created(
        "/api/process-templates", chaos_template(installer_id, grid_id, email["id"])
    )
    response = await http.post(f"/api/process-templates/{template['id']}/publish", headers=admin)
    if response.status_code != 200:
        raise RuntimeError(f"publish: {response.status_code} {response.text}")
    return Actors(
        admin=admin, installer=installer, grid_partner=grid_partner, template_id=template["id"]
    )
