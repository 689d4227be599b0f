"""`python -m bench.lists`: the two lists issue 17 bounds, at 100,000 processes in the read model.

`make bench-scale` (bench/scale.py) opens its processes through Temporal, about 13 a second,
so 100,000 take two hours. This measures only the read model's side at that size, in minutes:
for each database (SQLite, then PostgreSQL when it answers), a fresh one, migrated, with the
admin, ~100 partners (a user and a token each) and the published templates of bench/data.py;
then N running processes written directly into the read model (bulk inserts, no workflow
runs: each an opportunity, a process of the one-step template and its one active partner
step, about 1 % of them overdue), one partner holding exactly `--per-partner` of the steps.
The API runs as a process of its own (uvicorn, as `make up`; it connects to an empty in-memory
Temporal dev server at start, which the lists never ask), and `GET /api/my/tasks` (as that
partner's user) and `GET /api/processes?overdue=true` (as the admin) are called alternately,
one at a time, each answer checked (200, the count written) so that a wrong one cannot look
fast. Results: bench/results/lists.{json,md}. Not in `make test`.
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bench.data import ONE_OPEN_STEP, PartnerRow, World, prepare
from bench.drive import percentile
from bench.scale import MY_TASKS_P95_MS, OVERDUE_P95_MS
from bench.stack import (
    api_args,
    free_port,
    machine,
    postgres_database,
    product_env,
    running,
    temporal_args,
)
from partnerflow.db import make_engine, session_scope, utcnow
from partnerflow.models import Opportunity, Process, ProcessStep

RESULTS = Path(__file__).resolve().parent / "results"
QUEUE = "bench-lists"  # no worker polls it: nothing is started
CHUNK = 5000  # rows per insert statement and transaction
OVERDUE_EVERY = 100  # every hundredth process (by start) has its step past its deadline
STARTED_WITHIN = timedelta(days=60)
MY_TASKS = "/api/my/tasks"
OVERDUE = "/api/processes?overdue=true"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lists", description=__doc__)
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="in order: sqlite, postgresql"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL server where a database may be made (and dropped after)",
    )
    parser.add_argument("--processes", type=int, default=100_000, help="running processes")
    parser.add_argument(
        "--per-partner", type=int, default=1000, help="open steps of the partner measured"
    )
    parser.add_argument("--samples", type=int, default=300, help="calls per endpoint, timed")
    parser.add_argument("--warmup", type=int, default=5, help="calls per endpoint, untimed")
    parser.add_argument("--seed", type=int, default=17, help="of the spread of times and partners")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where lists.{json,md} go")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown databases: {', '.join(sorted(unknown))}")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    args.per_partner = max(1, min(args.per_partner, args.processes))
    return args


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


@dataclass
class Written:
    """What went into the read model: what each list must count."""

    processes: int
    partner_steps: int
    overdue: int
    seconds: float


def main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="partnerflow-lists-"))
    logs = work / "logs"
    logs.mkdir()
    say(f"scratch directory {work}")
    databases: list[dict[str, Any]] = []
    try:
        with ExitStack() as exits:
            # The API connects to Temporal when it starts; the lists never ask it anything.
            temporal_cmd, temporal_port, _ = temporal_args(None)
            exits.enter_context(
                running("Temporal", temporal_cmd, {}, logs / "temporal.log", temporal_port)
            )
            address = f"127.0.0.1:{temporal_port}"
            for kind in args.databases:
                databases.append(_one_database(args, kind, work, address))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    about = machine()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": about["commit"],
        "machine": {
            **about,
            "load_average_start_end": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "args": {k: str(v) for k, v in vars(args).items()},
        "databases": databases,
        "runtime_s": round(time.perf_counter() - began, 1),
    }


def _one_database(args: argparse.Namespace, kind: str, work: Path, address: str) -> dict[str, Any]:
    say(f"{kind}:")
    with ExitStack() as exits:
        if kind == "sqlite":
            database_url = f"sqlite:///{work / 'partnerflow.db'}"
        else:
            made = postgres_database(args.postgres_url, "pf_lists", random_page_cost=1.1)
            try:
                database_url = exits.enter_context(made)
            except OperationalError as error:
                reason = str(error.orig or error).strip().splitlines()[0]
                say(f"  skipped: PostgreSQL did not answer ({reason})")
                return {"database": kind, "skipped": f"PostgreSQL did not answer: {reason}"}
        engine = make_engine(database_url)
        exits.callback(engine.dispose)
        partners = max(2, math.ceil((args.processes - args.per_partner) / args.per_partner) + 1)
        world = prepare(engine, partners)
        say(f"  migrated; the admin, {partners} partners and the templates written")
        written = write_processes(engine, world, args)
        say(
            f"  {written.processes:,} running processes written directly in "
            f"{written.seconds:.0f} s ({written.overdue:,} overdue)"
        )
        if kind == "postgresql":
            _vacuum_analyze(engine)
        api_port = free_port()
        env = product_env(database_url, address, QUEUE, work / f"documents-{kind}", api_port)
        log = work / "logs" / f"api-{kind}.log"
        exits.enter_context(running("API", api_args(api_port), env, log, api_port))
        endpoints = measure(f"http://127.0.0.1:{api_port}", world, written, args)
        for row in endpoints:
            say(f"  {row['endpoint']}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms")
        return {
            "database": kind,
            "processes": written.processes,
            "partners": partners,
            "write_s": round(written.seconds, 1),
            "endpoints": endpoints,
        }


def _vacuum_analyze(engine: Engine) -> None:
    """What autovacuum does within a minute or so of a bulk load: statistics for the planner
    and the visibility map for index-only scans. A database that grew to this size over
    weeks has both; one measured seconds after the load would not yet."""
    began = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    say(f"  VACUUM ANALYZE in {time.perf_counter() - began:.1f} s")


def write_processes(engine: Engine, world: World, args: argparse.Namespace) -> Written:
    """`args.processes` running processes of the one-step template, each with its customer
    case and its partner's active step, written straight into the tables in chunks: the
    rows the read-model activity would have written for a process just started (no workflow
    exists for any of them). `world.partners[0]` gets exactly `args.per_partner` steps, the
    others share the rest; every hundredth process, by start, is overdue."""
    began = time.perf_counter()
    rng = random.Random(args.seed)  # noqa: S311 (a reproducible spread, not a secret)
    now = utcnow()
    target, others = world.partners[0], world.partners[1:]
    assignees = [target] * args.per_partner + [
        others[n % len(others)] for n in range(args.processes - args.per_partner)
    ]
    rng.shuffle(assignees)
    # Oldest first, as the rows of a database that grew over the weeks lie.
    starts = sorted(now - STARTED_WITHIN * rng.random() for _ in range(args.processes))
    template = world.one_open_step
    step = template.steps[0]
    slot = ONE_OPEN_STEP[0]["assignee"]["slot"]
    contact = world.admin.user_id
    overdue = 0
    for first in range(0, args.processes, CHUNK):
        opportunities: list[dict[str, Any]] = []
        processes: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for n in range(first, min(first + CHUNK, args.processes)):
            started = starts[n]
            partner: PartnerRow = assignees[n]
            late = n % OVERDUE_EVERY == OVERDUE_EVERY - 1
            if late:  # its deadline passed between its start and now
                due = started + (now - started) * rng.uniform(0.2, 0.9)
                overdue += 1
            else:
                due = now + timedelta(hours=1) + timedelta(days=29) * rng.random()
            opportunity_id, process_id = uuid.uuid4(), uuid.uuid4()
            opportunities.append(_opportunity(opportunity_id, n, started))
            processes.append(
                {
                    "id": process_id, "template_id": template.template_id,
                    "template_version": template.version, "opportunity_id": opportunity_id,
                    "contact_user_id": contact, "partner_ids": [str(partner.id)],
                    "status": "running", "test": False, "started_at": started,
                    "completed_at": None, "cancel_reason": None, "next_due_at": due,
                    "timeline": [_started_entry(started)], "version": 1, "recorded_event": 5,
                    "attention": False, "attention_reason": None,
                }
            )  # fmt: skip
            steps.append(
                {
                    "id": uuid.uuid4(), "process_id": process_id, "position": 0,
                    "key": step.key, "name": step.name, "status": "active",
                    "assignee": {
                        "type": "partner_slot", "partner_id": str(partner.id),
                        "slot": slot,
                    },
                    "assignee_partner_id": partner.id, "assignee_user_id": None,
                    "activated_at": started, "completed_at": None, "completed_by": None,
                    "fields": {}, "due_at": due, "overdue": late, "late_probability": None,
                    "expected_done_at": None, "risk_basis": None, "risk_updated_at": None,
                    "reviewer_user_id": None, "review_rounds": 0, "submitted_at": None,
                }
            )  # fmt: skip
        with session_scope(engine) as session:
            session.execute(insert(Opportunity), opportunities)
            session.execute(insert(Process), processes)
            session.execute(insert(ProcessStep), steps)
    return Written(
        processes=args.processes,
        partner_steps=args.per_partner,
        overdue=overdue,
        seconds=time.perf_counter() - began,
    )


def _opportunity(opportunity_id: uuid.UUID, n: int, created: datetime) -> dict[str, Any]:
    """A customer case as bench/data.py writes it."""
    return {
        "id": opportunity_id,
        "title": f"PV-Anlage {n}",
        "customer": {
            "name": f"Kundin {n}",
            "email": f"kundin-{n}@customer.example.com",
            "phone": "+49 221 555 0100",
            "address": {"street": "Lindenweg 4", "postal_code": "50667", "city": "Köln"},
        },
        "product": "pv",
        "attributes": {},
        "test": False,
        "created_at": created,
        "updated_at": created,
        "erased_at": None,
        "erased_by": None,
        "erasing_since": None,
    }


def _started_entry(started: datetime) -> dict[str, Any]:
    """The timeline's one entry of a process just started (workflows/messages.py TimelineEntry)."""
    return {
        "at": started.isoformat(), "event": "process_started", "step_key": None,
        "user_id": None, "detail": None, "note_id": None,
    }  # fmt: skip


def measure(
    base_url: str, world: World, written: Written, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Both lists, alternately and one call at a time over one kept-alive connection: first
    `args.warmup` untimed calls of each, then `args.samples` timed. Every answer must be 200
    and count what was written."""
    calls = [
        (MY_TASKS, world.partners[0].token, written.partner_steps, MY_TASKS_P95_MS),
        (OVERDUE, world.admin_token, written.overdue, OVERDUE_P95_MS),
    ]
    timings: dict[str, list[float]] = {path: [] for path, *_ in calls}
    with httpx.Client(base_url=base_url, timeout=60) as http:

        def call(path: str, token: str, expected: int) -> float:
            before = time.perf_counter()
            response = http.get(path, headers={"Authorization": f"Bearer {token}"})
            seconds = time.perf_counter() - before
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.text}")
            body = response.json()
            if body["count"] != expected or len(body["data"]) != min(expected, 50):
                raise SystemExit(
                    f"{path} counted {body['count']} with {len(body['data'])} rows; "
                    f"{expected} were written"
                )
            return seconds

        for _ in range(args.warmup):
            for path, token, expected, _target in calls:
                call(path, token, expected)
        for _ in range(args.samples):
            for path, token, expected, _target in calls:
                timings[path].append(call(path, token, expected))
    rows = []
    for path, _token, expected, target in calls:
        p95 = _ms(timings[path], 95)
        rows.append(
            {
                "endpoint": f"GET {path}",
                "listed": expected,
                "of": written.processes,
                "samples": len(timings[path]),
                "p50_ms": _ms(timings[path], 50),
                "p95_ms": p95,
                "target_p95_ms": target,
                "met": p95 <= target,
                "by_ms": round(abs(target - p95), 1),
            }
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| database | endpoint | rows listed | samples | p50 ms | p95 ms | target | met |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for database in result["databases"]:
        if "skipped" in database:
            lines.append(f"| {database['database']} | skipped: {database['skipped']} | | | | | | |")
            continue
        for row in database["endpoints"]:
            met = (
                f"met (by {row['by_ms']:g} ms)"
                if row["met"]
                else f"**missed** by {row['by_ms']:g} ms"
            )
            lines.append(
                f"| {database['database']} | `{row['endpoint']}` | {row['listed']:,} of "
                f"{row['of']:,} | {row['samples']} | {row['p50_ms']} | {row['p95_ms']} | "
                f"p95 ≤ {row['target_p95_ms']} ms | {met} |"
            )
    return "\n".join(lines)


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "lists.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    machine = result["machine"]
    args = result["args"]
    processes = int(args["processes"])
    header = [
        "# The two lists at scale, read model written directly: latest `python -m bench.lists`",
        "",
        f"- date: {result['date']}, commit {result['commit']}, runtime {result['runtime_s']:.0f} s",
        f"- machine: {machine['nproc']} CPUs, {machine['memory_gb']} GB, Python "
        f"{machine['python']}, {machine['platform']}; load average (1 min) at start / end: "
        f"{machine['load_average_start_end']}",
        f"- written directly into the read model, not through Temporal (no workflow runs): "
        f"{processes:,} running processes of a one-step template, each with its opportunity "
        f"and its one active partner step (deadline in the next 30 days; every "
        f"{OVERDUE_EVERY}th overdue, its deadline past), started over the last 60 days; "
        f"one partner holds {int(args['per_partner']):,} of the steps, ~100 partners the "
        "rest. PostgreSQL: VACUUM ANALYZE after writing (autovacuum's work after a bulk "
        "load); SQLite: no statistics, as migrated.",
        "- measured through HTTP against the API (uvicorn, a process of its own, connected to "
        "an empty in-memory Temporal dev server): the two lists alternately, one call at a "
        f"time, first page (50 rows), {args['warmup']} untimed calls each first; every "
        "answer checked (200, its count equals the rows written).",
        "",
    ]
    (out / "lists.md").write_text("\n".join(header) + "\n" + markdown(result) + "\n")


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = main(args)
    write(result, args.out)
    print(markdown(result), flush=True)
    say(f"runtime {result['runtime_s']:.0f} s; results in {args.out}/lists.{{json,md}}")


if __name__ == "__main__":
    cli()
