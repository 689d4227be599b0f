"""Staff absences as a process knows them (ids and moments only): who is away now, and for whom
a step opens or moves instead, following substitutes who are away themselves (pure)."""

from datetime import datetime
from uuid import UUID

from workflows.messages import Absence, AbsenceInput
from workflows.rules import refuse


def running(absences: list[Absence], user_id: UUID | None, now: datetime) -> Absence | None:
    """The user's absence going on at `now`, if any, its `substitute_user_id` the one who
    stands in now: the substitute, or, when they are away too, their substitute, and so on.
    A chain that comes back round to someone on it (everyone on it is away) stops at the
    user's own substitute."""
    own = _own(absences, user_id, now)
    if own is None:
        return None
    passed = {own.user_id, own.substitute_user_id}
    standing_in = own.substitute_user_id
    while (next_one := _own(absences, standing_in, now)) is not None:
        if next_one.substitute_user_id in passed:
            return own
        passed.add(next_one.substitute_user_id)
        standing_in = next_one.substitute_user_id
    if standing_in == own.substitute_user_id:
        return own
    return own.model_copy(update={"substitute_user_id": standing_in})


def _own(absences: list[Absence], user_id: UUID | None, now: datetime) -> Absence | None:
    """The user's own absence going on at `now`, if any."""
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
