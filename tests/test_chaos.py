"""Chaos: 200 processes in flight, the worker and then Temporal itself killed with SIGKILL.

Temporal here is a file-backed dev server of this test's own (not the session's in-memory one),
so its state survives a `kill -9`; the worker is a real `python worker.py` subprocess, the API
runs in-process. While the first step of 200 running processes is being completed (some updates
answered, some in flight, some not yet sent) and the hand-over e-mails are going out, the worker
dies, then the server. Both come back (the server on the same file and port, the API with a new
client), the rest is commissioned, the partner finishes every process, and then: all 200 are
completed, the outbox holds exactly the e-mails (and notices) the processes owe, none lost, none
twice, and the read model says what each workflow's own state and Temporal's list say.

SQLite only: the test owns its database file, so it runs once, not once per database. It takes
about 80 s, most of it waiting for the e-mail activities that ran on the killed worker to time
out (a minute) so that the new worker runs them again.
"""

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError

from api.main import create_app
from partnerflow.db import make_engine
from partnerflow.migrate import upgrade
from partnerflow.models import Notification, OutboxEmail, Process, ProcessStep, User
from partnerflow.seed import seed
from partnerflow.settings import Settings
from partnerflow.temporal import DATA_CONVERTER
from tests import factories
from tests.conftest import ADMIN_TOKEN, BIN, settings_for
from tests.test_worker_restart import Worker
from workflows.messages import ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.search_attributes import dev_server_args

pytestmark = pytest.mark.chaos

PROCESSES = 200
# How many API calls run at once: enough to keep the worker busy, few enough for SQLite.
CONCURRENCY = 20
# Bounds for the polling loops, not expectations. An e-mail activity that was running on the
# killed worker is handed to the new one only when its start-to-close timeout (a minute) passes.
SERVER_STARTUP_WAIT = 60.0
RECOVERY_WAIT = 180.0

T = TypeVar("T")
R = TypeVar("R")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (never Temporal's or the API's defaults)."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] in (7233, 8233, 8000):
                sock.close()
                continue
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class DevServer:
    """`temporal server start-dev` on a database file: killed and started again, it goes on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port, self._ui_port, self._http_port, self._metrics_port = free_ports(4)
        self.process: asyncio.subprocess.Process | None = None
        self.logs: list[Path] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Client:
        """Start the server (again, on the same file and port); answers a client once it serves."""
        log = self.directory / f"temporal-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(BIN / "temporal"), "server", "start-dev",
                "--db-filename", str(self.directory / "temporal.db"),
                "--ip", "127.0.0.1", "--port", str(self.port),
                "--ui-port", str(self._ui_port), "--http-port", str(self._http_port),
                "--metrics-port", str(self._metrics_port),
                "--headless", "--log-level", "error",
                *dev_server_args(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + SERVER_STARTUP_WAIT
        while True:
            if self.process.returncode is not None:
                raise AssertionError(f"the dev server exited:\n{log.read_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                client = await Client.connect(self.address, data_converter=DATA_CONVERTER)
                await client.count_workflows()  # the default namespace answers
                return client
            except (OSError, RuntimeError, RPCError) as error:
                if time.monotonic() > deadline:
                    problem = f"the dev server did not serve:\n{log.read_text()}"
                    raise AssertionError(problem) from error
                await asyncio.sleep(0.2)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def worker_env(settings: Settings, server: DevServer) -> dict[str, str]:
    return {
        **os.environ,
        "PARTNERFLOW_DATABASE_URL": settings.database_url,
        "PARTNERFLOW_TEMPORAL_ADDRESS": server.address,
        "PARTNERFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PARTNERFLOW_TASK_QUEUE": settings.task_queue,
        "PARTNERFLOW_PUBLIC_URL": settings.public_url,
        "PARTNERFLOW_STORAGE_DIR": settings.storage_dir,
        "PARTNERFLOW_MAIL_TRANSPORT": settings.mail_transport,
    }


class Api:
    """The API in-process; once Temporal is back, a new app with a new client takes over."""

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self._settings = settings
        self._stack = stack
        self._apps: list[httpx.AsyncClient] = []
        self.answers: Counter[int] = Counter()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._apps[-1]

    async def connect(self, client: Client) -> None:
        app = create_app(self._settings, temporal=client)
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        self._apps.append(
            await self._stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://partnerflow.test"
                )
            )
        )

    async def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """What a careful client does: one Idempotency-Key, the request sent again while
        Temporal is away (503), each time through the newest app."""
        key = f"chaos-{uuid.uuid4()}"
        deadline = time.monotonic() + RECOVERY_WAIT
        while True:
            response = await self.http.post(
                url, json=body, headers={**headers, "Idempotency-Key": key}
            )
            self.answers[response.status_code] += 1
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.5)


async def each(items: Iterable[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
    """`call` for every item, CONCURRENCY of them at a time; the answers in the items' order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)

    return await asyncio.gather(*(one(item) for item in items))


def count(engine: Engine, model: Any, *where: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


async def test_200_processes_survive_kill_9_of_worker_and_temporal(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'partnerflow.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    seed(engine, ADMIN_TOKEN, demo=False)
    admin = factories.bearer(ADMIN_TOKEN)
    server = DevServer(tmp_path)
    settings = settings_for(database_url, temporal_address=server.address)
    env = worker_env(settings, server)
    first = Worker(env, tmp_path / "worker-1.log")
    second = Worker(env, tmp_path / "worker-2.log")
    begun = time.monotonic()
    marks: list[str] = []

    def mark(what: str) -> None:
        marks.append(f"{time.monotonic() - begun:7.1f}s  {what}")

    def handovers() -> int:
        return count(engine, OutboxEmail, col(OutboxEmail.kind) == "handover")

    commissioning: asyncio.Task[list[httpx.Response]] | None = None
    try:
        async with AsyncExitStack() as stack:
            client = await server.start()
            await first.start()
            api = Api(settings, stack)
            await api.connect(client)
            mark("dev server and worker 1 up")
            http = api.http
            partner = await factories.partner(http, admin)
            partner_headers = factories.bearer(partner["owner_token"])
            admin_id = (await http.get("/api/me", headers=admin)).json()["id"]
            email = await factories.email_template(http, admin)
            template = await factories.published_template(
                http, admin, factories.two_step_template(partner["id"], email["id"])
            )
            opportunity = await factories.opportunity(http, admin)

            async def start(_: int) -> str:
                response = await http.post(
                    "/api/processes",
                    json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
                    headers=admin,
                )
                assert response.status_code == 201, response.text
                process_id: str = response.json()["id"]
                return process_id

            process_ids = await each(range(PROCESSES), start)
            mark(f"{PROCESSES} processes started")

            # Every process hands its installation to the partner, and a hand-over e-mail
            # goes out for each; once half of them are in the outbox, the worker dies, then
            # Temporal: updates, records, e-mails and notices are cut off wherever they are.
            commissioning = asyncio.create_task(
                each(
                    process_ids,
                    lambda process_id: api.post(
                        f"/api/processes/{process_id}/steps/commission_partner/complete",
                        {},
                        admin,
                    ),
                )
            )
            deadline = time.monotonic() + RECOVERY_WAIT
            while handovers() < PROCESSES // 2 and not commissioning.done():
                assert time.monotonic() < deadline, "the hand-over e-mails do not go out"
                await asyncio.sleep(0.05)
            await first.kill()
            mark(
                f"worker killed: {api.answers[200]} commissions answered, "
                f"{handovers()} hand-over e-mails in the outbox"
            )
            await server.kill()
            mark("dev server killed")

            client = await server.start()
            await api.connect(client)
            await second.start()
            mark("dev server (same file, same port) and worker 2 up")
            for response in await asyncio.wait_for(commissioning, RECOVERY_WAIT):
                assert response.status_code == 200, response.text
            mark(f"commissioned every process; answers so far: {dict(api.answers)}")

            # The partner finishes every installation: a completion e-mail to the contact each.
            installing = each(
                process_ids,
                lambda process_id: api.post(
                    f"/api/processes/{process_id}/steps/installation/complete",
                    {"fields": {"installed_on": "2026-12-11"}},
                    partner_headers,
                ),
            )
            for response in await asyncio.wait_for(installing, RECOVERY_WAIT):
                assert response.status_code == 200, response.text
            mark("installation completed in every process")

            # Every process ends; its workflow returns once all it queued has gone out.
            async def result(process_id: str) -> ProcessState:
                handle = client.get_workflow_handle_for(
                    PartnerProcessWorkflow.run, workflow_id_for(process_id)
                )
                return await handle.result()

            states = await asyncio.wait_for(each(process_ids, result), RECOVERY_WAIT)
            mark("every workflow returned")

            # Temporal's own list agrees: every process closed, its search attribute completed.
            query = 'ExecutionStatus = "Completed" AND PfStatus = "completed"'
            deadline = time.monotonic() + RECOVERY_WAIT
            while (listed := (await client.count_workflows(query)).count) < PROCESSES:
                assert time.monotonic() < deadline, f"Temporal lists {listed} completed processes"
                await asyncio.sleep(0.2)
            assert listed == PROCESSES
            assert (await client.count_workflows()).count == PROCESSES

        check_read_model(engine, process_ids, states)
        check_outbox(engine, process_ids, partner["id"], admin_id)
    finally:
        if commissioning is not None and not commissioning.done():
            commissioning.cancel()
        await first.kill()
        await second.kill()
        await server.kill()
        for log in [first.log, second.log, *server.logs]:  # shown by pytest when the test fails
            if log.exists():
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-5000:]}")
        print("\n".join(marks))
        engine.dispose()


def check_read_model(engine: Engine, process_ids: list[str], states: list[ProcessState]) -> None:
    """The read model holds, process by process, what the workflow itself answered."""
    assert count(engine, Process, col(Process.status) == "completed") == PROCESSES, (
        "not every process is completed in the read model"
    )
    with Session(engine) as session:
        for process_id, state in zip(process_ids, states, strict=True):
            assert str(state.process_id) == process_id
            assert state.status == "completed", state
            assert [(s.key, s.status) for s in state.steps] == [
                ("commission_partner", "completed"),
                ("installation", "completed"),
            ], state.steps
            events = Counter((entry.event, entry.step_key) for entry in state.timeline)
            assert events[("step_completed", "commission_partner")] == 1, events
            assert events[("step_completed", "installation")] == 1, events
            assert events[("process_completed", None)] == 1, events
            assert not [e for e in events if e[0].endswith("_failed")], events

            process = session.get(Process, state.process_id)
            assert process is not None, process_id
            assert process.status == state.status
            assert process.version == state.version
            assert process.completed_at == state.completed_at
            assert process.timeline == [entry.model_dump(mode="json") for entry in state.timeline]
            rows = session.exec(
                select(ProcessStep)
                .where(ProcessStep.process_id == state.process_id)
                .order_by(col(ProcessStep.position))
            ).all()
            assert [(r.key, r.status, r.completed_at, r.fields) for r in rows] == [
                (s.key, s.status, s.completed_at, s.fields) for s in state.steps
            ]


def check_outbox(engine: Engine, process_ids: list[str], partner_id: str, admin_id: str) -> None:
    """Exactly the e-mails and notices the processes owe: none lost, none twice."""
    with Session(engine) as session:
        emails = session.exec(
            select(OutboxEmail).where(col(OutboxEmail.process_id).isnot(None))
        ).all()
        notices = session.exec(select(Notification)).all()
        partner_users = session.exec(
            select(User.id).where(User.partner_id == uuid.UUID(partner_id))
        ).all()
    email_keys = [row.idempotency_key for row in emails]
    assert len(email_keys) == len(set(email_keys)), "an e-mail key twice"
    assert Counter((str(row.process_id), row.kind) for row in emails) == {
        (pid, kind): 1 for pid in process_ids for kind in ("handover", "completion")
    }
    assert {row.status for row in emails} == {"sent"}
    notice_keys = [row.idempotency_key for row in notices]
    assert len(notice_keys) == len(set(notice_keys)), "a notice key twice"
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
