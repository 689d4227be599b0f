"""Issue 15, item 5: smaller leaks and locks, each closed and shown here.

Invitation links masked in a provider's outbox copy; a partner sees only its own open steps;
test runs out of "my tasks"; the public rate limit held across API replicas, in the
database; sign-in links limited per address, the earlier ones still working; metrics off the
public API port; the portal in the time zone of the version a process runs; a partner slot
named only by an escalation bound at start.
"""

import uuid
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from partnerflow.db import utcnow
from tests import factories
from tests.conftest import Inbox, Stack, free_port, running_stack
from tests.web import browser, link_in


async def test_an_invitation_delivered_by_smtp_keeps_no_link_in_the_outbox(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    smtp_inbox: tuple[int, Inbox],
) -> None:
    port, inbox = smtp_inbox
    async with running_stack(
        temporal_env, database_url, engine, mail_transport="smtp", smtp_host="127.0.0.1",
        smtp_port=port,
    ) as stack:  # fmt: skip
        invited, token = await factories.invited_partner(
            stack.http, stack.admin, inbox=inbox.text_to
        )
        stored = (
            await stack.http.get(
                "/api/outbox",
                params={"kind": "invitation", "to": invited["email"]},
                headers=stack.admin,
            )
        ).json()["data"]
        assert len(stored) == 1 and stored[0]["transport"] == "smtp"
        # Whoever reads the outbox cannot take the partner's invitation.
        assert token not in stored[0]["text"] + stored[0]["html"]
        assert "/invitations/***" in stored[0]["text"]
        # The partner's copy, delivered by the server, works.
        assert (await stack.http.get(f"/api/invitations/{token}")).status_code == 200


def _two_partners_at_once(first: str, second: str) -> dict[str, Any]:
    """Two partner steps open at the start, the second with a deadline."""
    return {
        "name": f"Two partners {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": "roof_survey",
                "name": "Roof survey",
                "assignee": {"type": "partner", "partner_id": first},
                "requires": [],
            },
            {
                "key": "scaffolding",
                "name": "Scaffolding for the Becker roof",
                "assignee": {"type": "partner", "partner_id": second},
                "requires": [],
                "deadline": {"after": "P3D"},
            },
        ],
    }


async def test_a_partner_sees_only_its_own_open_steps(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    surveyor = await factories.partner(http, admin, "Dach & Co")
    scaffolder = await factories.partner(http, admin, "Gerüstbau Nord")
    template = await factories.published_template(
        http, admin, _two_partners_at_once(surveyor["id"], scaffolder["id"])
    )
    process = await factories.started(http, admin, template["id"])
    as_surveyor = factories.bearer(surveyor["owner_token"])

    listed = (await http.get("/api/processes", headers=as_surveyor)).json()["data"]
    detail = (await http.get(f"/api/processes/{process['id']}", headers=as_surveyor)).json()
    for seen in (next(p for p in listed if p["id"] == process["id"]), detail):
        assert [s["key"] for s in seen["open_steps"]] == ["roof_survey"]
        assert "Scaffolding" not in str(seen)
        assert seen["next_due_at"] is None  # the scaffolder's deadline is not its business
    # The company sees both, and the soonest deadline.
    staff = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert [s["key"] for s in staff["open_steps"]] == ["roof_survey", "scaffolding"]
    assert staff["next_due_at"] is not None


async def test_my_tasks_leave_test_runs_out_unless_asked_for(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    real = await factories.started(http, admin, template["id"])
    trial_opportunity = await factories.opportunity(http, admin, test=True)
    trial = await factories.started(
        http, admin, template["id"], opportunity_id=trial_opportunity["id"]
    )
    assert trial["test"] is True

    async def task_processes(**params: str) -> list[str]:
        response = await http.get("/api/my/tasks", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [task["process_id"] for task in response.json()["data"]]

    assert await task_processes() == [real["id"]]
    assert await task_processes(test="true") == [trial["id"]]


async def test_the_public_rate_limit_holds_across_api_replicas(stack: Stack) -> None:
    limit = stack.settings.public_rate_limit_per_minute
    replica = create_app(stack.settings, temporal=stack.env.client)
    async with (
        replica.router.lifespan_context(replica),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica), base_url="http://partnerflow.test"
        ) as other,
    ):
        statuses = []
        for n in range(limit + 10):  # the same client, on each replica in turn
            http = stack.http if n % 2 else other
            statuses.append((await http.get(f"/api/invitations/guess-{n}")).status_code)
    assert statuses.count(404) == limit
    assert statuses[-1] == 429


def test_rate_limit_counts_of_windows_gone_by_are_deleted(engine: Engine) -> None:
    from partnerflow.models import RateLimitCount
    from partnerflow.rate_limits import take

    minute = timedelta(minutes=1)
    with Session(engine) as session:
        an_hour_ago = utcnow() - timedelta(hours=1)
        for n in range(50):  # fifty clients, long gone
            take(session, f"public:10.0.0.{n}", limit=30, window=minute, now=an_hour_ago)
        session.commit()
        take(session, "public:10.0.1.1", limit=30, window=minute)
        session.commit()
        left = session.exec(select(func.count()).select_from(RateLimitCount)).one()
    assert left == 1


async def test_sign_in_links_are_limited_per_address_and_earlier_ones_keep_working(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    address = partner["owner_email"]
    per_hour = stack.settings.magic_links_per_hour
    async with browser(http) as stranger:
        answers = [
            await stranger.post("/portal/sign-in", data={"email": address})
            for _ in range(per_hour + 3)
        ]
    # The same answer every time: the asker learns nothing, the mailbox is not flooded.
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.text for answer in answers}) == 1
    sent = (
        await http.get("/api/outbox", params={"kind": "magic_link", "to": address}, headers=admin)
    ).json()["data"]
    assert len(sent) == per_hour
    # The first link the partner got still signs in, after all that asking.
    first = link_in(sent[-1]["text"])
    async with browser(http) as owner:
        assert (await owner.post(first)).status_code == 303


async def test_metrics_are_not_public_on_the_api_port(stack: Stack) -> None:
    for headers in ({}, stack.admin):
        response = await stack.http.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert "partnerflow_http_requests" not in response.text
    port = free_port()
    settings = stack.settings.model_copy(
        update={"metrics_token": SecretStr("scrape-token"), "metrics_port": port}
    )
    app = create_app(settings, temporal=stack.env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://partnerflow.test"
        ) as http,
    ):
        await http.get("/healthz")
        wrong = await http.get("/metrics", headers=factories.bearer("guess"))
        assert wrong.status_code == 404
        scraped = await http.get("/metrics", headers=factories.bearer("scrape-token"))
        assert scraped.status_code == 200
        assert 'route="/healthz"' in scraped.text
        async with httpx.AsyncClient() as scraper:  # the port of their own
            own = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert own.status_code == 200
        assert 'route="/healthz"' in own.text


def _escalating_to_a_slot(partner_id: str) -> dict[str, Any]:
    return {
        "name": f"With a backup {uuid.uuid4().hex[:6]}",
        "steps": [
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "requires": [],
                "deadline": {"after": "P3D"},
                # overdue: the step goes to whichever partner the start binds as "backup"
                "escalation": {
                    "reassign_to": {"type": "partner_slot", "slot": "backup"},
                    "grace": "P1D",
                },
            }
        ],
    }


async def test_a_slot_named_only_by_an_escalation_is_bound_at_start(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    installer = await factories.partner(http, admin, "Sonnenschein Solar GmbH")
    backup = await factories.partner(http, admin, "Ersatz Elektro")
    template = await factories.published_template(
        http, admin, _escalating_to_a_slot(installer["id"])
    )
    opportunity = await factories.opportunity(http, admin)
    start = {"template_id": template["id"], "opportunity_id": opportunity["id"]}

    unbound = await http.post("/api/processes", json=start, headers=admin)
    assert unbound.status_code == 422
    assert unbound.json()["detail"][0]["loc"] == ["body", "partners", "backup"]
    bound = await http.post(
        "/api/processes", json={**start, "partners": {"backup": backup["id"]}}, headers=admin
    )
    assert bound.status_code == 201, bound.text
