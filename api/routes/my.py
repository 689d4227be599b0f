"""The caller's own work: open steps assigned to them or their organisation, soonest first;
and, for a partner's users, their organisation's scorecard."""

from fastapi import APIRouter

from api.deps import CurrentCaller, PageDep, SessionDep, SettingsDep
from api.listing import Page
from api.routes.partners import From, To
from partnerflow import scorecards, steps
from partnerflow.db import utcnow
from partnerflow.scorecards import Scorecard
from partnerflow.steps import Task

router = APIRouter(prefix="/api/my", tags=["my work"])


@router.get("/tasks")
def my_tasks(
    session: SessionDep, caller: CurrentCaller, page: PageDep, test: bool = False
) -> Page[Task]:
    """Test runs are left out unless `test=true` asks for them (and only them), as in the
    process list: a try of a template is not work to do."""
    tasks, count = steps.open_tasks(session, caller, test, page.limit, page.offset)
    return Page(data=tasks, count=count)


@router.get("/scorecard")
def my_scorecard(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    first: From = None,
    last: To = None,
) -> Scorecard:
    """The scorecard of the caller's partner organisation (as `GET
    /api/partners/{id}/scorecard`); 403 for the company's own users, who have none."""
    now = utcnow()
    asked = scorecards.period(first, last, settings.default_timezone, now)
    return scorecards.own(session, caller, asked, now)
