"""One chaos run on one database: the stack up, the load driven while the monkey kills, the
quiet afterwards, and what it all left behind counted."""

import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.chaos_client import CALLS_PER_PROCESS, CarefulClient, drive_process, setup_world
from bench.chaos_monkey import Mayhem, Monkey
from bench.chaos_observe import opportunities_per_call, outcomes
from bench.chaos_parts import ApiServer, DevServer, Worker, free_ports, stack_env
from bench.chaos_tally import Ledger, Tally, percentile, tally
from bench.smtp_sink import SmtpSink
from partnerflow.db import make_engine
from partnerflow.migrate import upgrade
from partnerflow.seed import seed
from partnerflow.settings import Settings
from workflows.partner_process import PartnerProcessWorkflow

ADMIN_TOKEN = "pf_chaos_admin_token"  # noqa: S105 (a throwaway database's token)
PROCESS_WORKFLOWS = f'WorkflowType = "{PartnerProcessWorkflow.__name__}"'


@dataclass
class Options:
    processes: int
    rounds: int
    database: str  # "sqlite" or "postgresql"
    concurrency: int = 20
    apis: int = 2
    seed: int = 0
    # how long after the load the processes may take to finish before they count as stuck
    stuck_after: float = 600.0
    # how long the client keeps retrying one call before it gives up
    give_up_after: float = 600.0
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    keep: bool = False


@dataclass
class Result:
    database: str
    tally: Tally
    mayhem: Mayhem
    ledger: Ledger
    seconds: dict[str, float] = field(default_factory=dict)
    directory: Path | None = None


@contextmanager
def database(options: Options, directory: Path) -> Iterator[str]:
    """A fresh database for the run: a SQLite file, or a new PostgreSQL database."""
    if options.database == "sqlite":
        yield f"sqlite:///{directory / 'partnerflow.db'}"
        return
    name = f"pf_chaos_{uuid.uuid4().hex[:12]}"
    admin = create_engine(options.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(options.postgres_url).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        if not options.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scratch(options: Options) -> Path:
    """The run's folder: its logs, Temporal's file, the SQLite database."""
    return Path(tempfile.mkdtemp(prefix=f"partnerflow-chaos-{options.database}-"))


async def run(options: Options, directory: Path) -> Result:
    with database(options, directory) as url:
        return await _run(options, directory, url)


async def _run(options: Options, directory: Path, url: str) -> Result:
    began = time.monotonic()
    seconds: dict[str, float] = {}
    rng = random.Random(options.seed)  # noqa: S311 (chaos, not security)
    run_id = uuid.uuid4().hex[:8]
    engine = make_engine(url)
    upgrade(engine)
    seed(engine, ADMIN_TOKEN, demo=False)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    smtp_port, *api_ports = free_ports(1 + options.apis)
    server = DevServer(directory)
    settings = Settings(
        database_url=url,
        temporal_address=server.address,
        task_queue=f"chaos-{run_id}",
        public_url="http://partnerflow.test",
        storage_dir=str(directory / "documents"),
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    env = stack_env(settings, server)
    worker = Worker(env, directory / "worker.log")
    apis = [
        ApiServer(env, port, directory / f"api-{number}.log")
        for number, port in enumerate(api_ports, start=1)
    ]
    ledger = Ledger()
    total_calls = options.processes * CALLS_PER_PROCESS
    monkey = Monkey(worker, server, apis, lambda: ledger.calls / total_calls, rng)
    with SmtpSink(smtp_port) as sink:
        async with AsyncExitStack() as stack:
            for part in (server, worker, *apis):
                stack.push_async_callback(part.kill)
            await server.start()
            await worker.start()
            await asyncio.gather(*(api.start() for api in apis))
            client = await server.connect()
            https = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=api.url, timeout=httpx.Timeout(120.0))
                )
                for api in apis
            ]
            actors = await setup_world(https[0], admin, sink.inbox)
            seconds["setup"] = time.monotonic() - began

            careful = CarefulClient(https, ledger, give_up_after=options.give_up_after)
            gate = asyncio.Semaphore(options.concurrency)

            async def one(number: int) -> None:
                async with gate:
                    await drive_process(careful, actors, run_id, number)

            keeper = asyncio.create_task(monkey.keep())
            chaos = asyncio.create_task(monkey.rounds(options.rounds))
            load_began = time.monotonic()
            await asyncio.gather(*(one(number) for number in range(options.processes)))
            seconds["load"] = time.monotonic() - load_began
            monkey.stop()  # a moment the load never reached: no kill (the parts stay up)
            await chaos

            # Quiet: every process the client drove to its end closes once all it owes is out.
            quiet_began = time.monotonic()
            driven = sum(1 for steps in ledger.acknowledged.values() if len(steps) == 4)
            may_run = len(ledger.started) - driven
            query = f'{PROCESS_WORKFLOWS} AND ExecutionStatus = "Running"'
            while (await client.count_workflows(query)).count > may_run:
                if time.monotonic() - quiet_began > options.stuck_after:
                    break
                await asyncio.sleep(1.0)
            seconds["quiet"] = time.monotonic() - quiet_began
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

            check_began = time.monotonic()
            found = await outcomes(client, engine, ledger.started)
            result = tally(
                options.processes,
                ledger,
                found,
                sink.deliveries(),
                opportunities_per_call(engine, run_id),
                unconfirmed=sink.unconfirmed(),
            )
            seconds["check"] = time.monotonic() - check_began
    engine.dispose()
    seconds["total"] = time.monotonic() - began
    seconds["calls p50"] = percentile(ledger.latencies, 50)
    seconds["calls p95"] = percentile(ledger.latencies, 95)
    seconds["calls max"] = max(ledger.latencies, default=0.0)
    return Result(
        database=options.database,
        tally=result,
        mayhem=monkey.mayhem,
        ledger=ledger,
        seconds=seconds,
        directory=directory,
    )
