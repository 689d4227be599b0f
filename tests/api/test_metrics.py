"""Metrics: the API's and the worker's Prometheus endpoints move when a process runs."""

import re

import httpx
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from partnerflow.temporal import DATA_CONVERTER, metrics_runtime
from tests import factories
from tests.conftest import eventually, free_port, running_stack


def _value(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include the given ones (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? ([0-9.e+-]+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(2))
    return total


async def test_process_counters_move_on_the_api_and_the_worker(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    port = free_port()
    client = await type(temporal_env.client).connect(
        temporal_env.client.service_client.config.target_host,
        data_converter=DATA_CONVERTER,
        runtime=metrics_runtime(f"127.0.0.1:{port}"),
    )
    api_port = free_port()  # the API's metrics are served on a port of their own
    async with running_stack(
        temporal_env, database_url, engine, worker_client=client, metrics_port=api_port
    ) as stack:
        http, admin = stack.http, stack.admin
        async with httpx.AsyncClient() as scraper:

            async def worker_metrics() -> str:
                return (await scraper.get(f"http://127.0.0.1:{port}/metrics")).text

            before = await worker_metrics()
            partner = await factories.partner(http, admin)
            pid = (await factories.commissioned(http, admin, partner["id"]))["id"]
            await http.post(
                f"/api/processes/{pid}/steps/installation/complete",
                json={"fields": {"installed_on": "2026-12-11"}},
                headers=admin,
            )
            await factories.outbox(http, admin, pid, count=2)
            # the counter moves once the activity returns: a moment after the outbox row
            after = await eventually(
                worker_metrics,
                lambda text: (
                    _value(text, "partnerflow_emails_sent")
                    - _value(before, "partnerflow_emails_sent")
                    >= 2
                ),
            )
            api = (await scraper.get(f"http://127.0.0.1:{api_port}/metrics")).text

        for name in ("partnerflow_processes_started", "partnerflow_processes_completed"):
            assert _value(after, name) - _value(before, name) == 1, name
        assert (
            _value(after, "partnerflow_emails_sent") - _value(before, "partnerflow_emails_sent")
            >= 2
        )
        assert _value(after, "temporal_activity_task_received") >= 1  # the SDK's own telemetry

        assert (
            _value(
                api,
                "partnerflow_http_requests_total",
                route="/api/processes",
                method="POST",
                status="201",
            )
            == 1
        )
        assert (
            _value(
                api,
                "partnerflow_http_requests_total",
                route="/api/processes/{process_id}/steps/{step_key}/complete",
                status="200",
            )
            == 2
        )
        assert (
            _value(api, "partnerflow_http_request_duration_seconds_count", route="/api/processes")
            == 1
        )
