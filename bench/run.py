"""`make bench` (`python -m bench.run`): the product against bare Temporal, one table per server.

For each Temporal dev server (in memory, then file-backed as `make up` runs it), on a stack
of its own: the bare baseline (bench/bare.py: three updates, three activities) and the
product through its HTTP API, alternating, at concurrency 20 and 1, for a few rounds. Workers
and the API are processes of their own, as in production; the driver is this process.
Results: bench/results/latest.{json,md}. Many open processes: `make bench-scale` (bench/scale.py).
"""

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import insight, report
from bench import profile as profiling
from bench.data import World, opportunities, prepare
from bench.drive import Driver, Run, api_driver, bare_driver, measure, pooled
from bench.stack import (
    BIN,
    Product,
    api_args,
    cpu_seconds,
    free_port,
    machine,
    running,
    start_product,
    stop,
    temporal_requests,
)
from partnerflow.db import make_engine
from partnerflow.models import OutboxEmail
from partnerflow.settings import Settings
from partnerflow.temporal import connect, exit_command
from workflows.partner_process import workflow_id_for

RESULTS = Path(__file__).resolve().parent / "results"
BARE_QUEUE = "bench-bare"
PRODUCT_QUEUE = "bench-product"
SHAPE_SAMPLES = 5  # closed processes whose histories are counted, per system


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--servers",
        default="memory,file",
        help="the dev servers, in order: memory (in memory, as the tests), file (a SQLite "
        "file, as `make up`)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument(
        "--processes-c20", type=int, default=100, help="processes per round at concurrency 20"
    )
    parser.add_argument(
        "--processes-c1", type=int, default=20, help="processes per round at concurrency 1"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed processes per system")
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="on the last server, what explains a missed target: ablations of the baseline, "
        "the pause before a completion, and a pass with the worker and the API under "
        "cProfile; auto = when a throughput or latency target is missed there",
    )
    parser.add_argument("--profile-processes", type=int, default=40)
    parser.add_argument(
        "--gap-processes", type=int, default=15, help="per run of the pause experiment"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 round of 20 and 5 processes, warm-up 3, no profile",
    )
    parser.add_argument(
        "--insight-completions", type=int, default=10_000, help="the scorecard's (bench/insight.py)"
    )
    parser.add_argument("--insight-calls", type=int, default=50, help="timed scorecards per way")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARTNERFLOW_TEST_DATABASE_URL"),
        help="also time the scorecard on PostgreSQL (a scratch database on this server)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.{json,md} go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.processes_c20, args.processes_c1, args.warmup = 1, 20, 5, 3
        args.profile = "never"
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or set(args.servers) - {"memory", "file"}:
        parser.error("--servers: memory, file or both")
    return args


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def history_shape(events: list[Any]) -> dict[str, Any]:
    """How much a process's history holds: events, workflow tasks, activities by type."""
    activities: Counter[str] = Counter()
    tasks = 0
    size = 0
    for event in events:
        size += event.ByteSize()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks += 1
    return {
        "events": len(events),
        "bytes": size,
        "workflow_tasks": tasks,
        "activities": dict(activities),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="partnerflow-bench-"))
    say(f"scratch directory {work}")
    loads = [os.getloadavg()]
    servers: dict[str, Any] = {}
    try:
        for n, server in enumerate(args.servers):
            last = n == len(args.servers) - 1
            servers[server] = await _server(args, work / server, server, last)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    say("== scorecard over 10,000 completions (bench/insight.py)")
    scorecard = await asyncio.to_thread(
        insight.run, args.insight_completions, args.insight_calls, args.postgres_url
    )
    loads.append(os.getloadavg())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(),
        "runtime_s": round(time.perf_counter() - began, 1),
        "machine": {**machine(), "load_average_start_end": [round(x[0], 2) for x in loads]},
        "setup": {
            "temporal": _temporal_version(),
            "database": "SQLite file (WAL), shared by the API and the worker",
            "api": "uvicorn, one process, on a free port (not in-process)",
            "workers": "worker.py and bench/bare_worker.py, each a process of its own",
            "driver": "this process: temporalio client and httpx, asyncio",
            "args": {k: str(v) for k, v in vars(args).items()},
        },
        "servers": servers,
        "insight": scorecard,
    }


async def _server(args: argparse.Namespace, work: Path, server: str, last: bool) -> dict[str, Any]:
    """Both systems on one dev server (`server`: memory or file), alternating."""
    say(f"== {server}-backed dev server")
    needed = (
        2 * args.warmup
        + args.rounds * (args.processes_c1 + args.processes_c20)
        + 2 * args.gap_processes
        + args.warmup
        + args.profile_processes
    )
    prepared: dict[str, Any] = {}

    def seed(database_url: str) -> None:
        engine = make_engine(database_url)
        prepared["engine"] = engine
        prepared["world"] = prepare(engine, 5)
        prepared["pool"] = iter(opportunities(engine, needed))

    with ExitStack() as exits:
        product = start_product(exits, work, server, PRODUCT_QUEUE, seed)
        engine, world, pool = prepared["engine"], prepared["world"], prepared["pool"]
        exits.callback(engine.dispose)
        bare_worker = exits.enter_context(
            running(
                "bare worker",
                [sys.executable, "-m", "bench.bare_worker", product.address, BARE_QUEUE],
                {},
                work / "logs" / "bare_worker.log",
            )
        )
        settings = Settings(
            database_url=product.database_url,
            temporal_address=product.address,
            task_queue=PRODUCT_QUEUE,
        )
        client = await connect(settings)  # the product's (pydantic) data converter
        bare_client = await Client.connect(product.address)  # the SDK's default one
        say(
            f"Temporal on {product.address}; bare worker {bare_worker.pid}, worker "
            f"{product.worker.pid}, API {product.api.pid} on :{product.api_port}"
        )

        def cpu_of(**pids: int) -> Any:
            def sample() -> dict[str, float]:
                values = {"temporal": cpu_seconds(product.temporal.pid)}
                values.update({name: cpu_seconds(pid) for name, pid in pids.items()})
                values["driver"] = time.process_time()
                return values

            return sample

        def requests() -> dict[str, float]:
            return temporal_requests(product.metrics_port)

        started_by_api: list[str] = []
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{product.api_port}", timeout=120, limits=limits
        )
        drivers: dict[str, tuple[Driver, Any]] = {
            "a": (bare_driver(bare_client, BARE_QUEUE), cpu_of(worker=bare_worker.pid)),
            "c": (
                api_driver(http, client, world, pool, started_by_api),
                cpu_of(worker=product.worker.pid, api=product.api.pid),
            ),
        }

        say("warm-up")
        for mode, (driver, cpu) in drivers.items():
            await measure(mode, driver, args.warmup, min(args.warmup, 5), cpu)

        rounds: list[Run] = []
        for number in range(1, args.rounds + 1):
            for concurrency, processes in ((20, args.processes_c20), (1, args.processes_c1)):
                for mode, (driver, cpu) in drivers.items():
                    counters = requests if concurrency > 1 else dict
                    run = await measure(mode, driver, processes, concurrency, cpu, counters)
                    run.round = number
                    rounds.append(run)
                    say(
                        f"  round {number}, ({mode}) {processes} at concurrency {concurrency}: "
                        f"{run.per_second:.1f} processes/s"
                    )
        runs = [
            pooled([r for r in rounds if (r.mode, r.concurrency) == key])
            for key in sorted({(r.mode, r.concurrency) for r in rounds})
        ]
        shapes = await _shapes(bare_client, client, started_by_api)
        emails = _emails(engine, started_by_api)
        say(f"outbox: {emails} e-mails for {len(started_by_api)} processes started by the API")

        result: dict[str, Any] = {
            "server": f"{server}-backed",
            "histories": shapes,
            "runs": [run.summary() for run in runs],
            "rounds": [run.summary() for run in rounds],
            "ratios": report.ratios(runs),
            "api_emails_in_outbox": {"processes": len(started_by_api), "emails": emails},
        }
        missed = any(t["met"] is False for t in report.server_targets(result))
        if last and (args.profile == "always" or (args.profile == "auto" and missed)):
            result.update(
                await _explain(
                    args, work, product, bare_client, client, world, pool, shapes, cpu_of,
                    requests, http, bare_worker.pid,
                )
            )  # fmt: skip
        await http.aclose()
        return result


async def _explain(
    args: argparse.Namespace,
    work: Path,
    product: Product,
    bare_client: Client,
    client: Client,
    world: World,
    pool: Any,
    shapes: dict[str, Any],
    cpu_of: Any,
    requests: Any,
    http: httpx.AsyncClient,
    bare_worker: int,
) -> dict[str, Any]:
    """What explains a missed target: the baseline plus what the product asks of Temporal,
    a pause before each completion, and the product under cProfile."""
    ablations: list[Run] = []
    grown = shapes["product"]["bytes"] - shapes["bare"]["bytes"]
    pad = max(0, int(grown // 9))  # 3 activity inputs, 3 update arguments and 3 results
    processes = max(40, args.processes_c20 // 2)
    for mode, upsert, padding in (
        ("a + search attributes", True, 0),
        (f"a + {pad} B payloads", False, pad),
        ("a + both", True, pad),
    ):
        driver = bare_driver(bare_client, BARE_QUEUE, upsert=upsert, pad=padding)
        ablations.append(
            await measure(mode, driver, processes, 20, cpu_of(worker=bare_worker), requests)
        )
        say(f"  ({mode}) {processes} at concurrency 20: {ablations[-1].per_second:.1f}/s")
    gaps: list[Run] = []
    for gap in (0.003, 0.1):
        for mode, driver in (
            ("a", bare_driver(bare_client, BARE_QUEUE, gap=gap)),
            ("c", api_driver(http, client, world, pool, [], gap=gap)),
        ):
            name = f"{mode}, {gap * 1000:.0f} ms before each completion"
            gaps.append(await measure(name, driver, args.gap_processes, 1, dict))
            say(f"  ({name}) {args.gap_processes} at concurrency 1")
    stop(product.api)
    stop(product.worker)
    profile = await _profile(args, work, product.env, client, world, pool)
    return {
        "ablations": [run.summary() for run in ablations],
        "gaps": [run.summary() for run in gaps],
        "profile": profile,
    }


async def _profile(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    client: Client,
    world: World,
    pool: Any,
) -> dict[str, Any]:
    """The product once more at concurrency 20, the worker and the API under cProfile."""
    python = sys.executable
    port = free_port()
    worker_prof, api_prof = work / "worker-profile.json", work / "api-profile.json"
    say(f"profiling: {args.profile_processes} processes at concurrency 20 under cProfile")
    with (
        running(
            "profiled worker",
            [python, "-m", "bench.profile", str(worker_prof), "worker"],
            env,
            work / "logs" / "worker-profiled.log",
        ) as worker,
        running(
            "profiled API",
            [python, "-m", "bench.profile", str(api_prof), "api", *api_args(port)[3:]],
            env,
            work / "logs" / "api-profiled.log",
            port,
        ) as api,
    ):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            driver = api_driver(http, client, world, pool, [])
            await measure("c", driver, args.warmup, min(args.warmup, 5), dict)
            for process in (worker, api):  # count from here: after start-up and warm-up
                process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1)
            run = await measure(
                "c",
                driver,
                args.profile_processes,
                20,
                lambda: {"worker": cpu_seconds(worker.pid), "api": cpu_seconds(api.pid)},
            )
    return {
        "run": run.summary(),
        "worker": profiling.summarize(worker_prof),
        "api": profiling.summarize(api_prof),
    }


async def _shapes(bare_client: Client, client: Client, process_ids: list[str]) -> dict[str, Any]:
    """What a closed process's history holds, the mean of a few of each system."""
    bare = [
        bare_client.get_workflow_handle(execution.id)
        async for execution in bare_client.list_workflows(
            "WorkflowType = 'BareProcessWorkflow' AND ExecutionStatus = 'Completed'",
            limit=SHAPE_SAMPLES,
        )
    ]
    product = [
        client.get_workflow_handle(workflow_id_for(uuid.UUID(i)))
        for i in process_ids[-SHAPE_SAMPLES:]
    ]
    shapes: dict[str, Any] = {}
    for system, handles in (("bare", bare), ("product", product)):
        found = [history_shape(list((await h.fetch_history()).events)) for h in handles]
        if not found:
            continue
        events = [shape["events"] for shape in found]
        shapes[system] = {
            "processes": len(found),
            "events": round(sum(events) / len(found), 1),
            "events_min_max": [min(events), max(events)],
            "bytes": round(sum(shape["bytes"] for shape in found) / len(found)),
            "workflow_tasks": round(sum(s["workflow_tasks"] for s in found) / len(found), 1),
            "activities": found[-1]["activities"],
        }
    return shapes


def _emails(engine: Any, process_ids: list[str]) -> int:
    ids = [uuid.UUID(i) for i in process_ids]
    with Session(engine) as session:
        total = 0
        for chunk in range(0, len(ids), 500):
            total += session.exec(
                select(func.count())
                .select_from(OutboxEmail)
                .where(col(OutboxEmail.process_id).in_(ids[chunk : chunk + 500]))
            ).one()
        return total


def _command() -> str:
    invocation = shlex.join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]])
    return f"make bench ({invocation})" if os.environ.get("MAKELEVEL") else invocation


def _temporal_version() -> str:
    out = subprocess.run(  # noqa: S603 (our own binary)
        [str(BIN / "temporal"), "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "temporal ?"


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(main(args))
    result["targets"] = report.targets(result)
    report.write(result, args.out)
    print(report.markdown_table(result), flush=True)
    print("\n### scorecard\n\n" + insight.table(result["insight"]), flush=True)
    exit_command(0)


if __name__ == "__main__":
    cli()
