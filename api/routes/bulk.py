"""Bulk actions on steps: one call reassigns, moves the deadline of, or skips many steps."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.listing import Page
from partnerflow import bulk
from partnerflow.bulk import MAX_ITEMS, BulkAction, BulkItem, BulkResult
from partnerflow.spec import BoundAssignee

router = APIRouter(prefix="/api/steps", tags=["steps"])


class BulkChange(BaseModel):
    action: BulkAction = Field(
        description="`reassign` (takes `assignee`), `set_deadline` (takes `due_at`) or `skip` "
        "(takes an optional `reason`)"
    )
    items: list[BulkItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"the steps, each once (a step named twice is a 422); at most {MAX_ITEMS}",
    )
    assignee: Annotated[BoundAssignee, Field(discriminator="type")] | None = Field(
        default=None,
        description="for `reassign`: an active partner, an active company user or the contact "
        "person, as one step's reassignment takes it; checked once for all steps",
    )
    due_at: str | None = Field(
        default=None,
        max_length=40,
        description="for `set_deadline`: ISO 8601 date (the end of that day in each process's "
        "time zone) or datetime",
    )
    reason: str = Field(
        default="",
        max_length=2000,
        description="for `skip`: why; stored with each skipped step as one skip stores it",
    )


@router.post("/bulk")
async def bulk_change(
    body: BulkChange,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> Page[BulkResult]:
    """Reassign, move the deadline of, or skip up to 500 steps, each through the same checks
    as the one step's call: 200 with one result per step in the order given, its `status`
    what that call would have answered (200, or 403 for a step the caller may not change,
    404, 409, 422 for that step alone, 503 where Temporal did not answer). A problem of the
    whole request (no steps, more than 500, a step twice, a missing field, an assignee that is
    not an active partner or user) is one 422 naming the field. Not idempotent: a retry
    answers 409 for the steps the first call reassigned or skipped."""
    change = bulk.checked_change(
        session, body.action, assignee=body.assignee, due_at=body.due_at, reason=body.reason
    )
    results = await bulk.apply(session, temporal, settings, caller, change, body.items)
    return Page(data=results, count=len(results))
