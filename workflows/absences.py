"""Staff absences as a process knows them (ids and moments only): who is away now, and for whom
a step opens or moves instead (pure)."""

from datetime import datetime
from uuid import UUID

from workflows.messages import Absence, AbsenceInput
from workflows.rules import refuse


def running(absences: list[Absence], user_id: UUID | None, now: datetime) -> Absence | None:
    """The user's absence going on at `now`, if any."""
    if user_id is None:
        return None
    for absence in absences:
        if absence.user_id == user_id and absence.starts_at <= now < absence.ends_at:
            return absence
    return None


def check(input: AbsenceInput) -> None:
    """An absence is the named user's, ends after it starts and has someone else stand in."""
    absence = input.absence
    if absence is None:
        return
    if absence.user_id != input.user_id:
        raise refuse("invalid", "absence.user_id: not the user the absence is set for")
    if absence.ends_at <= absence.starts_at:
        raise refuse("invalid", "absence.ends_at: must come after starts_at")
    if absence.substitute_user_id == absence.user_id:
        raise refuse("invalid", "absence.substitute_user_id: someone else must stand in")


def replaced(absences: list[Absence], input: AbsenceInput, now: datetime) -> list[Absence]:
    """The absences after this one is set, changed or withdrawn (those over are dropped)."""
    kept = [a for a in absences if a.user_id != input.user_id and a.ends_at > now]
    return kept + ([input.absence] if input.absence is not None else [])
