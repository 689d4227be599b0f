"""ReconcilerWorkflow: one round of repairs between the database and Temporal.

A Temporal Schedule (partnerflow/reconcile_schedule.py) starts it every minute. It finishes
the automation runs a crash left `starting` (their processes started or found), settles
the uploads left `pending` (attached or removed, as their workflow says), and tells running
processes whose open steps a revoked partner still holds (they hand them to the contact), and
starts the webhook deliveries whose workflow a crash kept from starting, and the
AbsenceWorkflows of absences that began a while ago with nobody's steps moved (the request
that set them died before starting theirs).
No messages; its result counts what it repaired. Each activity's summary (Temporal UI) says
which repair it is.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from workflows.reconcile_messages import PartnersReconciled, Reconciled, ReconcileInput

# A failed round is not retried for long: the next scheduled one comes within a minute.
ROUND_RETRY = RetryPolicy(maximum_attempts=2)
ROUND_TIMEOUT = timedelta(minutes=5)
# The round's third repair came later: a round recorded before it (which ended after the
# uploads) replays without it. Not in workflows/versions.py: that lists the process's patches.
REVOKED_PARTNERS_REPAIR = "reconcile-revoked-partners"
WEBHOOK_DELIVERIES_REPAIR = "reconcile-webhook-deliveries"
ABSENCES_REPAIR = "reconcile-absences"


@workflow.defn
class ReconcilerWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> Reconciled:
        runs = await workflow.execute_activity_method(
            ReconcileActivities.finish_automation_runs,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="finish the automation runs a crash left starting",
        )
        uploads = await workflow.execute_activity_method(
            ReconcileActivities.settle_uploads,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="settle the uploads left pending",
        )
        if not workflow.patched(REVOKED_PARTNERS_REPAIR):
            return Reconciled(runs=runs, uploads=uploads, partners=PartnersReconciled())
        partners = await workflow.execute_activity_method(
            ReconcileActivities.hand_back_revoked_partners,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="hand the open steps of revoked partners to the contact persons",
        )
        if not workflow.patched(WEBHOOK_DELIVERIES_REPAIR):
            return Reconciled(runs=runs, uploads=uploads, partners=partners)
        webhooks = await workflow.execute_activity_method(
            ReconcileActivities.start_webhook_deliveries,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="start the webhook deliveries left pending",
        )
        reconciled = Reconciled(
            runs=runs, uploads=uploads, partners=partners, webhooks_started=webhooks
        )
        if not workflow.patched(ABSENCES_REPAIR):
            return reconciled
        reconciled.absences_started = await workflow.execute_activity_method(
            ReconcileActivities.start_absence_workflows,
            input,
            start_to_close_timeout=ROUND_TIMEOUT,
            retry_policy=ROUND_RETRY,
            summary="start the workflows of absences that began with their steps unmoved",
        )
        return reconciled
