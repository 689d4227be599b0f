"""Chaos: processes in flight, the worker and then Temporal itself killed with SIGKILL while
partners complete parallel steps; on SQLite and on PostgreSQL, e-mails through real SMTP.

Temporal here is a file-backed dev server of this test's own (not the session's in-memory
one), so its state survives a `kill -9`; the worker is a real `python worker.py` subprocess,
the API runs in-process and keeps its Temporal client across the restart (it reconnects).
E-mails go to a local SMTP server (aiosmtpd) that counts what it accepted per e-mail key.

Each process: the contact person commissions two partners, who complete their steps at the
same moment (concurrent updates on parallel steps), then the contact person accepts; the
client is a careful one (`bench/chaos_client.py`: the same Idempotency-Key again on a 5xx or
a dropped connection). Midway, while parallel completions are in flight, the worker dies,
then the server; both come back (the server on the same file and port). Then: every process
is completed, no step a partner was told is done is lost, every e-mail reached the SMTP server
exactly once, and the read model says what each workflow's own state says.

The worker dies while the SMTP server holds back its answers to e-mails it has received,
so deliveries are cut off in the worker's hands (the server never answered 250: nothing was
delivered). Those e-mail activities are retried when their start-to-close timeout (a minute,
workflows/retries.py) passes: most of this test's time is that wait. Kills at random moments,
of an API process too, and at scale are `make chaos`'s (bench/chaos.py).
"""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.main import create_app
from bench.chaos_client import (
    COMMISSION,
    PARALLEL,
    Actors,
    CarefulClient,
    chaos_template,
    drive_process,
)
from bench.chaos_observe import opportunities_per_call, outcomes
from bench.chaos_parts import DevServer, Worker, stack_env
from bench.chaos_tally import Ledger, Tally, markdown, owed_emails, tally
from bench.smtp_sink import SmtpSink
from partnerflow.db import make_engine
from partnerflow.models import Notification, OutboxEmail, User
from partnerflow.seed import seed
from tests import factories
from tests.conftest import ADMIN_TOKEN, eventually, free_port, on_each_database, settings_for

pytestmark = pytest.mark.chaos

PROCESSES = 30
# How many processes are driven at once: enough for parallel completions to overlap a kill.
CONCURRENCY = 10
# Bounds for waiting, not expectations.
KILL_WAIT = 60.0
HOLD_WAIT = 20.0  # a loaded machine (five test workers) is slow to hand the next e-mail over
RECOVERY_WAIT = 180.0
# The processes, not the reconciler's scheduled runs.
PROCESS_WORKFLOWS = 'WorkflowType = "PartnerProcessWorkflow"'

T = TypeVar("T")


async def each(items: Iterable[T], call: Callable[[T], Awaitable[None]]) -> None:
    """`call` for every item, CONCURRENCY of them at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: T) -> None:
        async with gate:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


async def until(condition: Callable[[], bool], *, wait: float) -> None:
    """Returns once `condition` holds, or when `wait` runs out; the caller checks which."""

    async def probe() -> bool:
        return condition()

    await eventually(probe, bool, wait=wait, every=0.005)


def unmarked(engine: Engine, delivered: Iterable[str]) -> set[str]:
    """Keys of e-mails the SMTP server answered whose outbox row is not `sent` (yet)."""
    keys = set(delivered)
    with Session(engine) as session:
        sent = session.exec(
            select(OutboxEmail.idempotency_key).where(
                col(OutboxEmail.idempotency_key).in_(keys), OutboxEmail.status == "sent"
            )
        ).all()
    return keys - set(sent)


def parallel_in_flight(ledger: Ledger) -> int:
    return sum(ledger.in_flight[f"complete {step}"] for step in PARALLEL)


def both_parallel_done(ledger: Ledger) -> int:
    return sum(1 for steps in ledger.acknowledged.values() if set(PARALLEL) <= steps)


@pytest.fixture
def folders(tmp_path: Path, database_urls: dict[str, str]) -> dict[str, Path]:
    """A folder per database for its Temporal server's file and the logs."""
    for kind in database_urls:
        (tmp_path / kind).mkdir()
    return {kind: tmp_path / kind for kind in database_urls}


async def test_processes_survive_kill_9_of_worker_and_temporal(
    database_urls: dict[str, str], folders: dict[str, Path]
) -> None:
    """On SQLite and on PostgreSQL side by side, each with its own Temporal server: most of
    each is the minute the cut-off e-mails wait, and the two minutes overlap."""

    async def on(kind: str, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            await processes_survive_kill_9_of_worker_and_temporal(
                database_url, engine, folders[kind]
            )
        finally:
            engine.dispose()

    await on_each_database(database_urls, on)


async def processes_survive_kill_9_of_worker_and_temporal(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seed(engine, ADMIN_TOKEN, demo=False)
    admin = factories.bearer(ADMIN_TOKEN)
    server = DevServer(tmp_path)
    smtp_port = free_port()
    settings = settings_for(
        database_url, temporal_address=server.address,
        mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=smtp_port,
    )  # fmt: skip
    env = stack_env(settings, server)
    first = Worker(env, tmp_path / "worker-1.log")
    second = Worker(env, tmp_path / "worker-2.log")
    ledger = Ledger()
    run = uuid.uuid4().hex[:8]
    driving: asyncio.Task[None] | None = None
    begun = time.monotonic()
    marks: list[str] = []

    def mark(what: str) -> None:
        marks.append(f"{time.monotonic() - begun:7.1f}s  {what}")

    with SmtpSink(smtp_port) as sink:
        try:
            await server.start()
            client = await server.connect()
            await first.start()
            app = create_app(settings, temporal=client)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://partnerflow.test"
                ) as http,
            ):
                installer = await factories.partner(http, admin, "Sonnenschein Solar", sink.inbox)
                grid_partner = await factories.partner(http, admin, "Netz Elektro", sink.inbox)
                email = await factories.email_template(http, admin)
                template = await factories.published_template(
                    http, admin, chaos_template(installer["id"], grid_partner["id"], email["id"])
                )
                actors = Actors(
                    admin=admin,
                    installer=factories.bearer(installer["owner_token"]),
                    grid_partner=factories.bearer(grid_partner["owner_token"]),
                    template_id=template["id"],
                )
                admin_id = (await http.get("/api/me", headers=admin)).json()["id"]
                careful = CarefulClient([http], ledger, give_up_after=RECOVERY_WAIT)
                mark("Temporal, worker 1, API and partners ready")
                driving = asyncio.create_task(
                    each(range(PROCESSES), lambda n: drive_process(careful, actors, run, n))
                )

                # A few processes are through their parallel steps (the stack is warm), and
                # partners' completions are in flight: the worker dies, then Temporal.
                await until(
                    lambda: (
                        driving.done()
                        or (
                            both_parallel_done(ledger) >= PROCESSES // 6
                            and parallel_in_flight(ledger) >= 2
                        )
                    ),
                    wait=KILL_WAIT,
                )
                assert not driving.done(), "every process was through before the kill"
                assert parallel_in_flight(ledger) >= 2, "no parallel completions in flight"
                # The SMTP server holds its answers: the worker dies with deliveries in hand.
                sink.hold()
                await until(lambda: sink.held > 0, wait=HOLD_WAIT)
                assert sink.held > 0, "no e-mail was being delivered"
                # An e-mail answered just before the hold may not be marked `sent` yet: the
                # kill would send it again, which is the duplicate this test looks for, but
                # not one a worker dying mid-delivery causes. Its marks land first.
                await until(lambda: not unmarked(engine, sink.deliveries()), wait=KILL_WAIT)
                assert not unmarked(engine, sink.deliveries()), "answered e-mails stay unsent"
                await first.kill()
                await until(lambda: sink.held == 0, wait=HOLD_WAIT)
                await server.kill()
                sink.release()
                in_flight = parallel_in_flight(ledger)
                mark(
                    f"worker and Temporal killed; {sink.cut_off} deliveries cut off, "
                    f"{dict(ledger.in_flight)} in flight"
                )

                await server.start()  # same file, same port: the API's client reconnects
                await second.start()
                mark("Temporal (same file, same port) and worker 2 up")
                await asyncio.wait_for(driving, RECOVERY_WAIT)
                mark(f"every process driven; answers: {dict(ledger.answers)}")

                # Every workflow closes once all it owes (e-mails, notices) has gone out.
                async def running() -> int:
                    query = f'{PROCESS_WORKFLOWS} AND ExecutionStatus = "Running"'
                    return (await client.count_workflows(query)).count

                await eventually(running, lambda count: count == 0, wait=RECOVERY_WAIT, every=0.2)
                mark("every workflow closed")
                found = await outcomes(client, engine, ledger.started)
                result = tally(
                    PROCESSES, ledger, found, sink.deliveries(), opportunities_per_call(engine, run)
                )
                assert result.problems == 0, report(result, ledger, in_flight)
                assert result.completed == PROCESSES, report(result, ledger, in_flight)
                assert sink.cut_off > 0, "the kill cut off no delivery"
                await check_temporal_list(client)
                states = [outcome.state for outcome in found.values() if outcome.state]
                owed = {key for state in states for key in owed_emails(state)}
                check_outbox(engine, owed)
                check_notices(engine, ledger.started, admin_id, installer["id"], grid_partner["id"])
        finally:
            if driving is not None and not driving.done():
                driving.cancel()
            for part in (first, second, server):
                await part.kill()
            for log in (first.log, second.log, server.log):  # shown by pytest when it fails
                if log.exists():
                    tail = log.read_text(errors="replace")[-5000:]
                    print(f"--- {tmp_path.name}: {log.name}\n{tail}")
            print(f"--- {tmp_path.name}: what happened when\n" + "\n".join(marks))


def report(result: Tally, ledger: Ledger, in_flight: int) -> str:
    return (
        f"\n{markdown({'this run': result})}\nexamples: {result.examples}\n"
        f"answers: {dict(ledger.answers)}\nparallel completions in flight at the kill: "
        f"{in_flight}"
    )


async def check_temporal_list(client: Client) -> None:
    """Temporal's own list agrees: every process closed, its search attribute completed."""
    query = f'{PROCESS_WORKFLOWS} AND ExecutionStatus = "Completed" AND PfStatus = "completed"'

    async def listed() -> int:
        return (await client.count_workflows(query)).count

    assert await eventually(listed, lambda n: n == PROCESSES, wait=RECOVERY_WAIT) == PROCESSES
    assert (await client.count_workflows(PROCESS_WORKFLOWS)).count == PROCESSES


def check_outbox(engine: Engine, owed: set[str]) -> None:
    """The outbox holds exactly the e-mails the processes owe, each once, each sent."""
    with Session(engine) as session:
        emails = session.exec(
            select(OutboxEmail).where(col(OutboxEmail.process_id).isnot(None))
        ).all()
    assert len(owed) == PROCESSES * 4
    assert sorted(row.idempotency_key for row in emails) == sorted(owed)
    assert Counter(row.status for row in emails) == {"sent": len(owed)}
    assert {row.transport for row in emails} == {"smtp"}


def check_notices(
    engine: Engine, process_ids: set[str], admin_id: str, installer_id: str, grid_partner_id: str
) -> None:
    """In-app notices: each step's assignee when it opened (each user of a partner), the
    contact when a partner finished; none lost, none twice."""
    with Session(engine) as session:
        notices = session.exec(select(Notification)).all()
        users = {
            partner_id: session.exec(
                select(User.id).where(User.partner_id == uuid.UUID(partner_id))
            ).all()
            for partner_id in (installer_id, grid_partner_id)
        }
    keys = [row.idempotency_key for row in notices]
    assert len(keys) == len(set(keys)), "a notice key twice"
    expected = Counter(
        (pid, step_key, kind, user)
        for pid in process_ids
        for step_key, kind, user in (
            (COMMISSION, "step_assigned", admin_id),
            *(("installation", "step_assigned", str(u)) for u in users[installer_id]),
            *(("grid_registration", "step_assigned", str(u)) for u in users[grid_partner_id]),
            ("installation", "step_completed", admin_id),
            ("grid_registration", "step_completed", admin_id),
            ("acceptance", "step_assigned", admin_id),
        )
    )
    assert (
        Counter((str(row.process_id), row.step_key, row.kind, str(row.user_id)) for row in notices)
        == expected
    )
