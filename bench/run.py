"""`make bench` (`python -m bench.run`): one run on one Temporal dev server, one table.

(a) the bare-Temporal floor (bench/bare.py), (b) PartnerProcessWorkflow driven by the client,
(c) the product through its HTTP API, each at concurrency 1 and 20; (d) scale: many open
processes with armed deadline timers. Workers and the API are processes of their own, as in
production; the driver is this process. Results: bench/results/latest.{json,md}.
"""

import argparse
import asyncio
import math
import os
import platform
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
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench import profile as profiling
from bench import report
from bench.data import World, opportunities, prepare
from bench.drive import Driver, Run, api_driver, bare_driver, measure, workflow_driver
from bench.scale import ScaleResult, run_scale
from bench.stack import (
    BIN,
    ROOT,
    cpu_seconds,
    free_port,
    running,
    stop,
    temporal_args,
    temporal_requests,
)
from partnerflow.db import make_engine
from partnerflow.models import OutboxEmail
from partnerflow.settings import Settings
from partnerflow.temporal import connect

RESULTS = Path(__file__).resolve().parent / "results"
BARE_QUEUE = "bench-bare"
PRODUCT_QUEUE = "bench-product"
# Side activities (e-mails, notices) after the start and after each of the three completions
# of bench.data.THREE_STEPS, as PartnerProcessWorkflow runs them; checked against a history.
SIDE_ACTIVITIES = [1, 2, 3, 0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--processes-c1", type=int, default=30, help="processes at concurrency 1")
    parser.add_argument(
        "--processes-c20", type=int, default=200, help="processes at concurrency 20"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed processes per mode")
    parser.add_argument("--scale", type=int, default=5000, help="open processes in (d); 0: skip")
    parser.add_argument(
        "--per-partner", type=int, default=1000, help="open steps of the measured partner"
    )
    parser.add_argument("--scale-concurrency", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200, help="GET /api/my/tasks samples")
    parser.add_argument("--visibility-samples", type=int, default=50)
    parser.add_argument(
        "--temporal-db",
        choices=["file", "memory"],
        default="memory",
        help="the dev server's persistence: in memory (as the tests), or a SQLite file (as "
        "`make up`; slower, (d) takes about three times as long)",
    )
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="a last (c) pass at concurrency 20 with the worker and the API under cProfile: "
        "auto = when a throughput or latency target is missed",
    )
    parser.add_argument("--profile-processes", type=int, default=40)
    parser.add_argument(
        "--gap-processes", type=int, default=15, help="per run of the pause experiment"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.{json,md} go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return parser.parse_args(argv)


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


async def shape_of(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    history = await handle.fetch_history()
    return history_shape(list(history.events))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="partnerflow-bench-"))
    say(f"scratch directory {work}")
    loads = [os.getloadavg()]
    try:
        with ExitStack() as stack:
            result = await _bench(args, work, stack)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    loads.append(os.getloadavg())
    result["runtime_s"] = round(time.perf_counter() - began, 1)
    result["machine"]["load_average_start_end"] = [round(load[0], 2) for load in loads]
    return result


async def _bench(args: argparse.Namespace, work: Path, stack: ExitStack) -> dict[str, Any]:
    logs = work / "logs"
    logs.mkdir()
    db_file = work / "temporal.db" if args.temporal_db == "file" else None
    temporal_cmd, temporal_port, metrics_port = temporal_args(db_file)
    address = f"127.0.0.1:{temporal_port}"
    temporal = stack.enter_context(
        running("Temporal", temporal_cmd, {}, logs / "temporal.log", temporal_port)
    )
    say(f"Temporal dev server on {address} ({args.temporal_db}-backed)")

    database_url = f"sqlite:///{work / 'partnerflow.db'}"
    engine = make_engine(database_url)
    partners = max(2, math.ceil(args.scale / args.per_partner)) if args.scale else 5
    world = prepare(engine, partners)
    warm = 3 * args.warmup
    needed = (
        warm
        + 2 * (args.processes_c1 + args.processes_c20)
        + 4 * args.gap_processes
        + args.warmup
        + args.profile_processes
        + args.scale
    )
    opportunity_ids = opportunities(engine, needed)
    pool = iter(opportunity_ids[args.scale :])

    api_port = free_port()
    env = {
        "PARTNERFLOW_DATABASE_URL": database_url,
        "PARTNERFLOW_TEMPORAL_ADDRESS": address,
        "PARTNERFLOW_TEMPORAL_NAMESPACE": "default",
        "PARTNERFLOW_TASK_QUEUE": PRODUCT_QUEUE,
        "PARTNERFLOW_STORAGE_DIR": str(work / "documents"),
        "PARTNERFLOW_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "PARTNERFLOW_MAIL_TRANSPORT": "outbox",
        "PARTNERFLOW_LOG_FORMAT": "text",
        "PARTNERFLOW_WORKER_METRICS_ADDRESS": "",
    }
    settings = Settings(
        database_url=database_url, temporal_address=address, task_queue=PRODUCT_QUEUE
    )
    client = await connect(settings)  # the product's (pydantic) data converter
    bare_client = await Client.connect(address)  # the SDK's default one

    python = sys.executable
    bare_worker = stack.enter_context(
        running(
            "bare worker",
            [python, "-m", "bench.bare_worker", address, BARE_QUEUE],
            {},
            logs / "bare_worker.log",
        )
    )
    worker = stack.enter_context(
        running("worker", [python, str(ROOT / "worker.py")], env, logs / "worker.log")
    )
    api = stack.enter_context(
        running(
            "API",
            [
                python, "-m", "uvicorn", "--factory", "api.main:create_app",
                "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning",
                "--no-access-log",
            ],
            env,
            logs / "api.log",
            api_port,
        )
    )  # fmt: skip
    say(f"bare worker {bare_worker.pid}, worker {worker.pid}, API {api.pid} on :{api_port}")

    def cpu_of(**pids: int) -> Any:
        def sample() -> dict[str, float]:
            values = {"temporal": cpu_seconds(temporal.pid)}
            values.update({name: cpu_seconds(pid) for name, pid in pids.items()})
            values["driver"] = time.process_time()
            return values

        return sample

    def requests() -> dict[str, float]:
        return temporal_requests(metrics_port)

    started_by_api: list[str] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=120, limits=limits)
    drivers: dict[str, tuple[Driver, Any]] = {
        "a": (
            bare_driver(bare_client, BARE_QUEUE, SIDE_ACTIVITIES),
            cpu_of(worker=bare_worker.pid),
        ),
        "b": (
            workflow_driver(client, PRODUCT_QUEUE, world, pool),
            cpu_of(worker=worker.pid),
        ),
        "c": (
            api_driver(http, client, world, pool, started_by_api),
            cpu_of(worker=worker.pid, api=api.pid),
        ),
    }

    say("warm-up")
    for mode, (driver, cpu) in drivers.items():
        await measure(mode, driver, args.warmup, min(args.warmup, 5), cpu)
    shapes = await _shapes(bare_client, client, world)
    product_activities = shapes["b"]["activities"]
    records = product_activities.get("record_process_state", 0)
    side = sum(product_activities.values()) - records
    if (records, side) != (len(SIDE_ACTIVITIES), sum(SIDE_ACTIVITIES)):
        say(
            f"WARNING: the product ran {records} record and {side} other activities; the bare "
            f"workflow mirrors {len(SIDE_ACTIVITIES)} and {sum(SIDE_ACTIVITIES)}"
        )

    runs: list[Run] = []
    for concurrency, processes in ((1, args.processes_c1), (20, args.processes_c20)):
        for mode, (driver, cpu) in drivers.items():
            say(f"({mode}) {processes} processes at concurrency {concurrency}")
            counters = requests if concurrency > 1 else dict
            run = await measure(mode, driver, processes, concurrency, cpu, counters)
            say(f"    {run.per_second:.1f} processes/s")
            runs.append(run)

    emails = _emails(engine, started_by_api)
    say(f"outbox: {emails} e-mails for {len(started_by_api)} processes started through the API")

    preliminary = report.targets({"ratios": report.ratios(runs), "scale": None})
    missed = any(row["met"] is False for row in preliminary if row["id"] not in ("rss", "my_tasks"))
    profiling = args.profile == "always" or (args.profile == "auto" and missed)
    ablations: list[Run] = []
    gaps: list[Run] = []
    if profiling:
        # What the product asks of Temporal beyond (a)'s shape, one thing at a time.
        grown = shapes["b"]["bytes"] - shapes["a"]["bytes"]
        pad = max(0, grown // (sum(SIDE_ACTIVITIES) + 2 * len(SIDE_ACTIVITIES)))
        processes = max(40, args.processes_c20 // 2)
        for mode, upsert, padding in (
            ("a + search attributes", True, 0),
            (f"a + {pad} B payloads", False, pad),
            ("a + both", True, pad),
        ):
            say(f"({mode}) {processes} processes at concurrency 20")
            driver = bare_driver(
                bare_client, BARE_QUEUE, SIDE_ACTIVITIES, upsert=upsert, pad=padding
            )
            bare_cpu = cpu_of(worker=bare_worker.pid)
            ablations.append(await measure(mode, driver, processes, 20, bare_cpu, requests))
            say(f"    {ablations[-1].per_second:.1f} processes/s")
        # A completion's latency depends on how soon after the previous one it comes.
        for gap in (0.003, 0.1):
            for mode, driver in (
                ("a", bare_driver(bare_client, BARE_QUEUE, SIDE_ACTIVITIES, gap=gap)),
                ("b", workflow_driver(client, PRODUCT_QUEUE, world, pool, gap=gap)),
            ):
                name = f"{mode}, {gap * 1000:.0f} ms before each completion"
                say(f"({name}) {args.gap_processes} processes at concurrency 1")
                gaps.append(await measure(name, driver, args.gap_processes, 1, dict))

    scale: ScaleResult | None = None
    if args.scale:
        # A fresh worker, so that its peak memory is the scale run's alone.
        handovers_before = _handovers(engine)
        stack_worker = running("worker", [python, str(ROOT / "worker.py")], env, logs / "w2.log")
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
        with stack_worker as scale_worker:
            await asyncio.sleep(2)
            say(f"(d) opening {args.scale} processes, {args.per_partner} for one partner")
            scale = await run_scale(
                client, http, world, PRODUCT_QUEUE, opportunity_ids,
                processes=args.scale, per_partner=args.per_partner,
                concurrency=args.scale_concurrency, samples=args.samples,
                visibility_samples=args.visibility_samples, worker_pid=scale_worker.pid,
                handovers=lambda: _handovers(engine) - handovers_before,
                progress=say,
            )  # fmt: skip
    await http.aclose()

    profile: dict[str, Any] | None = None
    if profiling:
        stop(api)
        if worker.poll() is None:
            stop(worker)
        profile = await _profile(args, work, env, client, world, pool)
    engine.dispose()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command(),
        "machine": _machine(),
        "setup": {
            "temporal_dev_server": f"{args.temporal_db}-backed ({_temporal_version()})",
            "database": "SQLite file (WAL), shared by the API and the worker",
            "api": "uvicorn, one process, on a free port (not in-process)",
            "workers": "worker.py and bench/bare_worker.py, each a process of its own",
            "driver": "this process: temporalio client and httpx, asyncio",
            "args": {k: str(v) for k, v in vars(args).items()},
        },
        "histories": shapes,
        "runs": [run.summary() for run in runs],
        "ratios": report.ratios(runs),
        "api_emails_in_outbox": {"processes": len(started_by_api), "emails": emails},
        "scale": scale.summary() if scale else None,
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
    """(c) once more at concurrency 20, the worker and the API under cProfile (CPU time)."""
    python = sys.executable
    port = free_port()
    worker_prof, api_prof = work / "worker-profile.json", work / "api-profile.json"
    say(f"profiling: (c) {args.profile_processes} processes at concurrency 20 under cProfile")
    with (
        running(
            "profiled worker",
            [python, "-m", "bench.profile", str(worker_prof), "worker"],
            env,
            work / "logs" / "worker-profiled.log",
        ) as worker,
        running(
            "profiled API",
            [
                python, "-m", "bench.profile", str(api_prof), "api",
                "--factory", "api.main:create_app", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--no-access-log",
            ],
            env,
            work / "logs" / "api-profiled.log",
            port,
        ) as api,
    ):  # fmt: skip
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


async def _shapes(bare_client: Client, client: Client, world: World) -> dict[str, Any]:
    """One closed process of each kind, as its history shows it."""
    shapes: dict[str, Any] = {}
    for key, found, query in (
        (
            "a",
            bare_client,
            "WorkflowType = 'BareProcessWorkflow' AND ExecutionStatus = 'Completed'",
        ),
        ("b", client, f"PfTemplate = '{world.three_steps.template_id}' AND PfStatus = 'completed'"),
    ):
        async for execution in found.list_workflows(query, limit=1):
            shapes[key] = await shape_of(found.get_workflow_handle(execution.id))
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


def _handovers(engine: Any) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "handover")
        ).one()


def _command() -> str:
    invocation = shlex.join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]])
    return f"make bench ({invocation})" if os.environ.get("MAKELEVEL") else invocation


def _machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
    }


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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the SDK's runtime may abort at interpreter exit (sdk-python#300)


if __name__ == "__main__":
    cli()
