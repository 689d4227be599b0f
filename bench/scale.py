"""`make bench-scale` (`python -m bench.scale`): many open processes on one machine, what they cost.

On a stack of its own (file-backed dev server as `make up`, SQLite, the worker, the API):
opens N processes (default 100,000) of a one-step template, the partner's step with a
deadline 30 days out (an armed timer), through `partnerflow.starting.launch` (the path
`POST /api/processes` takes), as fast as the product takes them. Then a few processes whose
reminder and deadline fire while `GET /api/my/tasks` and `GET /api/processes?overdue=true`
are measured; how late each of those fired; and how long a restarted worker takes until
steps can be completed again. Results: bench/results/scale.{json,md}. Not in `make test`.
"""

import argparse
import asyncio
import json
import math
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from bench.data import PartnerRow, opportunities, prepare
from bench.drive import percentile
from bench.stack import (
    commit,
    cpu_seconds,
    memory,
    running,
    start_product,
    stop,
    worker_args,
)
from partnerflow import starting
from partnerflow.db import make_engine
from partnerflow.models import OutboxEmail, ProcessStep
from partnerflow.settings import Settings
from partnerflow.spec import TemplateSnapshot
from partnerflow.temporal import connect, exit_command

RESULTS = Path(__file__).resolve().parent / "results"
QUEUE = "bench-scale"
# Issue 17's targets at that size.
RSS_MB = 300
MY_TASKS_P95_MS = 20
OVERDUE_P95_MS = 50
LATE_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--processes", type=int, default=100_000, help="open processes")
    parser.add_argument(
        "--per-partner", type=int, default=1000, help="open steps of the partner measured"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="starts in flight")
    parser.add_argument(
        "--reminders", type=int, default=100, help="processes whose timers fire meanwhile"
    )
    parser.add_argument(
        "--reminder-after", type=int, default=30, help="s from a step's start to its reminder"
    )
    parser.add_argument(
        "--overdue-after", type=int, default=60, help="s from a step's start to its deadline"
    )
    parser.add_argument("--samples", type=int, default=200, help="at least, per endpoint")
    parser.add_argument(
        "--resume-sample", type=int, default=20, help="steps completed after the restart"
    )
    parser.add_argument(
        "--resume-timeout", type=float, default=300, help="s to wait for each of them"
    )
    parser.add_argument("--temporal-db", choices=["file", "memory"], default="file")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where scale.{json,md} go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if not 0 < args.reminder_after < args.overdue_after:
        parser.error("0 < --reminder-after < --overdue-after")
    args.per_partner = min(args.per_partner, args.processes)
    return args


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="partnerflow-scale-"))
    say(f"scratch directory {work}")
    try:
        with ExitStack() as exits:
            result = await _scale(args, work, exits)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["runtime_s"] = round(time.perf_counter() - began, 1)
    return result


async def _scale(args: argparse.Namespace, work: Path, exits: ExitStack) -> dict[str, Any]:
    partners = max(2, math.ceil(args.processes / args.per_partner) + 1)
    prepared: dict[str, Any] = {}

    def seed(database_url: str) -> None:
        engine = make_engine(database_url)
        prepared["engine"] = engine
        prepared["world"] = prepare(engine, partners, (args.reminder_after, args.overdue_after))
        say(f"writing {args.processes + args.reminders:,} opportunities")
        prepared["opportunities"] = opportunities(engine, args.processes + args.reminders)

    product = start_product(exits, work, args.temporal_db, QUEUE, seed)
    engine, world = prepared["engine"], prepared["world"]
    exits.callback(engine.dispose)
    settings = Settings(
        database_url=product.database_url, temporal_address=product.address, task_queue=QUEUE
    )
    client = await connect(settings)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{product.api_port}", timeout=120)
    target, others = world.partners[0], world.partners[1:]
    worker_pid = product.worker.pid
    ids = iter(prepared["opportunities"])

    async def launch(snapshot: TemplateSnapshot, partner: PartnerRow) -> uuid.UUID:
        process_id = uuid.uuid4()
        with Session(engine) as session:
            process = await starting.launch(
                session, client, settings,
                process_id=process_id, snapshot=snapshot, opportunity_id=next(ids),
                contact_user_id=world.admin.user_id, partners={"installer": partner.id},
                test=False,
            )  # fmt: skip
        if process is None:
            raise RuntimeError(f"process {process_id} was not recorded")
        return process_id

    # 1. Open the processes, as fast as the product takes them.
    gate = asyncio.Semaphore(args.concurrency)
    target_ids: list[uuid.UUID] = []
    every = max(500, args.processes // 20)
    opened = 0
    say(f"opening {args.processes:,} processes, {args.per_partner:,} of them one partner's")

    async def open_one(n: int) -> None:
        nonlocal opened
        partner = target if n < args.per_partner else others[n % len(others)]
        async with gate:
            process_id = await launch(world.one_open_step, partner)
        if partner is target:
            target_ids.append(process_id)
        opened += 1
        if opened % every == 0:
            rss = memory(worker_pid)["VmRSS"]
            say(f"  {opened:,} open, {time.perf_counter() - began:.0f} s, worker RSS {rss:.0f} MB")

    parts = {"temporal": product.temporal.pid, "worker": worker_pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in parts.items()}
    cpu_before["starter"] = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(open_one(n) for n in range(args.processes)))
    open_s = time.perf_counter() - began
    cpu_after = {name: cpu_seconds(pid) for name, pid in parts.items()}
    cpu_after["starter"] = time.process_time()
    cpu_ms = {
        name: round((cpu_after[name] - cpu_before[name]) * 1000 / args.processes, 1)
        for name in cpu_before
    }
    say(f"CPU ms per start: {cpu_ms}")
    say(f"opened {args.processes:,} in {open_s:.0f} s ({args.processes / open_s:.1f}/s)")
    waited = time.perf_counter()
    await _until(lambda: _count(engine, "handover") >= args.processes, max(300, open_s))
    settle_s = time.perf_counter() - waited
    say(f"hand-over e-mails all written {settle_s:.1f} s after the last start")
    rss_open = memory(worker_pid)

    # 2. Processes whose reminder and deadline fire while the two lists are measured.
    reminded = [
        await launch(world.reminded_step, others[n % len(others)]) for n in range(args.reminders)
    ]
    fire_by = time.monotonic() + args.overdue_after + 5
    say(
        f"{args.reminders} processes with a reminder after {args.reminder_after} s and a "
        f"deadline after {args.overdue_after} s; measuring the lists until they fired"
    )
    as_partner = {"Authorization": f"Bearer {target.token}"}
    as_admin = {"Authorization": f"Bearer {world.admin_token}"}
    my_tasks: list[float] = []
    overdue: list[float] = []
    counts: dict[str, int] = {}
    peak_rss = rss_open["VmHWM"]

    async def timed(path: str, headers: dict[str, str], into: list[float]) -> None:
        before = time.perf_counter()
        response = await http.get(path, headers=headers)
        into.append(time.perf_counter() - before)
        response.raise_for_status()
        counts[path] = int(response.json()["count"])

    for path, headers in (("/api/my/tasks", as_partner), ("/api/processes?overdue=true", as_admin)):
        for _ in range(3):  # warm caches and the connection
            await timed(path, headers, [])
    while min(len(my_tasks), len(overdue)) < args.samples or time.monotonic() < fire_by:
        await timed("/api/my/tasks", as_partner, my_tasks)
        await timed("/api/processes?overdue=true", as_admin, overdue)
        peak_rss = max(peak_rss, memory(worker_pid)["VmHWM"])
    lateness = _lateness(engine, reminded, args.overdue_after - args.reminder_after)

    # 3. Restart the worker; how long until completing a step works again.
    stopping = time.perf_counter()
    stop(product.worker)
    stopped_s = time.perf_counter() - stopping
    restarted = time.perf_counter()
    worker = exits.enter_context(
        running("worker", worker_args(), product.env, work / "logs" / "worker-restarted.log")
    )
    sample = random.sample(target_ids, min(args.resume_sample, len(target_ids)))
    results = await asyncio.gather(
        *(
            _complete_when_back(http, process_id, as_partner, restarted, args.resume_timeout)
            for process_id in sample
        )
    )
    answered = [seconds for seconds in results if seconds is not None]
    say(
        f"after the restart: {len(answered)}/{len(sample)} steps completed, the last after "
        f"{max(answered, default=0):.1f} s"
    )
    rss_after = memory(worker.pid)
    await http.aclose()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "temporal": f"{args.temporal_db}-backed dev server",
        "args": {k: str(v) for k, v in vars(args).items()},
        "open_processes": args.processes + args.reminders - len(answered),
        "partner_open_steps": counts.get("/api/my/tasks", 0),
        "overdue_listed": counts.get("/api/processes?overdue=true", 0),
        "open_s": round(open_s, 1),
        "start_per_s": round(args.processes / open_s, 1),
        "start_cpu_ms": cpu_ms,
        "emails_settled_s": round(settle_s, 1),
        "worker_rss_mb_after_open": round(rss_open["VmRSS"], 1),
        "worker_peak_rss_mb": round(peak_rss, 1),
        "my_tasks_samples": len(my_tasks),
        "my_tasks_p50_ms": _ms(my_tasks, 50),
        "my_tasks_p95_ms": _ms(my_tasks, 95),
        "overdue_samples": len(overdue),
        "overdue_p50_ms": _ms(overdue, 50),
        "overdue_p95_ms": _ms(overdue, 95),
        **lateness,
        "worker_stop_s": round(stopped_s, 1),
        "resume_first_s": round(min(answered, default=0), 2),
        "resume_s": round(max(answered, default=0), 2),
        "resume_sample": len(sample),
        "resumed": len(answered),
        "worker_rss_mb_after_resume": round(rss_after["VmRSS"], 1),
    }


async def _until(check: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        if check():
            return
        await asyncio.sleep(0.5)


def _count(engine: Any, kind: str) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == kind)
        ).one()


def _lateness(engine: Any, process_ids: list[uuid.UUID], before_s: int) -> dict[str, Any]:
    """How late each reminder and overdue e-mail was written, after the moment it was due
    (the step's deadline, less the reminder's offset for a reminder)."""
    with Session(engine) as session:
        due = {
            step.process_id: step.due_at
            for step in session.exec(
                select(ProcessStep).where(col(ProcessStep.process_id).in_(process_ids))
            )
        }
        emails = session.exec(
            select(OutboxEmail).where(
                col(OutboxEmail.process_id).in_(process_ids),
                col(OutboxEmail.kind).in_(["reminder", "overdue"]),
            )
        ).all()
    late: dict[str, list[float]] = {"reminder": [], "overdue": []}
    for email in emails:
        due_at = due.get(email.process_id) if email.process_id else None
        if due_at is None:
            continue
        if email.kind == "reminder":
            due_at -= timedelta(seconds=before_s)
        late[email.kind].append((email.created_at - due_at).total_seconds())
    out: dict[str, Any] = {"timers_armed": len(process_ids)}
    for kind, values in late.items():
        out[f"{kind}_fired"] = len(values)
        out[f"{kind}_late_p50_s"] = round(percentile(values, 50), 2)
        out[f"{kind}_late_max_s"] = round(max(values, default=0), 2)
        out[f"{kind}_late_over_1s"] = sum(1 for v in values if v > LATE_S)
    return out


async def _complete_when_back(
    http: httpx.AsyncClient,
    process_id: uuid.UUID,
    headers: dict[str, str],
    since: float,
    patience: float,
) -> float | None:
    """Complete the partner's step, again until it works; seconds from `since` until then,
    None when it did not within `patience`."""
    path = f"/api/processes/{process_id}/steps/installation/complete"
    while time.perf_counter() - since < patience:
        try:
            response = await http.post(path, json={}, headers=headers, timeout=patience)
            if response.status_code == 200:
                return time.perf_counter() - since
        except httpx.TimeoutException:
            pass
        await asyncio.sleep(0.2)
    return None


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    def row(target: str, measured: float, limit: float) -> dict[str, Any]:
        return {
            "target": target,
            "measured": measured,
            "met": measured <= limit,
            "by": round(abs(limit - measured), 2),
        }

    reminders_late = result["reminder_late_over_1s"] + result["overdue_late_over_1s"]
    return [
        row(f"worker RSS ≤ {RSS_MB} MB (peak)", result["worker_peak_rss_mb"], RSS_MB),
        row(
            f"GET /api/my/tasks p95 ≤ {MY_TASKS_P95_MS} ms",
            result["my_tasks_p95_ms"],
            MY_TASKS_P95_MS,
        ),
        row(
            f"GET /api/processes?overdue=true p95 ≤ {OVERDUE_P95_MS} ms",
            result["overdue_p95_ms"],
            OVERDUE_P95_MS,
        ),
        row("reminders and deadlines late by more than 1 s: none", reminders_late, 0),
    ]


def markdown(result: dict[str, Any]) -> str:
    def mark(row: dict[str, Any]) -> str:
        return f"met (by {row['by']:g})" if row["met"] else f"**missed** by {row['by']:g}"

    t = {row["target"]: row for row in result["targets"]}
    rows = list(t.values())
    r = result
    cpu = r["start_cpu_ms"]
    lines = [
        "| measurement | value | target | met |",
        "|---|---:|---|---|",
        f"| open processes (armed deadline timers) | {r['open_processes']:,} | | |",
        f"| start rate through `starting.launch`, {r['args']['concurrency']} in flight | "
        f"{r['start_per_s']}/s ({r['open_s']:.0f} s) | | |",
        f"| CPU ms per start: Temporal / worker / starter (this process) | "
        f"{cpu['temporal']} / {cpu['worker']} / {cpu['starter']} | | |",
        f"| worker RSS after opening / peak MB | {r['worker_rss_mb_after_open']:.0f} / "
        f"{r['worker_peak_rss_mb']:.0f} | ≤ {RSS_MB} | {mark(rows[0])} |",
        f"| GET /api/my/tasks p50 / p95 ms ({r['partner_open_steps']:,} open steps, "
        f"{r['my_tasks_samples']} samples) | {r['my_tasks_p50_ms']} / {r['my_tasks_p95_ms']} "
        f"| p95 ≤ {MY_TASKS_P95_MS} | {mark(rows[1])} |",
        f"| GET /api/processes?overdue=true p50 / p95 ms ({r['overdue_listed']:,} overdue, "
        f"{r['overdue_samples']} samples) | {r['overdue_p50_ms']} / {r['overdue_p95_ms']} "
        f"| p95 ≤ {OVERDUE_P95_MS} | {mark(rows[2])} |",
        f"| reminders fired / late > 1 s (p50, max s) | {r['reminder_fired']}/"
        f"{r['timers_armed']} / {r['reminder_late_over_1s']} ({r['reminder_late_p50_s']}, "
        f"{r['reminder_late_max_s']}) | none late | {mark(rows[3])} |",
        f"| deadlines passed (overdue e-mail) / late > 1 s (p50, max s) | "
        f"{r['overdue_fired']}/{r['timers_armed']} / {r['overdue_late_over_1s']} "
        f"({r['overdue_late_p50_s']}, {r['overdue_late_max_s']}) | none late | |",
        f"| worker restart: stop s; until the first / last of {r['resumed']}/"
        f"{r['resume_sample']} step completions answered s | {r['worker_stop_s']}; "
        f"{r['resume_first_s']} / {r['resume_s']} | all answer | "
        f"{'met' if r['resumed'] == r['resume_sample'] else '**missed**'} |",
        f"| worker RSS MB after the restart | {r['worker_rss_mb_after_resume']:.0f} | | |",
    ]
    return "\n".join(lines)


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    header = [
        "# Partnerflow at scale: latest `make bench-scale`",
        "",
        f"- date: {result['date']}, commit {result['commit']}, "
        f"runtime {result['runtime_s']:.0f} s, "
        f"{result['temporal']}, SQLite, worker and API processes of their own",
        f"- {result['args']['processes']} processes of a one-step template (the partner's "
        "step, deadline P30D: an armed timer) opened through `partnerflow.starting.launch`, "
        f"then {result['args']['reminders']} whose reminder ({result['args']['reminder_after']}"
        f" s) and deadline ({result['args']['overdue_after']} s) fire while both lists are "
        "measured; late = when the e-mail's row was written, after the moment it was due. "
        "Resume: the worker stopped (SIGINT) and started again, then the partner's step of a "
        "sample of open processes completed through the API, retried until it answers.",
        "",
    ]
    (out / "scale.md").write_text("\n".join(header) + markdown(result) + "\n")


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(main(args))
    result["targets"] = targets(result)
    write(result, args.out)
    print(markdown(result), flush=True)
    exit_command(0)


if __name__ == "__main__":
    cli()
