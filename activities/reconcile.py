"""The reconciler's work: finish or undo what a crash left half-done between SQL and Temporal.

Automation runs still `starting` after a grace period get their process started (or found);
uploads still `pending` are attached or removed as their workflow says; running processes
whose open steps a revoked partner still holds (the revocation could not reach them) are
told, and hand those steps to their contact person; webhook deliveries left `pending` get
their workflow started (or found); absences begun a while ago with their steps unmoved get
their AbsenceWorkflow started where none runs. Everything here is safe to repeat,
and to run beside the request that is still finishing the same thing.
"""

from datetime import timedelta
from typing import assert_never

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from partnerflow import absences, automation_runs, revocation, uploads, webhooks
from partnerflow.db import utcnow
from partnerflow.settings import Settings
from partnerflow.storage import DocumentStorage
from workflows.reconcile_messages import (
    PartnersReconciled,
    ReconcileInput,
    RunsReconciled,
    UploadsReconciled,
)


class ReconcileActivities:
    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self._engine = engine
        self._client = client
        self._settings = settings

    @activity.defn
    async def finish_automation_runs(self, input: ReconcileInput) -> RunsReconciled:
        now = utcnow()
        report = RunsReconciled()
        with Session(self._engine, expire_on_commit=False) as session:
            stuck = automation_runs.stuck_runs(
                session, now - timedelta(seconds=input.starting_grace_seconds)
            )
            give_up_before = now - timedelta(seconds=input.give_up_after_seconds)
            for run in stuck:
                settled = await automation_runs.start_run(
                    session, self._client, self._settings, run, give_up_before
                )
                match settled.outcome:
                    case "started":
                        report.started += 1
                    case "skipped":
                        report.skipped += 1
                    case "failed":
                        report.failed += 1
                    case _:
                        report.still_starting += 1
                activity.heartbeat()
        return report

    @activity.defn
    async def settle_uploads(self, input: ReconcileInput) -> UploadsReconciled:
        report = UploadsReconciled()
        storage = DocumentStorage(self._settings.storage_dir)
        uploaded_before = utcnow() - timedelta(seconds=input.pending_upload_grace_seconds)
        with Session(self._engine, expire_on_commit=False) as session:
            for document in uploads.pending(session, uploaded_before):
                try:
                    settled = await uploads.settle(session, self._client, storage, document)
                except (RPCError, RPCTimeoutOrCancelledError) as error:
                    # Its workflow did not answer (no worker, a server restart): next round.
                    activity.logger.warning("upload %s stays pending: %s", document.id, error)
                    report.still_pending += 1
                    continue
                if settled == "attached":
                    report.attached += 1
                else:
                    report.removed += 1
                activity.heartbeat()
        return report

    @activity.defn
    async def start_webhook_deliveries(self, input: ReconcileInput) -> int:
        """Webhook series whose workflow a crash may have kept from starting."""
        queued_before = utcnow() - timedelta(seconds=input.starting_grace_seconds)
        with Session(self._engine) as session:
            stuck = webhooks.stuck(session, queued_before)
        return await webhooks.start_deliveries(self._client, self._settings, stuck)

    @activity.defn
    async def start_absence_workflows(self, input: ReconcileInput) -> int:
        """Absences begun a while ago whose steps have not moved: their workflow is started
        where none runs (the request that set one died before starting it)."""
        now = utcnow()
        begun_before = now - timedelta(seconds=input.absence_grace_seconds)
        with Session(self._engine, expire_on_commit=False) as session:
            rows = absences.unstarted(session, begun_before, now)
        return await absences.start_unstarted(self._client, self._settings, rows)

    @activity.defn
    async def hand_back_revoked_partners(self, input: ReconcileInput) -> PartnersReconciled:
        report = PartnersReconciled()
        with Session(self._engine, expire_on_commit=False) as session:
            holding = revocation.still_holding(session)
        for told in (await revocation.tell_all(self._client, holding)).values():
            match told:
                case "handed_back":
                    report.handed_back += 1
                case "nothing_left":
                    report.nothing_left += 1
                case "unreached":
                    report.unreached += 1
                case _:
                    assert_never(told)
        return report
