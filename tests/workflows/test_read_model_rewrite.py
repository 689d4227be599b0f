"""A read-model write that fails for good is written again; `partner_revoked` does not wait on
SMTP; read-model and deadline errors reach Temporal classified; recordings are never replaced.

The first test's history is recorded (tests/histories.py, `make histories`): people carry
role names only.
"""

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from partnerflow.models import Opportunity, Partner
from tests import histories
from tests.conftest import eventually, free_port
from tests.process_world import MailServer, world_with_worker
from workflows.messages import (
    AwaitRecordedInput,
    CompleteStepInput,
    PartnerRevokedInput,
)
from workflows.partner_process import PartnerProcessWorkflow

INSTALLER = {"type": "partner_slot", "slot": "installer"}


async def test_a_read_model_write_refused_until_the_row_it_needs_exists_is_written_again(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """The opportunity's row is missing (a foreign key) while the process runs and completes:
    every write is refused. Once the row exists, the process writes its last state again on
    its own, and only then finishes: the read model shows it completed and flagged."""
    opportunity_id = uuid.uuid4()
    async with world_with_worker(time_skipping_env, database_url, engine) as world:
        handle = await world.start(
            [{"key": "check", "name": "Check", "requires": [], "assignee": {"type": "contact"}}],
            opportunity_id=opportunity_id,
        )
        process_id = uuid.UUID(handle.id.removeprefix("process-"))
        state = await handle.execute_update(
            PartnerProcessWorkflow.await_recorded, AwaitRecordedInput()
        )
        assert [(n.source, n.error_type) for n in state.attention] == [
            ("read_model", "DatabaseRefused")
        ]
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key="check", actor=world.as_contact),
        )
        assert world.process(process_id) is None  # refused so far
        with Session(engine) as session:  # the missing row arrives
            session.add(Opportunity(id=opportunity_id, title="PV", customer={}))
            session.commit()
        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result.status == "completed"
        shown = world.process(process_id)
        assert shown is not None, "the read model never got the process"
        assert (shown.status, shown.version) == ("completed", result.version)
        assert shown.attention is True
        assert "Opportunity" not in (shown.attention_reason or "")  # no SQL, no row
        history = (await handle.fetch_history()).to_json()
        assert "[SQL:" not in history and "[parameters:" not in history
        await histories.record(handle, "read_model_heals")


class _HeldMailServer(MailServer):
    """Holds every e-mail in DATA until the test opens the gate: a slow mail server."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # the gate is a thread's Event: the server runs its own loop in a thread of its own
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def _held_smtp_server() -> Iterator[tuple[int, _HeldMailServer]]:
    server = _HeldMailServer()
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, server
    finally:
        server.gate.set()
        controller.stop()


async def test_partner_revoked_answers_while_the_mail_server_holds_every_email(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """The API's call gives up after 10 s: the update answers once the steps moved are
    recorded, not after the contact's e-mail and notice went out."""
    with _held_smtp_server() as (port, server):
        async with world_with_worker(
            temporal_env, database_url, engine, mail_transport="smtp",
            smtp_host="127.0.0.1", smtp_port=port,
        ) as world:  # fmt: skip
            handle = await world.start(
                [{"key": "install", "name": "Install", "requires": [], "assignee": INSTALLER}]
            )
            process_id = uuid.UUID(handle.id.removeprefix("process-"))
            await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
            with Session(engine) as session:  # as the API does first
                partner = session.get(Partner, world.partner.id)
                assert partner is not None
                partner.status = "revoked"
                session.add(partner)
                session.commit()
            state = await asyncio.wait_for(
                handle.execute_update(
                    PartnerProcessWorkflow.partner_revoked,
                    PartnerRevokedInput(partner_id=world.partner.id),
                ),
                timeout=30,  # held mail: before, it would not answer at all
            )
            assert state.steps[0].assignee.user_id == world.contact.id
            assert world.step(process_id, "install").assignee_user_id == world.contact.id
            server.gate.set()

            async def contact_told() -> list[str]:
                return [n.kind for n in world.notices(process_id) if n.user_id == world.contact.id]

            assert "partner_revoked" in await eventually(
                contact_told, lambda kinds: "partner_revoked" in kinds
            )
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="install", actor=world.as_contact),
            )
            result = await asyncio.wait_for(handle.result(), timeout=120)
            assert result.status == "completed"


async def test_a_recorded_history_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make histories` run twice must not overwrite what a released version recorded."""

    class _Recorded:
        def to_json(self) -> str:
            return '{"events": []}'

    class _Handle:
        async def fetch_history(self) -> _Recorded:
            return _Recorded()

    monkeypatch.setenv("PARTNERFLOW_RECORD_HISTORIES", "1")
    monkeypatch.setattr(histories, "CURRENT", tmp_path / "v9")
    kept = tmp_path / "v9" / "path.json"
    kept.parent.mkdir()
    kept.write_text("as recorded")
    with pytest.raises(FileExistsError, match="only if version"):
        await histories.record(_Handle(), "path")  # type: ignore[arg-type]
    assert kept.read_text() == "as recorded"
    await histories.record(_Handle(), "new_path")  # type: ignore[arg-type]
    assert (tmp_path / "v9" / "new_path.json").read_text() == '{"events": []}'
