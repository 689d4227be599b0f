"""A company user's absence and their substitute: `PUT`, `GET` and `DELETE
/api/users/{id}/absence` (an admin, or the user themself)."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import SessionDep, SettingsDep, StaffCaller, TemporalDep
from partnerflow import absences
from partnerflow.db import utcnow
from partnerflow.models import Absence

router = APIRouter(prefix="/api", tags=["users"])


class AbsenceSet(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    starts_at: datetime = Field(
        alias="from",
        description="When the absence begins, with a time zone (it may have begun already)",
    )
    until: datetime = Field(description="When it ends, with a time zone; after `from`, ahead")
    substitute_user_id: uuid.UUID = Field(
        description="An active company user (not the absent one) who takes the steps meanwhile"
    )


class AbsencePublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    user_id: uuid.UUID
    starts_at: datetime = Field(alias="from")
    until: datetime
    substitute_user_id: uuid.UUID
    state: absences.AbsenceState
    created_at: datetime
    moved_at: datetime | None = Field(
        description="When the user's open steps went to the substitute (the absence began "
        "and every running process was told); null before"
    )


def _public(absence: Absence) -> AbsencePublic:
    return AbsencePublic(
        user_id=absence.user_id,
        starts_at=absence.starts_at,
        until=absence.ends_at,
        substitute_user_id=absence.substitute_user_id,
        state=absences.state_of(absence, utcnow()),
        created_at=absence.created_at,
        moved_at=absence.moved_at,
    )


@router.put("/users/{user_id}/absence")
async def set_absence(
    user_id: uuid.UUID,
    body: AbsenceSet,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> AbsencePublic:
    """Set the user's absence, replacing the one set before. While it runs, steps that open
    for the user open for the substitute; when it begins, the user's open steps move to the
    substitute (both are told). One that has begun already is told to the running processes
    before the answer (`moved_at`), as long as that takes a few seconds."""
    asked = absences.AbsenceRequest(
        starts_at=body.starts_at, until=body.until, substitute_user_id=body.substitute_user_id
    )
    absence = await absences.set_absence(session, temporal, settings, caller, user_id, asked)
    return _public(absence)


@router.get("/users/{user_id}/absence")
def get_absence(user_id: uuid.UUID, session: SessionDep, caller: StaffCaller) -> AbsencePublic:
    """The user's absence (404 when none is set)."""
    return _public(absences.of_user(session, caller, user_id))


@router.delete("/users/{user_id}/absence", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_absence(
    user_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> Response:
    """Withdraw the user's absence: their running processes forget it, and steps open for
    the user again from now on."""
    await absences.withdraw(session, temporal, settings, caller, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
