"""Delivery through real transports: an SMTP server (aiosmtpd) and a SendGrid stand-in."""

import json
import threading
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests import factories
from tests.conftest import Inbox, Stack, eventually, running_stack
from tests.web import browser, link_in


async def _handover(
    stack: Stack,
    customer_name: str,
    subject: str,
    inbox: factories.Inbox,
    arm: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run a process to its partner step; answers the process. `arm` runs once the partner
    has joined (its invitation went through the transport too, read from `inbox`)."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, inbox=inbox)
    if arm is not None:
        arm()
    template = await factories.created(
        await http.post(
            "/api/email-templates",
            json={
                "name": "Übergabe",
                "subject": subject,
                "body_html": "<p>Grüße an {{ customer.name }}: bitte den Termin vereinbaren.</p>",
            },
            headers=admin,
        )
    )
    process_template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"], template["id"])
    )
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={"title": "Wärmepumpe", "customer": {"name": customer_name}},
            headers=admin,
        )
    )
    process = await factories.started(
        http, admin, process_template["id"], opportunity_id=opportunity["id"]
    )
    await factories.commission(http, admin, process["id"])
    return {"process": process, "partner": partner}


async def test_smtp_delivers_multipart_alternative_with_umlauts(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    smtp_inbox: tuple[int, Inbox],
) -> None:
    port, inbox = smtp_inbox
    async with running_stack(
        temporal_env, database_url, engine, mail_transport="smtp", smtp_host="127.0.0.1",
        smtp_port=port, mail_from="Partnerflow Büro <buero@firma.example.com>",
    ) as stack:  # fmt: skip
        run = await _handover(
            stack, "Jürgen Weiß", "Übergabe für {{ customer.name }} – Größe L", inbox.text_to
        )

        def handovers() -> list[EmailMessage]:
            return [m for m in inbox.messages if ":handover:" in str(m["X-Partnerflow-Key"])]

        async def received() -> list[EmailMessage]:
            return handovers()

        await eventually(received, bool)
        assert len(handovers()) == 1
        assert len(inbox.messages) == 2  # the partner's invitation, then the hand-over
        message = handovers()[0]
        assert message.get_content_type() == "multipart/alternative"
        assert message["Subject"] == "Übergabe für Jürgen Weiß – Größe L"
        assert "Büro" in message["From"]
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        assert "Grüße an Jürgen Weiß" in text.get_content()
        assert "Grüße an Jürgen Weiß" in html.get_content()
        # The server has it; the row is marked a moment after the server said yes, and its
        # message id once the connection is closed.
        emails = await eventually(
            lambda: factories.outbox(stack.http, stack.admin, run["process"]["id"], count=1),
            lambda emails: emails[0]["provider_message_id"] is not None,
        )
        assert emails[0]["status"] == "sent"
        assert emails[0]["transport"] == "smtp"
        assert emails[0]["provider_message_id"] == message["Message-ID"]


class _SendGrid:
    """A stand-in for SendGrid's v3 API that answers with the statuses it is given."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                stand_in.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status = stand_in.statuses.pop(0) if stand_in.statuses else 202
                self.send_response(status)
                if status == 202:
                    self.send_header("X-Message-Id", f"sg-{len(stand_in.requests)}")
                body = b"" if status == 202 else b'{"errors": [{"message": "no"}]}'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handovers(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if ":handover:" in r["body"].get("custom_args", {}).get("partnerflow_key", "")
        ]

    def text_to(self, address: str) -> str:
        """The plain text of the newest e-mail to the address (as factories.Inbox)."""
        body = [
            r["body"]
            for r in self.requests
            if address in [to["email"] for to in r["body"]["personalizations"][0]["to"]]
        ][-1]
        text: str = next(c["value"] for c in body["content"] if c["type"] == "text/plain")
        return text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_sendgrid_retries_5xx_and_delivers_exactly_once(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    sendgrid = _SendGrid([])
    try:
        async with running_stack(
            temporal_env, database_url, engine, mail_transport="sendgrid",
            sendgrid_host=sendgrid.url, sendgrid_api_key="SG.test-key",
            mail_from="Partnerflow <noreply@firma.example.com>",
        ) as stack:  # fmt: skip
            run = await _handover(
                stack,
                "Jana Becker",
                "Auftrag für {{ customer.name }}",
                sendgrid.text_to,
                arm=lambda: sendgrid.statuses.extend([503, 503, 202]),
            )
            process_id = run["process"]["id"]
            emails = await eventually(
                lambda: factories.outbox(stack.http, stack.admin, process_id, count=1),
                # `sent` is committed the moment SendGrid answers 202; its message id after
                lambda emails: bool(emails) and bool(emails[0]["provider_message_id"]),
                wait=15.0,
            )
            assert emails[0]["status"] == "sent"
    finally:
        sendgrid.close()
    handovers = sendgrid.handovers()
    assert len(handovers) == 3  # two refused with 503, the third accepted; no fourth
    assert emails[0]["provider_message_id"] == f"sg-{len(sendgrid.requests)}"
    first = handovers[0]
    assert first["path"] == "/v3/mail/send"
    assert first["authorization"] == "Bearer SG.test-key"
    payload = first["body"]
    assert payload["from"] == {"email": "noreply@firma.example.com", "name": "Partnerflow"}
    assert payload["subject"] == "Auftrag für Jana Becker"
    assert payload["personalizations"][0]["to"][0]["email"] == run["partner"]["email"]
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert all(r["body"] == payload for r in handovers)


async def test_sendgrid_400_is_recorded_as_failed_and_the_contact_is_told(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    sendgrid = _SendGrid([])
    try:
        async with running_stack(
            temporal_env, database_url, engine, mail_transport="sendgrid",
            sendgrid_host=sendgrid.url, sendgrid_api_key="SG.test-key",
        ) as stack:  # fmt: skip
            run = await _handover(
                stack,
                "Jana Becker",
                "Auftrag",
                sendgrid.text_to,
                arm=lambda: sendgrid.statuses.append(400),
            )
            process_id = run["process"]["id"]

            async def listed() -> list[dict[str, Any]]:
                response = await stack.http.get("/api/notifications", headers=stack.admin)
                data: list[dict[str, Any]] = response.json()["data"]
                return data

            notices = await eventually(
                listed, lambda notices: any(n["kind"] == "delivery_failed" for n in notices)
            )
            assert [n["step_key"] for n in notices if n["kind"] == "delivery_failed"] == [
                "installation"
            ]
            emails = await factories.outbox(stack.http, stack.admin, process_id, count=1)
            assert emails[0]["status"] == "failed"
            assert "400" in emails[0]["error"]
            # The process goes on: the partner's step is still open.
            detail = (
                await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)
            ).json()
            assert detail["status"] == "running"
            assert detail["steps"][1]["status"] == "active"
    finally:
        sendgrid.close()
    assert len(sendgrid.handovers()) == 1  # a 4xx is not retried


async def test_test_processes_never_reach_the_provider(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    sendgrid = _SendGrid([])
    try:
        async with running_stack(
            temporal_env, database_url, engine, mail_transport="sendgrid",
            sendgrid_host=sendgrid.url, sendgrid_api_key="SG.test-key",
        ) as stack:  # fmt: skip
            http, admin = stack.http, stack.admin
            partner = await factories.partner(http, admin, inbox=sendgrid.text_to)
            template = await factories.published_template(
                http, admin, factories.two_step_template(partner["id"])
            )
            opportunity = await factories.opportunity(http, admin, test=True)
            process = await factories.started(
                http, admin, template["id"], opportunity_id=opportunity["id"]
            )
            assert process["test"] is True
            await factories.commission(http, admin, process["id"])
            emails = await factories.outbox(http, admin, process["id"], count=1)
            assert emails[0]["subject"].startswith("[TEST] ")
            assert emails[0]["transport"] == "outbox"
            listed = (await http.get("/api/processes", headers=admin)).json()
            assert process["id"] not in [p["id"] for p in listed["data"]]
            tests = (
                await http.get("/api/processes", params={"test": "true"}, headers=admin)
            ).json()
            assert [p["id"] for p in tests["data"]] == [process["id"]]
    finally:
        sendgrid.close()
    assert sendgrid.handovers() == []  # only the partner's invitation went out


async def test_a_sign_in_link_sent_by_smtp_is_not_kept_in_the_outbox(
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
        partner = await factories.partner(stack.http, stack.admin, inbox=inbox.text_to)
        address = partner["owner_email"]
        async with browser(stack.http) as visitor:
            await visitor.post("/portal/sign-in", data={"email": address})
            received = [m for m in inbox.messages if m["To"] == address]
            assert len(received) == 1
            body = received[0].get_body(preferencelist=("plain",))
            assert body is not None
            link = link_in(body.get_content())
            stored = (
                await stack.http.get(
                    "/api/outbox", params={"kind": "magic_link"}, headers=stack.admin
                )
            ).json()["data"]
            assert link.rsplit("/", 1)[1] not in stored[0]["text"] + stored[0]["html"]
            assert "/portal/sign-in/***" in stored[0]["text"]
            assert (await visitor.post(link)).status_code == 303
