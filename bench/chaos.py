"""`make chaos`: N processes through the HTTP API while the worker, Temporal and an API process
are killed with SIGKILL, R rounds of each, at random moments; then what was lost, doubled,
mismatched or stuck is counted, per database, and printed as a Markdown table.

    .venv/bin/python -m bench.chaos --processes 1000 --rounds 10 --database sqlite,postgresql

Each run has its own stack, on free ports (never 7233/8233/8000): a file-backed Temporal dev
server, the worker (`worker.py`), two API processes (uvicorn), a local SMTP server counting
deliveries per e-mail key, and a fresh database (a SQLite file, or a new PostgreSQL database on
`--postgres-url`). The client drives each process as a careful client would (the same
Idempotency-Key again on a 5xx or a dropped connection, the next API). The exit status is 0
only when every count is 0. Results also go to bench/results/chaos.md and chaos.json.
"""

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.chaos_run import Options, Result, run, scratch
from bench.chaos_tally import markdown
from partnerflow.temporal import exit_command

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--processes", "-n", type=int, default=200)
    parser.add_argument("--rounds", "-r", type=int, default=3, help="kills of each part")
    parser.add_argument(
        "--database", default="sqlite", help="sqlite, postgresql, or both: sqlite,postgresql"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="processes driven at once")
    parser.add_argument("--apis", type=int, default=2, help="API processes")
    parser.add_argument("--seed", type=int, default=None, help="for the kills' moments")
    parser.add_argument("--stuck-after", type=float, default=600.0, metavar="SECONDS")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARTNERFLOW_TEST_DATABASE_URL") or DEFAULT_POSTGRES,
        help="a PostgreSQL server where the run may create (and drop) a database",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and the database")
    return parser.parse_args(argv)


def timings(results: list[Result]) -> str:
    names = [result.database for result in results]
    rows = [
        ("setup (stack up, partners, template)", "setup", "s"),
        ("load under chaos (all calls answered)", "load", "s"),
        ("quiet (until every driven process closed)", "quiet", "s"),
        ("counting", "check", "s"),
        ("total", "total", "s"),
        ("call latency p50 (with retries)", "calls p50", "s"),
        ("call latency p95", "calls p95", "s"),
        ("call latency max", "calls max", "s"),
    ]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, unit in rows:
        lines.append(
            f"| {label} | "
            + " | ".join(f"{r.seconds.get(key, 0):.1f} {unit}" for r in results)
            + " |"
        )
    for label, value in (
        ("processes/s under chaos", lambda r: f"{r.tally.processes / r.seconds['load']:.2f}"),
        ("kills: worker / Temporal / API", lambda r: _kills(r)),
        ("rounds done", lambda r: str(r.mayhem.rounds_done)),
        ("exits nobody asked for", lambda r: _counts(r.mayhem.unplanned_exits)),
        ("starts that failed (tried again)", lambda r: _counts(r.mayhem.failed_starts)),
        ("answers 503 / no answer (retried)", lambda r: f"{r.ledger.answers[503]} / "
                                                         f"{r.ledger.answers[0]}"),
    ):  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(value(r) for r in results) + " |")
    return "\n".join(lines)


def _kills(result: Result) -> str:
    kills = result.mayhem.kills
    return f"{kills['worker']} / {kills['Temporal']} / {kills['API']}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "0"


def report(results: list[Result], command: str, began: datetime) -> str:
    machine = (
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    )
    lines = [
        f"Command: `{command}`",
        "",
        f"Run {began:%Y-%m-%d %H:%M} UTC on {machine}, load average before: "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        markdown({result.database: result.tally for result in results}),
        "",
        timings(results),
    ]
    for result in results:
        problems = {k: v for k, v in result.tally.examples.items() if v}
        if problems:
            lines += ["", f"Examples ({result.database}):"]
            lines += [f"- {name}: {', '.join(found)}" for name, found in sorted(problems.items())]
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    args = arguments(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    command = shlex.join(["python", "-m", "bench.chaos", *argv])
    if args.seed is None:
        command += f" --seed {seed}"
    began = datetime.now(UTC)
    results: list[Result] = []
    for database in [name.strip() for name in args.database.split(",") if name.strip()]:
        if database not in ("sqlite", "postgresql"):
            print(f"unknown database {database!r}: sqlite or postgresql", file=sys.stderr)
            return 2
        options = Options(
            processes=args.processes,
            rounds=args.rounds,
            database=database,
            concurrency=args.concurrency,
            apis=args.apis,
            seed=seed,
            stuck_after=args.stuck_after,
            postgres_url=args.postgres_url,
            keep=args.keep,
        )
        directory = scratch(options)
        print(
            f"chaos on {database}: {args.processes} processes, {args.rounds} rounds "
            f"(logs in {directory})",
            flush=True,
        )
        result = await run(options, directory)
        results.append(result)
        print(report([result], command, began) + "\n", flush=True)
        kept = args.keep or result.tally.problems > 0
        if result.directory is not None:
            if kept:
                print(f"logs of the {database} run: {result.directory}", flush=True)
            else:
                shutil.rmtree(result.directory, ignore_errors=True)
    text = report(results, command, began)
    print(text, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chaos.md").write_text(text + "\n")
    (RESULTS / "chaos.json").write_text(
        json.dumps(
            {
                "command": command,
                "began": began.isoformat(),
                "runs": [
                    {
                        "database": r.database,
                        "counts": {k: v for k, v in asdict(r.tally).items() if k != "examples"},
                        "examples": r.tally.examples,
                        "seconds": r.seconds,
                        "kills": dict(r.mayhem.kills),
                        "unplanned_exits": dict(r.mayhem.unplanned_exits),
                        "failed_starts": dict(r.mayhem.failed_starts),
                        "answers": {str(k): v for k, v in r.ledger.answers.items()},
                        "failed_calls": dict(r.ledger.failed_calls),
                        "retried": dict(r.ledger.retried),
                        "events": r.mayhem.events,
                    }
                    for r in results
                ],
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(r.tally.problems == 0 for r in results) else 1


if __name__ == "__main__":
    try:
        code = asyncio.run(main(sys.argv[1:]))
    except BaseException:  # whatever broke, the exit below must still happen
        traceback.print_exc()
        code = 3
    exit_command(code)
