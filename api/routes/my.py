"""The caller's own work: open steps assigned to them or their organisation, soonest first."""

from fastapi import APIRouter

from api.deps import CurrentCaller, PageDep, SessionDep
from api.listing import Page, fetch_page
from partnerflow import steps
from partnerflow.steps import Task

router = APIRouter(prefix="/api/my", tags=["my work"])


@router.get("/tasks")
def my_tasks(
    session: SessionDep, caller: CurrentCaller, page: PageDep, test: bool = False
) -> Page[Task]:
    """Test runs are left out unless `test=true` asks for them (and only them), as in the
    process list: a try of a template is not work to do."""
    rows, count = fetch_page(session, steps.open_tasks(caller, test), page)  # type: ignore[arg-type]
    return Page(data=[steps.task(step, opportunity) for step, opportunity in rows], count=count)
