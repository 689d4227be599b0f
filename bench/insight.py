"""`python -m bench.insight`: how fast a partner's scorecard answers over 10,000 completions.

Seeds a fresh, migrated database (SQLite in a scratch directory; PostgreSQL too with
`--postgres-url` or PARTNERFLOW_TEST_DATABASE_URL) with one partner's 10,000 completed steps
over the last twelve months, as many of other partners', and open steps; then times N
scorecards of the default period through the service (`scorecards.scorecard`, a session
each) and through HTTP (`GET /api/partners/{id}/scorecard`, the app in this process over
httpx's ASGITransport), and prints p50/p95 in milliseconds. `make bench` runs it too
(bench/run.py) and prints its table after the throughput tables.
"""

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.main import create_app
from bench.stack import postgres_database
from partnerflow import scorecards
from partnerflow.auth import issue_token
from partnerflow.db import make_engine
from partnerflow.migrate import upgrade
from partnerflow.models import Opportunity, Partner, Process, ProcessStep, ProcessTemplate, User
from partnerflow.settings import Settings

TIMEZONE = "Europe/Berlin"
STEP_KEYS = ("survey", "installation", "grid_registration", "handover")
PROCESS: Table = Process.__table__  # type: ignore[attr-defined]
PROCESS_STEP: Table = ProcessStep.__table__  # type: ignore[attr-defined]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.insight", description=__doc__)
    parser.add_argument("--completions", type=int, default=10_000, help="the partner's")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per way")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARTNERFLOW_TEST_DATABASE_URL"),
        help="a PostgreSQL server to create a scratch database on (default: "
        "PARTNERFLOW_TEST_DATABASE_URL); without it, SQLite only",
    )
    return parser.parse_args(argv)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def seed(engine: Engine, completions: int, now: datetime) -> tuple[uuid.UUID, str]:
    """The measured partner's completions, as many of four other partners', and 200 open
    steps; answers the partner's id and an admin's token."""
    with Session(engine) as session:
        admin = User(name="Admin", email="admin@example.com", role="admin")
        partners = [
            Partner(name=f"Partner {n}", email=f"p{n}@example.com", status="active")
            for n in range(5)
        ]
        opportunity = Opportunity(title="PV")
        session.add_all([admin, opportunity, *partners])
        session.flush()
        templates = [
            ProcessTemplate(name=f"Template {n}", contact_user_id=admin.id) for n in range(3)
        ]
        session.add_all(templates)
        session.flush()
        token = issue_token(session, admin.id)
        ids = {
            "admin": admin.id,
            "opportunity": opportunity.id,
            "templates": [t.id for t in templates],
            "partners": [p.id for p in partners],
        }
        session.commit()
    measured = ids["partners"][0]
    shares = {measured: completions} | {p: completions // 4 for p in ids["partners"][1:]}
    span = timedelta(days=365).total_seconds()
    with engine.begin() as connection:
        n = 0
        for partner_id, count in shares.items():
            processes, steps = [], []
            for i in range(0, count + 200 // len(shares), len(STEP_KEYS)):
                process_id = uuid.uuid4()
                started = now - timedelta(seconds=span * ((n * 7919) % 1000) / 1000)
                n += 1
                processes.append(
                    {
                        "id": process_id,
                        "template_id": ids["templates"][n % 3],
                        "template_version": 1,
                        "opportunity_id": ids["opportunity"],
                        "contact_user_id": ids["admin"],
                        "partner_ids": [str(partner_id)],
                        "status": "running",
                        "test": False,
                        "started_at": started,
                        "timeline": [],
                        "version": 1,
                        "attention": False,
                    }
                )
                at = started
                for position, key in enumerate(STEP_KEYS):
                    took = timedelta(hours=2 + (n * 31 + position * 17) % 150)
                    done = i + position < count and at + took < now
                    steps.append(
                        {
                            "id": uuid.uuid4(),
                            "process_id": process_id,
                            "position": position,
                            "key": key,
                            "name": key.replace("_", " ").capitalize(),
                            "status": "completed" if done else "active",
                            "assignee": {"type": "partner", "partner_id": str(partner_id)},
                            "assignee_partner_id": partner_id,
                            "activated_at": at,
                            "completed_at": at + took if done else None,
                            "completed_by": None,
                            "fields": {},
                            "due_at": at + timedelta(hours=72) if position % 4 else None,
                            "overdue": False,
                        }
                    )
                    if not done:
                        break
                    at += took
            connection.execute(PROCESS.insert(), processes)
            connection.execute(PROCESS_STEP.insert(), steps)
    return measured, token


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def time_service(engine: Engine, partner_id: uuid.UUID, calls: int, now: datetime) -> list[float]:
    asked = scorecards.period(None, None, TIMEZONE, now)
    samples = []
    for n in range(calls + 3):  # three untimed: warm caches and statements
        started = time.perf_counter()
        with Session(engine) as session:
            partner = session.get(Partner, partner_id)
            assert partner is not None
            card = scorecards.scorecard(session, partner, asked, now)
        if n >= 3:
            samples.append((time.perf_counter() - started) * 1000)
    assert card.steps_completed > 0
    return samples


async def time_http(
    database_url: str, partner_id: uuid.UUID, token: str, calls: int
) -> list[float]:
    settings = Settings(database_url=database_url, default_timezone=TIMEZONE)
    # The scorecard never calls Temporal: the app gets no client (nothing connects).
    app = create_app(settings, temporal=cast(Client, object()))
    samples = []
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
    ):
        for n in range(calls + 3):
            started = time.perf_counter()
            response = await http.get(f"/api/partners/{partner_id}/scorecard")
            if n >= 3:
                samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return samples


def measure(database: str, database_url: str, completions: int, calls: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        began = time.perf_counter()
        partner_id, token = seed(engine, completions, now)
        say(f"{database}: seeded in {time.perf_counter() - began:.1f} s")
        service = time_service(engine, partner_id, calls, now)
    finally:
        engine.dispose()
    http = asyncio.run(time_http(database_url, partner_id, token, calls))
    return {
        "database": database,
        "completions": completions,
        "calls": calls,
        "service_ms": percentiles(service),
        "http_ms": percentiles(http),
    }


def run(completions: int, calls: int, postgres_url: str | None) -> list[dict[str, Any]]:
    """One result per database: SQLite, and PostgreSQL when a server is given."""
    results = []
    work = Path(tempfile.mkdtemp(prefix="partnerflow-insight-"))
    try:
        url = f"sqlite:///{work / 'insight.db'}"
        results.append(measure("SQLite", url, completions, calls))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if postgres_url:
        with postgres_database(postgres_url, "pf_bench_insight") as url:
            results.append(measure("PostgreSQL", url, completions, calls))
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scorecard (default period) | completions | calls | service p50 / p95 ms "
        "| HTTP p50 / p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        service, http = r["service_ms"], r["http_ms"]
        lines.append(
            f"| {r['database']} | {r['completions']} | {r['calls']} | "
            f"{service['p50']} / {service['p95']} | {http['p50']} / {http['p95']} |"
        )
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(table(run(args.completions, args.calls, args.postgres_url)), flush=True)


if __name__ == "__main__":
    cli()
