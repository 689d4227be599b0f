"""The caller's own work: open steps assigned to them or their organisation, soonest first."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from api.deps import CurrentCaller, PageDep, SessionDep
from api.listing import Page, fetch_page
from partnerflow.models import Opportunity, Process, ProcessStep

router = APIRouter(prefix="/api/my", tags=["my work"])


class Task(BaseModel):
    process_id: uuid.UUID
    step_key: str
    step_name: str
    due_at: datetime | None = None
    overdue: bool = False
    activated_at: datetime | None
    customer_name: str | None
    customer_address: dict[str, Any] | None


@router.get("/tasks")
def my_tasks(
    session: SessionDep, caller: CurrentCaller, page: PageDep, test: bool = False
) -> Page[Task]:
    """Test runs are left out unless `test=true` asks for them (and only them), as in the
    process list: a try of a template is not work to do."""
    statement = (
        select(ProcessStep, Opportunity)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .join(Opportunity, col(Opportunity.id) == Process.opportunity_id)
        .where(ProcessStep.status == "active", Process.status == "running", Process.test == test)
        # soonest deadline first; steps without one after them, oldest first
        .order_by(
            col(ProcessStep.due_at).is_(None),
            col(ProcessStep.due_at),
            col(ProcessStep.activated_at),
        )
    )
    if caller.partner_id is not None:
        statement = statement.where(ProcessStep.assignee_partner_id == caller.partner_id)
    else:
        statement = statement.where(ProcessStep.assignee_user_id == caller.user.id)
    rows, count = fetch_page(session, statement, page)  # type: ignore[arg-type]
    tasks = [
        Task(
            process_id=step.process_id,
            step_key=step.key,
            step_name=step.name,
            due_at=step.due_at,
            overdue=step.overdue,
            activated_at=step.activated_at,
            customer_name=opportunity.customer.get("name"),
            customer_address=opportunity.customer.get("address"),
        )
        for step, opportunity in rows
    ]
    return Page(data=tasks, count=count)
