"""The payloads of AbsenceWorkflow: a staff user's absence as it is now set, and what telling
their running processes of it came to. Ids and moments only."""

from uuid import UUID

from pydantic import BaseModel, Field

from workflows.messages import Absence


class AbsenceChange(BaseModel):
    """The workflow's input: the user's absence as now set (`absence`, the `Absence` row
    `absence_id`), or withdrawn (both None)."""

    user_id: UUID
    absence_id: UUID | None = None
    absence: Absence | None = None
    # The substitute of the absence this one replaces or withdraws: the processes whose steps
    # went to them hold that absence, and are told too.
    earlier_substitute_id: UUID | None = None
    # Processes may hold an earlier absence of the user (this one replaces it): they are told
    # at once, and again when this one begins.
    replaces: bool = False


class AbsenceFanOut(BaseModel):
    """One round of telling: the `absence` update to every running process naming `naming`."""

    user_id: UUID
    absence_id: UUID | None = None
    absence: Absence | None = None
    naming: list[UUID] = Field(default_factory=list)
    # the absence has begun: once every process is told, its row says when (`moved_at`)
    mark_moved: bool = False


class AbsenceFannedOut(BaseModel):
    # took the update (their open steps of the user's went to the substitute, if any)
    told: int = 0
    # had ended, or refused it: nothing of the user's left there
    passed_over: int = 0
    # a newer absence (or its withdrawal) was set meanwhile: its own round tells them
    superseded: bool = False
