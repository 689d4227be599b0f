"""The worker: runs PartnerProcessWorkflow, ReconcilerWorkflow, ForecastWorkflow,
AbsenceWorkflow, WebhookDeliveryWorkflow and their activities against the configured
Temporal, and makes sure the reconciler's and the forecast's schedules exist."""

import asyncio
import compileall
import ctypes
import functools
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import _Definition

from activities.absences import AbsenceActivities
from activities.deadlines import business_days_due
from activities.emails import EmailActivities
from activities.forecast import ForecastActivities
from activities.notifications import NotificationActivities
from activities.read_model import ReadModelActivities
from activities.reconcile import ReconcileActivities
from activities.webhooks import WebhookActivities
from partnerflow import logs
from partnerflow.db import make_engine
from partnerflow.forecast_schedule import ensure_forecast_schedule
from partnerflow.mail import Mailer
from partnerflow.reconcile_schedule import ensure_reconcile_schedule
from partnerflow.settings import Settings, get_settings
from partnerflow.temporal import connect, metrics_runtime
from partnerflow.transports import build_transport
from partnerflow.webhooks import DeliveryStarter
from workflows.absence_mover import AbsenceWorkflow
from workflows.forecaster import ForecastWorkflow
from workflows.partner_process import PartnerProcessWorkflow
from workflows.reconciler import ReconcilerWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

log = logging.getLogger("partnerflow.worker")


@dataclass(frozen=True)
class ValidatedOnceRunner(SandboxedWorkflowRunner):
    """The sandbox, checking each workflow class once per process: the SDK checks every
    class again, by running its module in a new sandbox, for each `Worker` built (the tests
    build one per test: about 25 ms each)."""

    _checked: set[type] = field(default_factory=set, init=False, repr=False, compare=False)

    def prepare_workflow(self, defn: _Definition) -> None:
        if defn.cls not in self._checked:
            super().prepare_workflow(defn)
            self._checked.add(defn.cls)


# `holidays` loads its country tables lazily, from inside the deadline arithmetic: shared
# with the sandbox (deterministic data), it is not imported again in every workflow run.
WORKFLOW_RUNNER = ValidatedOnceRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("holidays", "dateutil")
)


@functools.cache
def compile_workflow_modules() -> None:
    """The sandbox imports a workflow's module again for every run it starts or replays: from
    bytecode in about 3 ms, from source in about 16 (workflows/partner_process.py). Written here
    when missing or stale, also where PYTHONDONTWRITEBYTECODE is set (compileall writes anyway);
    once per process, however many workers it builds (the tests build one per test)."""
    compileall.compile_dir(Path(__file__).parent / "workflows", quiet=2)


def build_worker(
    client: Client, settings: Settings, engine: Engine, executor: ThreadPoolExecutor
) -> Worker:
    compile_workflow_modules()
    read_model = ReadModelActivities(engine, DeliveryStarter(client, settings))
    webhooks = WebhookActivities(engine, settings)
    emails = EmailActivities(engine, settings, Mailer(engine, settings, build_transport(settings)))
    notifications = NotificationActivities(engine)
    reconcile = ReconcileActivities(engine, client, settings)
    forecasts = ForecastActivities(engine)
    absences = AbsenceActivities(engine, client)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            PartnerProcessWorkflow,
            ReconcilerWorkflow,
            ForecastWorkflow,
            AbsenceWorkflow,
            WebhookDeliveryWorkflow,
        ],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            read_model.record_transition,
            read_model.record_process_state,
            emails.send_email,
            notifications.notify,
            business_days_due,
            reconcile.finish_automation_runs,
            reconcile.settle_uploads,
            reconcile.hand_back_revoked_partners,
            reconcile.start_webhook_deliveries,
            reconcile.start_absence_workflows,
            webhooks.deliver_webhook,
            webhooks.give_up_webhook,
            forecasts.refresh_forecasts,
            absences.tell_processes,
        ],
        activity_executor=executor,
        max_cached_workflows=settings.worker_max_cached_workflows,
        # After a crash, hand a process's next task to another worker within seconds.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


def cap_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads that allocate at once arenas of their own, up to eight per core,
    each keeping what was freed in it: the SDK's threads and the activity executor's made the
    worker's RSS grow past what its cached workflows hold (bench/NOTES.md). Two arenas, unless
    MALLOC_ARENA_MAX says otherwise; nothing on a C library without `mallopt` (musl)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_arena_max = -8  # malloc.h
    libc.mallopt(m_arena_max, arenas)


async def main() -> None:
    cap_malloc_arenas()  # before the first thread starts
    settings = get_settings()
    logs.configure(settings.log_format)
    engine = make_engine(settings.database_url)
    runtime = (
        metrics_runtime(settings.worker_metrics_address)
        if settings.worker_metrics_address
        else None
    )
    client = await connect(settings, runtime)
    await ensure_reconcile_schedule(client, settings)
    await ensure_forecast_schedule(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with build_worker(client, settings, engine, executor):
            log.info("worker polling task queue %s", settings.task_queue)
            await stop.wait()
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
