"""The worker killed (kill -9) in the middle of a process and started again: the process goes on,
and no step and no e-mail is lost or sent twice.

The API runs in-process; the worker is a real `python worker.py` subprocess, so it can die the
hard way while processes are between steps and their hand-over e-mails are on their way.
"""

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from bench.chaos_parts import Worker, inherited_environment
from partnerflow.db import make_engine
from partnerflow.models import Notification, OutboxEmail, Process, User
from partnerflow.reconcile_schedule import schedule_id_for
from partnerflow.seed import seed
from partnerflow.settings import Settings
from tests import factories
from tests.conftest import ADMIN_TOKEN, eventually, on_each_database, settings_for
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

pytestmark = pytest.mark.chaos

PROCESSES = 5
# Bounds for the polling loops, not expectations: a task that was running on the killed worker
# is handed to the new one only when its timeout passes (up to a minute for an e-mail).
RECOVERY_WAIT = 150.0


@asynccontextmanager
async def api(settings: Settings, env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://partnerflow.test"
        ) as http:
            yield http


def worker_env(settings: Settings, env: WorkflowEnvironment) -> dict[str, str]:
    return {
        **inherited_environment(),
        "PARTNERFLOW_DATABASE_URL": settings.database_url,
        "PARTNERFLOW_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "PARTNERFLOW_TASK_QUEUE": settings.task_queue,
        "PARTNERFLOW_PUBLIC_URL": settings.public_url,
        "PARTNERFLOW_STORAGE_DIR": settings.storage_dir,
        "PARTNERFLOW_MAIL_TRANSPORT": settings.mail_transport,
    }


async def forget_schedule(env: WorkflowEnvironment, settings: Settings) -> None:
    """Deletes the reconciler Schedule a `python worker.py` made on the shared dev server."""
    with contextlib.suppress(RPCError):  # the worker may have died before making it
        await env.client.get_schedule_handle(schedule_id_for(settings.task_queue)).delete()


async def wait_until_completed(
    http: httpx.AsyncClient, admin: factories.Headers, process_id: str
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + RECOVERY_WAIT
    while True:
        detail: dict[str, Any] = (
            await http.get(f"/api/processes/{process_id}", headers=admin)
        ).json()
        if detail["status"] == "completed" or asyncio.get_running_loop().time() > deadline:
            return detail
        await asyncio.sleep(0.1)


async def test_killed_worker_loses_and_doubles_nothing(
    temporal_env: WorkflowEnvironment, database_urls: dict[str, str], tmp_path: Path
) -> None:
    """On SQLite and on PostgreSQL side by side: most of each is the wait for a killed
    worker's e-mail activities to time out (a minute), and the two waits overlap."""

    async def on(kind: str, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            await killed_worker_loses_and_doubles_nothing(
                temporal_env, database_url, engine, tmp_path, kind
            )
        finally:
            engine.dispose()

    await on_each_database(database_urls, on)


async def killed_worker_loses_and_doubles_nothing(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine, logs: Path, kind: str
) -> None:
    settings = settings_for(database_url)
    seed(engine, ADMIN_TOKEN, demo=False)
    admin = factories.bearer(ADMIN_TOKEN)
    env = worker_env(settings, temporal_env)
    first = Worker(env, logs / f"worker-a-{kind}.log")
    second = Worker(env, logs / f"worker-b-{kind}.log")
    try:
        async with api(settings, temporal_env) as http:
            partner = await factories.partner(http, admin)
            partner_user = await factories.partner_user(http, admin, partner["id"])
            partner_headers = factories.bearer(partner_user["token"])
            admin_id = (await http.get("/api/me", headers=admin)).json()["id"]
            email = await factories.email_template(http, admin)
            template = await factories.published_template(
                http, admin, factories.two_step_template(partner["id"], email["id"])
            )
            opportunity = await factories.opportunity(http, admin)

            # Phase 1, worker A: start the processes and hand each one to the partner.
            await first.start()
            process_ids: list[str] = []
            for _ in range(PROCESSES):
                response = await http.post(
                    "/api/processes",
                    json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
                    headers=admin,
                )
                assert response.status_code == 201, response.text
                process_ids.append(response.json()["id"])
            for process_id in process_ids:
                response = await http.post(
                    f"/api/processes/{process_id}/steps/commission_partner/complete",
                    json={},
                    headers=admin,
                )
                assert response.status_code == 200, response.text
            # The hand-over e-mails are queued, some perhaps half sent: the worker dies now.
            await first.kill()

            # Phase 2, worker B: the partner finishes the installation of every process.
            await second.start()
            for process_id in process_ids:
                response = await http.post(
                    f"/api/processes/{process_id}/steps/installation/complete",
                    json={"fields": {"installed_on": "2026-12-11"}},
                    headers=partner_headers,
                )
                assert response.status_code == 200, response.text

            for process_id in process_ids:
                detail = await wait_until_completed(http, admin, process_id)
                assert detail["status"] == "completed", detail
                assert detail["completed_at"] is not None
                steps = {s["key"]: s for s in detail["steps"]}
                assert list(steps) == ["commission_partner", "installation"]
                for step in steps.values():
                    assert step["status"] == "completed", step
                    assert step["completed_at"] is not None, step
                    assert step["completed_by"] is not None, step
                assert steps["commission_partner"]["completed_by"]["user_id"] == admin_id
                assert steps["installation"]["completed_by"]["partner_id"] == partner["id"]
                assert steps["installation"]["fields"] == {"installed_on": "2026-12-11"}
                # Each step was completed once, the process started and ended once.
                events = Counter((e["event"], e["step_key"]) for e in detail["timeline"])
                assert events[("process_started", None)] == 1
                assert events[("step_completed", "commission_partner")] == 1
                assert events[("step_completed", "installation")] == 1
                assert events[("process_completed", None)] == 1
                assert not [e for e in events if e[0].endswith("_failed")], events

                # An e-mail the killed worker had claimed stays `queued` until its activity
                # times out and is retried: wait for that, not only for the rows.
                emails = await eventually(
                    partial(factories.outbox, http, admin, process_id, count=2, wait=RECOVERY_WAIT),
                    lambda emails: all(e["status"] == "sent" for e in emails),
                    wait=RECOVERY_WAIT,
                    every=0.2,
                )
                assert sorted(e["kind"] for e in emails) == ["completion", "handover"], emails
                assert all(e["status"] == "sent" for e in emails), emails

                # The read model holds what the workflow itself says.
                handle = temporal_env.client.get_workflow_handle_for(
                    PartnerProcessWorkflow.run, workflow_id_for(process_id)
                )
                # Its result: the workflow returns once everything it owes (e-mails, notices)
                # has gone out, even what the killed worker had in hand.
                state = await asyncio.wait_for(handle.result(), RECOVERY_WAIT)
                assert state.status == "completed"
                assert [(s.key, s.status) for s in state.steps] == [
                    (s["key"], s["status"]) for s in detail["steps"]
                ]
                with Session(engine) as session:
                    recorded = session.get(Process, state.process_id)
                    assert recorded is not None
                    assert recorded.version == state.version

        # No e-mail and no notice went out twice, none is missing.
        with Session(engine) as session:
            outbox = session.exec(
                select(OutboxEmail).where(col(OutboxEmail.process_id).isnot(None))
            ).all()
            notices = session.exec(select(Notification)).all()
            partner_users = session.exec(
                select(User.id).where(User.partner_id == uuid.UUID(partner["id"]))
            ).all()
        assert str(partner_user["id"]) in {str(user) for user in partner_users}
        email_keys = [row.idempotency_key for row in outbox]
        assert len(email_keys) == len(set(email_keys)), sorted(email_keys)
        assert Counter((str(row.process_id), row.kind) for row in outbox) == {
            (pid, kind): 1 for pid in process_ids for kind in ("handover", "completion")
        }
        # Notices: each step's assignee when it opened (every user of the partner), the contact
        # when the partner finished.
        notice_keys = [row.idempotency_key for row in notices]
        assert len(notice_keys) == len(set(notice_keys)), sorted(notice_keys)
        assert Counter(
            (str(row.process_id), row.step_key, row.kind, str(row.user_id)) for row in notices
        ) == {
            (pid, step_key, kind, user): 1
            for pid in process_ids
            for step_key, kind, user in (
                ("commission_partner", "step_assigned", admin_id),
                *(("installation", "step_assigned", str(user)) for user in partner_users),
                ("installation", "step_completed", admin_id),
            )
        }
    finally:
        await first.kill()
        await second.kill()
        await forget_schedule(temporal_env, settings)
        for worker in (first, second):  # shown by pytest when the test fails
            if worker.log.exists():
                print(f"--- {worker.log.name}\n{worker.log.read_text(errors='replace')[-5000:]}")
