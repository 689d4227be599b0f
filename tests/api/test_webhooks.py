"""Webhooks over the HTTP API, delivered by the worker to a receiver on this machine: step
completions arrive signed (verified with the Standard Webhooks algorithm), a receiver that
fails three times gets one delivery that succeeds on the fourth attempt, a 410 stops the
retries (and switches the subscription off), a redelivery sends the same event again, and a
delivery a crash kept from starting is started by the reconciler. Without the test settings,
loopback and private addresses and plain http are refused, as are malformed addresses and
unknown events (422 naming the field)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.reconcile import ReconcileActivities
from partnerflow import webhook_outbox
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack, eventually, running_stack
from tests.web import browser, signed_in_staff
from tests.webhook_receiver import Receiver, running_receiver
from workflows.messages import ProcessState, TimelineEntry
from workflows.reconcile_messages import ReconcileInput
from workflows.webhook_delivery import workflow_id_for

# a local receiver: plain http on the loopback, and retries a tenth of a second apart
RECEIVER_ALLOWED: dict[str, Any] = {
    "webhooks_allow_http": True,
    "webhooks_allow_private": True,
    "webhooks_retry_first_seconds": 0.1,
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def hooks(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env, database_url, engine, **RECEIVER_ALLOWED) as running:
        yield running


async def subscribe(stack: Stack, url: str, events: list[str]) -> dict[str, Any]:
    return await factories.created(
        await stack.http.post(
            "/api/webhooks", json={"url": url, "events": events}, headers=stack.admin
        )
    )


async def deliveries_once(
    stack: Stack, webhook_id: str, done: Any, wait: float = 15.0
) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        response = await stack.http.get(
            f"/api/webhooks/{webhook_id}/deliveries", headers=stack.admin
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    return await eventually(listed, done, wait=wait)


def settled(count: int) -> Any:
    return lambda rows: (
        len(rows) >= count and all(r["status"] in ("succeeded", "failed") for r in rows)
    )


async def test_step_completions_arrive_signed_once_each_after_retries(
    hooks: Stack, receiver: Receiver
) -> None:
    http, admin = hooks.http, hooks.admin
    path = f"crm-{uuid.uuid4().hex}"
    hook = await subscribe(hooks, receiver.url(path), ["step.completed"])
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    # shown once: never again, in the list or on its own
    assert "secret" not in (await http.get(f"/api/webhooks/{hook['id']}", headers=admin)).json()
    listed = (await http.get("/api/webhooks", headers=admin)).json()
    assert [w["id"] for w in listed["data"]] == [hook["id"]]
    assert "secret" not in listed["data"][0]

    # The receiver is down for the first completion's first three attempts.
    receiver.answer(path, 500, 500, 500)
    partner = await factories.partner(http, admin)
    process = await factories.commissioned(http, admin, partner["id"])
    rows = await deliveries_once(hooks, hook["id"], settled(1))
    assert [r["status"] for r in rows] == ["succeeded"]
    first = rows[0]
    assert [a["response_status"] for a in first["attempts"]] == [500, 500, 500, 200]
    assert all(a["duration_ms"] >= 0 and a["series"] == 1 for a in first["attempts"])
    assert first["response_status"] == 200 and first["event_type"] == "step.completed"

    # The partner completes its installation: delivered at the first attempt.
    done = await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-05-04"}},
        headers=factories.bearer(partner["owner_token"]),
    )
    assert done.status_code == 200, done.text
    rows = await deliveries_once(hooks, hook["id"], settled(2))
    assert [r["body"]["data"]["step_key"] for r in rows] == [
        "installation",
        "commission_partner",
    ]  # newest first
    assert [len(r["attempts"]) for r in rows] == [1, 4]

    # Every POST verifies with the specification's algorithm; one event, one webhook-id, and
    # the receiver accepted each event exactly once.
    received = receiver.at(path)
    assert len(received) == 5
    verified = [Webhook(secret).verify(r.body, r.headers) for r in received]
    assert [r.headers["webhook-id"] for r in received] == [v["id"] for v in verified]
    accepted = [v for v, r in zip(verified, received, strict=True) if r.answered == 200]
    assert len({v["id"] for v in accepted}) == len(accepted) == 2
    commissioning, installation = accepted
    assert commissioning["type"] == installation["type"] == "step.completed"
    assert commissioning["data"] == {
        "process_id": process["id"],
        "template_id": process["template_id"],
        "opportunity_id": process["opportunity_id"],
        "step_key": "commission_partner",
    }
    assert installation["data"]["step_key"] == "installation"
    assert installation["data"]["partner_id"] == partner["id"]
    assert datetime.fromisoformat(installation["occurred_at"]).tzinfo is not None
    # A body signed with another secret does not verify.
    with pytest.raises(Exception, match="signature"):
        other = Webhook(f"whsec_{'A' * 43}=")
        other.verify(received[-1].body, received[-1].headers)


async def test_a_410_stops_and_a_redelivery_sends_the_same_event_again(
    hooks: Stack, receiver: Receiver
) -> None:
    http, admin = hooks.http, hooks.admin
    path = f"gone-{uuid.uuid4().hex}"
    hook = await subscribe(hooks, receiver.url(path), ["process.started"])
    receiver.answer(path, 410)
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    await factories.started(http, admin, template["id"])
    # The answer is 410 Gone: the delivery failed at once, and the subscription is off.
    rows = await deliveries_once(hooks, hook["id"], settled(1))
    [gone] = rows
    assert gone["status"] == "failed"
    assert [a["response_status"] for a in gone["attempts"]] == [410]
    result = await hooks.env.client.get_workflow_handle(
        workflow_id_for(gone["id"], 1), result_type=None
    ).result()
    assert result["outcome"] == "refused"  # the series ended: nothing more is tried
    assert len(receiver.at(path)) == 1
    off = (await http.get(f"/api/webhooks/{hook['id']}", headers=admin)).json()
    assert off["enabled"] is False
    assert "410" in off["disabled_reason"]

    redeliver = f"/api/webhooks/{hook['id']}/deliveries/{gone['id']}/redeliver"
    assert (await http.post(redeliver, headers=admin)).status_code == 409  # disabled
    patched = await http.patch(f"/api/webhooks/{hook['id']}", json={"enabled": True}, headers=admin)
    assert patched.status_code == 200 and patched.json()["disabled_reason"] is None
    again = await http.post(redeliver, headers=admin)
    assert again.status_code == 202, again.text
    assert again.json()["series"] == 2
    rows = await deliveries_once(
        hooks, hook["id"], lambda rows: any(r["status"] == "succeeded" for r in rows)
    )
    redelivered = next(r for r in rows if r["id"] == gone["id"])
    assert redelivered["status"] == "succeeded"
    assert [(a["series"], a["response_status"]) for a in redelivered["attempts"]] == [
        (1, 410),
        (2, 200),
    ]
    first, second = receiver.at(path)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the same event
    assert first.body == second.body

    # The admin's page lists the subscription and its delivery: two attempts, now delivered.
    async with browser(http) as staff_browser:
        await signed_in_staff(staff_browser, ADMIN_TOKEN)
        shown = await staff_browser.get("/webhooks")
        assert shown.status_code == 200
        text = shown.text
        assert receiver.url(path) in text and "process.started" in text
        assert ">delivered<" in text and ">200<" in text
        german = await staff_browser.get("/webhooks", headers={"accept-language": "de"})
        assert ">zugestellt<" in german.text


async def test_a_delivery_still_failing_when_its_window_closes_has_failed(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine, receiver: Receiver
) -> None:
    # 24 hours in production; here 3.6 s, retries a tenth of a second apart (a window of one
    # second closed after the first attempt once, on a loaded machine)
    brief = {**RECEIVER_ALLOWED, "webhooks_retry_for_hours": 0.001}
    async with running_stack(temporal_env, database_url, engine, **brief) as stack:
        path = f"down-{uuid.uuid4().hex}"
        receiver.answer(path, *[503] * 1000)
        hook = await subscribe(stack, receiver.url(path), ["process.started"])
        partner = await factories.partner(stack.http, stack.admin)
        template = await factories.published_template(
            stack.http, stack.admin, factories.two_step_template(partner["id"])
        )
        await factories.started(stack.http, stack.admin, template["id"])
        [row] = await deliveries_once(stack, hook["id"], settled(1))
        assert row["status"] == "failed"
        assert row["error"].startswith("no success within")
        assert len(row["attempts"]) >= 2
        assert {a["response_status"] for a in row["attempts"]} == {503}
        handle = stack.env.client.get_workflow_handle(workflow_id_for(row["id"], 1))
        assert (await handle.result())["outcome"] == "gave_up"


async def test_the_reconciler_starts_a_delivery_a_crash_kept_from_starting(
    hooks: Stack, receiver: Receiver
) -> None:
    path = f"crash-{uuid.uuid4().hex}"
    hook = await subscribe(hooks, receiver.url(path), ["process.started"])
    # The outbox row is committed, then the worker dies before it starts the workflow.
    process_id = uuid.uuid4()
    state = ProcessState(
        process_id=process_id,
        template_id=uuid.uuid4(),
        template_version=1,
        opportunity_id=uuid.uuid4(),
        contact_user_id=uuid.uuid4(),
        partner_ids=[],
        started_at=datetime.now(UTC),
        steps=[],
        timeline=[TimelineEntry(at=datetime.now(UTC), event="process_started")],
    )
    with hooks.engine.begin() as connection:
        assert len(webhook_outbox.queue(connection, state)) == 1

    reconciler = ReconcileActivities(hooks.engine, hooks.env.client, hooks.settings)
    at_once = ReconcileInput(starting_grace_seconds=0)
    started = await ActivityEnvironment().run(reconciler.start_webhook_deliveries, at_once)
    assert started == 1
    rows = await deliveries_once(hooks, hook["id"], settled(1))
    assert rows[0]["status"] == "succeeded"
    assert rows[0]["body"]["data"]["process_id"] == str(process_id)
    # Started once: the next round finds nothing pending.
    assert await ActivityEnvironment().run(reconciler.start_webhook_deliveries, at_once) == 0
    assert len(receiver.at(path)) == 1


BAD_URLS = [
    "not a url",
    "ftp://hooks.example.com/in",
    "https://",
    "https:///path",
    "https://hooks.example.com:99999/in",
    "https://user:secret@hooks.example.com/in",
    "https://hooks.example.com/in#part",
    "https://hooks.exa mple.com/in",
    f"https://hooks.example.com/{'a' * 2000}",
    # without the test settings: plain http, loopback, private and link-local addresses
    "http://hooks.example.com/in",
    "http://127.0.0.1:8080/in",
    "https://127.0.0.1/in",
    "https://10.1.2.3/in",
    "https://[::1]/in",
    "https://[::ffff:192.168.0.1]/in",
    "https://169.254.169.254/latest/meta-data",
    "https://0.0.0.0/in",
]


async def test_bad_subscriptions_are_refused_naming_the_field(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    for url in BAD_URLS:
        response = await http.post(
            "/api/webhooks", json={"url": url, "events": ["step.completed"]}, headers=admin
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "url"], url
    response = await http.post(
        "/api/webhooks",
        json={"url": "https://1.1.1.1/in", "events": ["step.completed", "step.finished"]},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events", 1]
    events: Any
    for events in ([], None, "step.completed"):
        response = await http.post(
            "/api/webhooks", json={"url": "https://1.1.1.1/in", "events": events}, headers=admin
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "events"], events

    # A public address literal needs no resolving: accepted, and then its changes are checked.
    hook = await subscribe(stack, "https://1.1.1.1/in", ["process.completed"])
    response = await http.patch(
        f"/api/webhooks/{hook['id']}", json={"url": "https://192.168.1.10/in"}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "url"]
    response = await http.patch(
        f"/api/webhooks/{hook['id']}", json={"events": ["offer.taken"]}, headers=admin
    )
    assert response.json()["detail"][0]["loc"] == ["body", "events", 0]
    unchanged = (await http.get(f"/api/webhooks/{hook['id']}", headers=admin)).json()
    assert unchanged["url"] == "https://1.1.1.1/in"
    assert unchanged["events"] == ["process.completed"]

    rotated = await http.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != hook["secret"]

    unknown = str(uuid.uuid4())
    for method, url in (
        ("GET", f"/api/webhooks/{unknown}"),
        ("GET", f"/api/webhooks/{unknown}/deliveries"),
        ("POST", f"/api/webhooks/{hook['id']}/deliveries/{unknown}/redeliver"),
    ):
        assert (await http.request(method, url, headers=admin)).status_code == 404, url
    assert (await http.delete(f"/api/webhooks/{hook['id']}", headers=admin)).status_code == 204
    assert (await http.get(f"/api/webhooks/{hook['id']}", headers=admin)).status_code == 404
