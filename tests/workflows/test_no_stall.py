"""No process stalls behind one failure (issue 14, item 2).

Each failure is classified: a permanent one is not retried, a transient one retries up to its
cap (workflows/retries.py). Either way the process goes on and ends, the e-mails and notices
behind a failing one still go out, and the process is flagged `attention` with what failed:
in its state, in the read model (the API, the dashboard) and in Temporal (`PfAttention`).
"""

import asyncio
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.failures import classify
from partnerflow.mail import _fitted_key
from partnerflow.models import (
    Notification,
    Process,
)
from partnerflow.transports import PermanentDeliveryError, TemporaryDeliveryError
from tests import factories
from tests.conftest import ADMIN_TOKEN, eventually, running_stack
from tests.process_world import MailServer, World, world_with_worker
from tests.web import signed_in_staff
from workflows.attention import redacted
from workflows.messages import (
    AwaitRecordedInput,
    CompleteStepInput,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.search_attributes import PF_ATTENTION

# -- an e-mail that can never be sent ---------------------------------------------------------


async def test_a_process_whose_email_can_never_be_sent_completes_flagged_for_attention(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    mail_server: tuple[int, MailServer],
) -> None:
    port, server = mail_server
    async with running_stack(
        temporal_env, database_url, engine, mail_transport="smtp", smtp_host="127.0.0.1",
        smtp_port=port,
    ) as stack:  # fmt: skip
        http, admin = stack.http, stack.admin
        partner = await factories.partner(http, admin, inbox=server.inbox)
        # The partner's mail server refuses the hand-over for good.
        server.replies[":handover:"] = f"554 5.7.1 <{partner['email']}>: relay refused"
        template = await factories.published_template(
            http, admin, factories.two_step_template(partner["id"])
        )
        process = await factories.started(http, admin, template["id"])
        process_id = process["id"]
        await factories.commission(http, admin, process_id)

        async def detail() -> dict[str, Any]:
            response = await http.get(f"/api/processes/{process_id}", headers=admin)
            body: dict[str, Any] = response.json()
            return body

        flagged = await eventually(detail, lambda d: d["attention"])
        assert flagged["attention"] is True
        reason = flagged["attention_reason"]
        assert "E-mail 'handover' for step 'installation' failed" in reason
        assert "554" in reason
        assert partner["email"] not in reason  # no addresses in what Temporal keeps
        assert len(server.refused) == 1  # refused for good: not tried again
        # The process goes on: the contact finishes the partner's step, and it completes.
        response = await http.post(
            f"/api/processes/{process_id}/steps/installation/complete",
            json={"fields": {"installed_on": "2026-12-11"}},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        done = await eventually(detail, lambda d: d["status"] == "completed")
        assert done["status"] == "completed"
        assert [s["status"] for s in done["steps"]] == ["completed", "completed"]
        assert done["attention"] is True
        events = [e["event"] for e in done["timeline"]]
        assert "handover_failed" in events and events[-1] == "process_completed"
        handle = stack.env.client.get_workflow_handle_for(
            PartnerProcessWorkflow.run, workflow_id_for(process_id)
        )
        result = await handle.result()
        assert [(n.source, n.kind, n.error_type) for n in result.attention] == [
            ("email", "handover", "PermanentDeliveryError")
        ]

        # The API lists it among the processes that need attention, and only there.
        flagged_list = (
            await http.get(
                "/api/processes", params={"attention": "true", "status": "completed"},
                headers=admin,
            )
        ).json()  # fmt: skip
        assert [p["id"] for p in flagged_list["data"]] == [process_id]
        assert flagged_list["data"][0]["attention_reason"] == reason
        calm = (
            await http.get("/api/processes", params={"attention": "false"}, headers=admin)
        ).json()
        assert process_id not in [p["id"] for p in calm["data"]]

        # The dashboard shows the badge and why, and so does the process page.
        await signed_in_staff(http, ADMIN_TOKEN)
        dashboard = await http.get("/processes", params={"show": "completed"})
        assert "needs attention" in dashboard.text
        assert "E-mail &#39;handover&#39; for step &#39;installation&#39; failed" in dashboard.text
        page = await http.get(f"/processes/{process_id}")
        assert "needs attention" in page.text and "554" in page.text

        # Temporal's own list finds it: temporal workflow list --query "PfAttention=true"
        async def listed() -> list[str]:
            return [
                w.id
                async for w in stack.env.client.list_workflows(
                    f"PfAttention = true AND WorkflowId = '{workflow_id_for(process_id)}'"
                )
            ]

        assert await eventually(listed, bool) == [workflow_id_for(process_id)]


async def test_a_subject_longer_than_the_outbox_holds_is_cut_and_the_email_goes_out(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """On PostgreSQL the insert used to fail (DataError) on every retry, every 5 minutes,
    forever, and every later e-mail of the process waited behind it."""
    async with running_stack(temporal_env, database_url, engine) as stack:
        http, admin = stack.http, stack.admin
        partner = await factories.partner(http, admin)
        long_subject = await factories.created(
            await http.post(
                "/api/email-templates",
                json={
                    "name": "Übergabe",
                    # 996 characters; rendered, 1,124: the step's instructions, four times
                    "subject": "Ü" * 900 + " {{ step.instructions }}" * 4,
                    "body_html": "<p>Bitte den Termin vereinbaren.</p>",
                },
                headers=admin,
            )
        )
        process = await factories.commissioned(http, admin, partner["id"], long_subject["id"])
        # The row is written `queued`, then marked a moment later.
        emails = await eventually(
            lambda: factories.outbox(http, admin, process["id"], count=1),
            lambda emails: emails[0]["status"] != "queued",
        )
        assert emails[0]["status"] == "sent"
        subject = emails[0]["subject"]
        assert len(subject) == 1000 and subject.endswith("…")
        assert subject.startswith("Ü" * 900 + " Install the PV system")
        detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
        assert detail["attention"] is False


# -- on the time-skipping server: a day of retries passes in moments --------------------------


async def test_an_email_that_keeps_failing_holds_up_nothing_and_gives_up_after_its_cap(
    smtp_world: World, mail_server: tuple[int, MailServer]
) -> None:
    _, server = mail_server
    world = smtp_world
    # Step a's hand-over meets "try again later", every time; step b is the contact's.
    server.replies[":a:handover:"] = "451 4.3.0 mailbox busy, try again later"
    handle = await world.start(
        [
            {"key": "a", "name": "Install", "requires": [],
             "assignee": {"type": "partner_slot", "slot": "installer"}},
            {"key": "b", "name": "Check", "requires": [], "assignee": {"type": "contact"}},
        ]
    )  # fmt: skip
    process_id = uuid.UUID(handle.id.removeprefix("process-"))

    # The notices queued behind the failing e-mail are written at once (they used to wait
    # behind its retries, forever).
    async def notices() -> list[Notification]:
        return world.notices(process_id)

    written = await eventually(notices, lambda n: {x.user_id for x in n} >= {world.contact.id})
    assert [n.step_key for n in written if n.user_id == world.contact.id] == ["b"]
    # The process goes on and completes while the e-mail still retries.
    for key in ("a", "b"):
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key=key, actor=world.as_contact),
        )

    async def recorded() -> Process | None:
        return world.process(process_id)

    process = await eventually(recorded, lambda p: p is not None and p.status == "completed")
    assert process is not None and process.status == "completed"
    # Waiting for the result lets the server skip through a day of retries.
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == "completed"
    [note] = result.attention
    assert (note.source, note.step_key, note.kind) == ("email", "a", "handover")
    assert note.error_type == "TemporaryDeliveryError"
    assert "after 24 h of retries" in note.reason and "451" in note.reason
    assert len(server.refused) > 2  # it was retried, and then given up
    process = world.process(process_id)
    assert process is not None and process.attention is True
    assert process.attention_reason is not None
    assert "E-mail 'handover' for step 'a' failed" in process.attention_reason
    assert any(n.kind == "delivery_failed" for n in world.notices(process_id))


async def test_a_read_model_write_refused_for_good_flags_the_process_and_it_goes_on(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """A row the database refuses (here: an opportunity that is gone, a foreign key) is not
    retried at once: await_recorded answers, the process completes its steps, Temporal's list
    flags it; it writes its last state again on a timer
    (tests/workflows/test_read_model_rewrite.py)."""
    async with world_with_worker(temporal_env, database_url, engine) as world:
        handle = await world.start(
            [{"key": "check", "name": "Check", "requires": [], "assignee": {"type": "contact"}}],
            opportunity_id=uuid.uuid4(),
        )
        state = await asyncio.wait_for(
            handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput()),
            timeout=30,
        )
        assert [(n.source, n.error_type) for n in state.attention] == [
            ("read_model", "DatabaseRefused")
        ]
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key="check", actor=world.as_contact),
        )
        result = await handle.query(PartnerProcessWorkflow.state)
        assert result.status == "completed"
        assert {n.source for n in result.attention} == {"read_model"}
        assert "[SQL" not in result.attention[-1].reason
        description = await handle.describe()
        assert description.typed_search_attributes.get(PF_ATTENTION) is True
        assert world.process(result.process_id) is None  # the database never took it
        client: Client = temporal_env.client

        async def listed() -> list[str]:
            return [w.id async for w in client.list_workflows(
                f"PfAttention = true AND WorkflowId = '{handle.id}'"
            )]  # fmt: skip

        assert await eventually(listed, bool) == [handle.id]
        await handle.terminate("test over: its last state would be written again for a day")


# -- pure parts -------------------------------------------------------------------------------


def test_errors_are_classified_permanent_or_transient() -> None:
    orig = Exception("value too long for type character varying(1000)")
    refused = classify(DataError("INSERT …", {"to": "jana@customer.example.com"}, orig))
    assert (refused.type, refused.non_retryable) == ("DatabaseRefused", True)
    assert "jana@" not in refused.message and "INSERT" not in refused.message
    assert classify(IntegrityError("INSERT", {}, Exception("fk"))).non_retryable is True
    unreachable = classify(OperationalError("SELECT 1", {}, Exception("connection refused")))
    assert (unreachable.type, unreachable.non_retryable) == ("DatabaseUnavailable", False)
    assert classify(PermanentDeliveryError("SMTP 550")).non_retryable is True
    assert classify(TemporaryDeliveryError("SMTP 451")).non_retryable is False
    assert classify(KeyError("surprise")).non_retryable is False  # unforeseen: retried, capped


def test_reasons_carry_no_addresses_and_no_sql() -> None:
    text = "SMTP 550: b'5.1.1 <jana.becker@customer.example.com>: unknown'\n[SQL: INSERT …]"
    assert redacted(text) == "SMTP 550: b'5.1.1 <<address>>: unknown'"
    assert len(redacted("x" * 2000)) == 500


def test_a_key_longer_than_its_column_stays_unique() -> None:
    first, second = _fitted_key("k" * 300 + "1"), _fitted_key("k" * 300 + "2")
    assert len(first) == len(second) == 200 and first != second
    assert _fitted_key("short") == "short"
