"""(d) Scale: many open processes, each with an armed deadline timer; what that costs."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import Client

from bench.data import World
from bench.drive import percentile, process_operation, start_process
from bench.stack import memory


@dataclass
class ScaleResult:
    processes: int
    per_partner: int
    create_s: float
    worker_peak_rss_mb: float
    worker_rss_mb: float
    my_tasks_count: int
    my_tasks: list[float] = field(default_factory=list)
    visibility_list: list[float] = field(default_factory=list)
    visibility_count: list[float] = field(default_factory=list)
    visibility_rows: int = 0
    visibility_wait_s: float = 0.0
    query: str = ""

    def summary(self) -> dict[str, Any]:
        ms = 1000

        def p(values: list[float], q: float) -> float:
            return round(percentile(values, q) * ms, 1)

        return {
            "open_processes": self.processes,
            "partner_open_steps": self.per_partner,
            "create_s": round(self.create_s, 1),
            "create_per_s": round(self.processes / self.create_s, 1) if self.create_s else 0,
            "worker_peak_rss_mb": round(self.worker_peak_rss_mb, 1),
            "worker_rss_mb_after": round(self.worker_rss_mb, 1),
            "my_tasks_count": self.my_tasks_count,
            "my_tasks_samples": len(self.my_tasks),
            "my_tasks_p50_ms": p(self.my_tasks, 50),
            "my_tasks_p95_ms": p(self.my_tasks, 95),
            "visibility_query": self.query,
            "visibility_rows": self.visibility_rows,
            "visibility_samples": len(self.visibility_list),
            "visibility_list_p50_ms": p(self.visibility_list, 50),
            "visibility_list_p95_ms": p(self.visibility_list, 95),
            "visibility_count_p50_ms": p(self.visibility_count, 50),
            "visibility_count_p95_ms": p(self.visibility_count, 95),
            "visibility_lag_s": round(self.visibility_wait_s, 1),
        }


async def _until(check: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        if check():
            return
        await asyncio.sleep(0.5)


async def _timed(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    for _ in range(3):  # warm up caches and connections
        await call()
    times = []
    for _ in range(samples):
        before = time.perf_counter()
        await call()
        times.append(time.perf_counter() - before)
    return times


async def run_scale(
    client: Client,
    http: httpx.AsyncClient,
    world: World,
    task_queue: str,
    opportunities: list[uuid.UUID],
    *,
    processes: int,
    per_partner: int,
    concurrency: int,
    samples: int,
    visibility_samples: int,
    worker_pid: int,
    handovers: Callable[[], int],
    progress: Callable[[str], None],
) -> ScaleResult:
    """Open `processes` processes on the one-step template (deadline in 30 days): the first
    partner gets `per_partner` of them, the others share the rest. Then measure."""
    target = world.partners[0]
    others = world.partners[1:] or world.partners
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def open_one(n: int, opportunity_id: uuid.UUID) -> None:
        nonlocal done
        partner = target if n < per_partner else others[n % len(others)]
        operation = process_operation(
            task_queue, world.one_open_step, opportunity_id, world.admin.user_id, partner.id
        )
        async with gate:
            await start_process(client, operation)
        done += 1
        if done % 500 == 0:
            progress(f"  {done}/{processes} open, worker RSS {memory(worker_pid)['VmRSS']:.0f} MB")

    began = time.perf_counter()
    await asyncio.gather(*(open_one(n, o) for n, o in enumerate(opportunities[:processes])))
    create_s = time.perf_counter() - began
    # The starts answer once recorded; the hand-over e-mails and notices follow. Wait for
    # them, so that the worker's peak covers all the work of opening the processes.
    settled = time.perf_counter()
    await _until(lambda: handovers() >= processes, 300)
    progress(f"  e-mails sent {time.perf_counter() - settled:.1f}s after the last start")
    rss = memory(worker_pid)

    tasks = await http.get("/api/my/tasks", headers={"Authorization": f"Bearer {target.token}"})
    tasks.raise_for_status()
    my_count = int(tasks.json()["count"])

    async def my_tasks() -> None:
        response = await http.get(
            "/api/my/tasks", headers={"Authorization": f"Bearer {target.token}"}
        )
        response.raise_for_status()

    my_times = await _timed(my_tasks, samples)

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"PfPartners = '{target.id}' AND PfNextDue > '{now}'"
    waited = time.perf_counter()
    for _ in range(240):
        if (await client.count_workflows(query)).count >= per_partner:
            break
        await asyncio.sleep(0.5)
    lag = time.perf_counter() - waited
    rows = 0

    async def listed() -> None:
        nonlocal rows
        rows = 0
        async for _ in client.list_workflows(query, page_size=1000):
            rows += 1

    async def counted() -> None:
        await client.count_workflows(query)

    list_times = await _timed(listed, visibility_samples)
    count_times = await _timed(counted, visibility_samples)
    return ScaleResult(
        processes=processes,
        per_partner=per_partner,
        create_s=create_s,
        worker_peak_rss_mb=rss["VmHWM"],
        worker_rss_mb=rss["VmRSS"],
        my_tasks_count=my_count,
        my_tasks=my_times,
        visibility_list=list_times,
        visibility_count=count_times,
        visibility_rows=rows,
        visibility_wait_s=lag,
        query=query.replace(str(target.id), "<partner>").replace(now, "<now>"),
    )
