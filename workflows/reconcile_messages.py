"""The payloads of the reconciler's round: how long it leaves things alone, what it repaired."""

from pydantic import BaseModel, Field


class ReconcileInput(BaseModel):
    # A request may still be finishing what is younger than its grace period.
    starting_grace_seconds: int = 120
    pending_upload_grace_seconds: int = 300
    # An absence's workflow moves its steps as it begins: not done this long after, it is
    # started again (and a request that set it this long ago has answered).
    absence_grace_seconds: int = 300
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


class PartnersReconciled(BaseModel):
    """Running processes whose open steps a revoked partner still held."""

    # told now: the steps went to the contact person
    handed_back: int = 0
    # the workflow had nothing left of the partner's (the read model was behind)
    nothing_left: int = 0
    # Temporal did not answer: the next round tries again
    unreached: int = 0


class Reconciled(BaseModel):
    runs: RunsReconciled
    uploads: UploadsReconciled
    partners: PartnersReconciled = Field(default_factory=PartnersReconciled)
    # webhook delivery series left `pending` whose workflow was started now (the rest ran)
    webhooks_started: int = 0
    # absences begun with their steps unmoved whose AbsenceWorkflow was started now
    absences_started: int = 0
