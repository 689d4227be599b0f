"""The payloads of the reconciler's round: how long it leaves things alone, what it repaired."""

from pydantic import BaseModel


class ReconcileInput(BaseModel):
    # A request may still be finishing what is younger than its grace period.
    starting_grace_seconds: int = 120
    pending_upload_grace_seconds: int = 300
    # An automation run Temporal has not answered for this long is recorded as failed.
    give_up_after_seconds: int = 24 * 3600


class RunsReconciled(BaseModel):
    started: int = 0
    skipped: int = 0
    failed: int = 0
    still_starting: int = 0


class UploadsReconciled(BaseModel):
    attached: int = 0
    removed: int = 0
    still_pending: int = 0


class Reconciled(BaseModel):
    runs: RunsReconciled
    uploads: UploadsReconciled
