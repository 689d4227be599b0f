"""The reconciler's Temporal Schedule (partnerflow/schedules.py): a round every minute."""

from datetime import timedelta

from temporalio.client import Client, ScheduleHandle

from partnerflow.schedules import Rounds
from partnerflow.settings import Settings
from workflows.reconcile_messages import ReconcileInput
from workflows.reconciler import ReconcilerWorkflow

ROUNDS = Rounds(
    name="reconcile",
    workflow=ReconcilerWorkflow.run,
    input=ReconcileInput(),
    every=timedelta(minutes=1),
    timeout=timedelta(minutes=15),
    summary="Partnerflow reconciler round: repairs between the database and Temporal",
    details=(
        "Every minute: starts or finds the processes of automation runs a crash left "
        "`starting`, attaches or removes uploads left `pending`, hands the open steps and "
        "pending offers of revoked partners to the contact persons, starts the workflows of "
        "absences that began with nobody's steps moved and of webhook deliveries left "
        "`pending`. Pausing the schedule only delays these "
        'repairs (docs/operations.md, "The reconciler").'
    ),
)


def schedule_id_for(task_queue: str) -> str:
    return ROUNDS.schedule_id(task_queue)


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    return await ROUNDS.ensure(client, settings.task_queue)
