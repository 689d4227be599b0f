"""Driving processes: the bare baseline (bench/bare.py) and the product through its HTTP API.

Each driver runs one process from its start to its closed workflow and answers how long the
start and each completion took. `measure` runs many of them at a given concurrency.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from temporalio.client import Client

from bench.bare import STEPS, BareInput, BareProcessWorkflow
from bench.data import PARTNER_STEP, STEP_KEYS, World
from workflows.partner_process import workflow_id_for


@dataclass
class Timing:
    """One process: its start, each completion, and the whole (until the workflow closed)."""

    start: float
    completions: list[float]
    total: float


Driver = Callable[[], Awaitable[Timing]]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Run:
    mode: str
    concurrency: int
    processes: int
    wall_s: float
    round: int = 0  # 0: all rounds pooled
    starts: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)
    by_step: list[list[float]] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    temporal_requests: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.processes / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, Any]:
        ms = 1000
        return {
            "mode": self.mode,
            "round": self.round,
            "concurrency": self.concurrency,
            "processes": self.processes,
            "wall_s": round(self.wall_s, 3),
            "processes_per_s": round(self.per_second, 2),
            "start_p50_ms": round(percentile(self.starts, 50) * ms, 1),
            "complete_p50_ms": round(percentile(self.completions, 50) * ms, 1),
            "complete_p95_ms": round(percentile(self.completions, 95) * ms, 1),
            "complete_p50_ms_by_step": [round(percentile(s, 50) * ms, 1) for s in self.by_step],
            "cpu_ms_per_process": {
                name: round(seconds / self.processes * ms, 1)
                for name, seconds in self.cpu_s.items()
            },
            "temporal_requests_per_process": {
                key: round(n / self.processes, 2)
                for key, n in sorted(self.temporal_requests.items())
                if n
            },
        }


async def measure(
    mode: str,
    driver: Driver,
    processes: int,
    concurrency: int,
    cpu: Callable[[], dict[str, float]],
    requests: Callable[[], dict[str, float]] = dict,
) -> Run:
    """`processes` runs of `driver`, at most `concurrency` at a time; CPU per component."""
    gate = asyncio.Semaphore(concurrency)
    timings: list[Timing] = []

    async def one() -> None:
        async with gate:
            timings.append(await driver())

    # The dev server publishes its counters about once a second: let them settle.
    settle = 2.5 if requests is not dict else 0
    await asyncio.sleep(settle)
    requests_before = requests()
    cpu_before = cpu()
    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(processes)))
    wall = time.perf_counter() - began
    cpu_after = cpu()
    await asyncio.sleep(settle)
    requests_after = requests()
    return Run(
        mode=mode,
        concurrency=concurrency,
        processes=processes,
        wall_s=wall,
        starts=[t.start for t in timings],
        completions=[c for t in timings for c in t.completions],
        by_step=[list(step) for step in zip(*(t.completions for t in timings), strict=True)],
        cpu_s={name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after},
        temporal_requests={
            key: requests_after[key] - requests_before.get(key, 0.0) for key in requests_after
        },
    )


def pooled(runs: list[Run]) -> Run:
    """Runs of one mode and concurrency (rounds) as one: processes and wall times added."""
    first = runs[0]
    cpu: dict[str, float] = {}
    requests: dict[str, float] = {}
    for run in runs:
        for name, value in run.cpu_s.items():
            cpu[name] = cpu.get(name, 0.0) + value
        for name, value in run.temporal_requests.items():
            requests[name] = requests.get(name, 0.0) + value
    return Run(
        mode=first.mode,
        concurrency=first.concurrency,
        processes=sum(run.processes for run in runs),
        wall_s=sum(run.wall_s for run in runs),
        starts=[t for run in runs for t in run.starts],
        completions=[t for run in runs for t in run.completions],
        by_step=[[t for run in runs for t in run.by_step[n]] for n in range(len(first.by_step))],
        cpu_s=cpu,
        temporal_requests=requests,
    )


def _round_robin(items: list[Any]) -> Iterator[Any]:
    for n in count():
        yield items[n % len(items)]


# the baseline ---------------------------------------------------------------------------


def bare_driver(
    client: Client, task_queue: str, *, upsert: bool = False, pad: int = 0, gap: float = 0.0
) -> Driver:
    """A plain start, then three updates each running one activity, until the workflow closed.
    `gap`: a pause before each update (not timed), as a caller's own work would make."""

    async def drive() -> Timing:
        began = time.perf_counter()
        handle = await client.start_workflow(
            BareProcessWorkflow.run,
            BareInput(upsert_search_attributes=upsert, pad_bytes=pad),
            id=f"bare-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        started = time.perf_counter()
        completions = []
        for step in range(STEPS):
            await asyncio.sleep(gap)
            before = time.perf_counter()
            await handle.execute_update(BareProcessWorkflow.complete, step)
            completions.append(time.perf_counter() - before)
        await handle.result()
        return Timing(started - began, completions, time.perf_counter() - began)

    return drive


# the product ----------------------------------------------------------------------------


def api_driver(
    http: httpx.AsyncClient,
    client: Client,
    world: World,
    opportunities: Iterator[uuid.UUID],
    started_ids: list[str],
    gap: float = 0.0,
) -> Driver:
    """Start and three completions over HTTP (the partner's step with the partner's token);
    the process counts as done when its workflow closed, its e-mails in the outbox. `gap`:
    a pause before each completion (not timed)."""
    partners = _round_robin(world.partners)
    admin = {"Authorization": f"Bearer {world.admin_token}"}

    async def drive() -> Timing:
        partner = next(partners)
        began = time.perf_counter()
        response = await http.post(
            "/api/processes",
            json={
                "template_id": str(world.three_steps.template_id),
                "opportunity_id": str(next(opportunities)),
                "partners": {"installer": str(partner.id)},
            },
            headers=admin,
        )
        if response.status_code != 201:
            raise RuntimeError(f"start answered {response.status_code}: {response.text}")
        started = time.perf_counter()
        process_id = response.json()["id"]
        started_ids.append(process_id)
        completions = []
        for key in STEP_KEYS:
            headers = {"Authorization": f"Bearer {partner.token}"} if key == PARTNER_STEP else admin
            await asyncio.sleep(gap)
            before = time.perf_counter()
            response = await http.post(
                f"/api/processes/{process_id}/steps/{key}/complete", json={}, headers=headers
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"complete {key} answered {response.status_code}: {response.text}"
                )
            completions.append(time.perf_counter() - before)
        await client.get_workflow_handle(workflow_id_for(process_id)).result()
        return Timing(started - began, completions, time.perf_counter() - began)

    return drive
