"""The partner portal: my tasks by deadline, the step page where the work is recorded, and the
organisation's own scorecard."""

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.csv_download import csv_response
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.downloads import download
from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.insight import FirstDay, LastDay, asked_period, scorecard_context
from api.web.refusals import status_of
from api.web.session import CsrfChecked, WebPartner
from api.web.templating import page
from api.web.views import (
    comments_by_step,
    states_of,
    step_specs,
    timezone_of,
    timezones_of,
    uploaded_counts,
)
from api.web.work import StepWork, problem
from partnerflow import diagram, exports, offers, scorecards, steps
from partnerflow.db import utcnow
from partnerflow.processes import process_detail, visible_process
from partnerflow.refusals import Refused, not_found

router = APIRouter(prefix="/portal", include_in_schema=False)

FLASHES = {
    "welcome": N_("Welcome! Your tasks appear here as soon as a process hands you a step."),
    "appointment": N_("The appointment is recorded as the step's deadline."),
    "uploaded": N_("The document is uploaded."),
    "finished": N_("Done: the step is finished and the contact person is told."),
    "submitted": N_("Done: the step is sent for review; you will hear if anything needs changing."),
    "commented": N_("Your comment is added."),
    "handed_back": N_("Handed back: the contact person has the step now, with your reason."),
    "accepted": N_("Accepted: the job is yours. Below are the customer's details and what to do."),
}


def flash_text(key: str | None) -> str | None:
    """The notice a redirect's `?flash=` names, in the reader's language."""
    return _(FLASHES[key]) if key in FLASHES else None


# After these the step is no longer the partner's to work on here: back to the list.
_TO_THE_LIST = ("finished", "submitted", "handed_back")


@router.get("")
def my_tasks(
    request: Request, session: SessionDep, caller: WebPartner, flash: str | None = None
) -> HTMLResponse:
    tasks, _ = steps.open_tasks(session, caller, test=False, limit=500)
    zones = timezones_of(session, [task.process_id for task in tasks])
    return page(
        request, "portal_tasks.html",
        caller=caller, section="tasks", tasks=tasks, zones=zones, flash=flash_text(flash),
        offers_waiting=offers.pending_count(session, caller),
    )  # fmt: skip


def _step_page(
    request: Request,
    work: StepWork,
    *,
    status_code: int = 200,
    problem: str | None = None,
    flash: str | None = None,
    entered: dict[str, Any] | None = None,
) -> HTMLResponse:
    session, caller, process_id, step_key = (
        work.session,
        work.caller,
        work.process_id,
        work.step_key,
    )
    session.expire_all()
    process = visible_process(session, caller, process_id)
    detail = process_detail(session, caller, process, work.settings)
    # a partner's detail holds only its own steps: another's is not found, as in the API
    shown = next((s for s in detail.steps if s.key == step_key), None)
    if shown is None:
        raise not_found("step")
    specs = step_specs(session, process)
    # the whole process, to see where the step sits; only the partner's own steps coloured
    states = states_of(detail.steps)
    return page(
        request,
        "portal_step.html",
        status_code,
        caller=caller,
        section="tasks",
        process=detail,
        step=shown,
        spec=specs.get(step_key),
        condition=diagram.condition_words(specs[step_key]) if step_key in specs else None,
        diagram=diagram.draw(
            list(specs.values()), states, title=_("The whole process"), keys=False
        ),
        diagram_lines=diagram.described(list(specs.values()), states),
        timezone=timezone_of(session, process),
        comments=comments_by_step(session, process_id, step_key).get(step_key, []),
        # how many of each type are there, even for a partner that may not open documents
        uploaded=uploaded_counts(session, process_id, step_key),
        may=caller.permissions,
        problem=problem,
        flash=flash_text(flash),
        entered=entered or {},
    )


@dataclass
class OnStep:
    """A step page and the forms posted on it, with what answering them needs."""

    request: Request
    work: StepWork

    async def answer(
        self, action: Awaitable[str | None], flash: str, entered: dict[str, str] | None = None
    ) -> Response:
        """Redirect to the step page with a notice (`flash`, or the one the action answers),
        or show it again with the refusal."""
        work = self.work
        try:
            flash = await action or flash
        except (Refused, HTTPException) as error:
            return _step_page(
                self.request, work,
                status_code=status_of(error), problem=problem(error), entered=entered,
            )  # fmt: skip
        if flash in _TO_THE_LIST:
            return RedirectResponse(f"/portal?flash={flash}", status_code=303)
        return RedirectResponse(
            f"/portal/processes/{work.process_id}/steps/{work.step_key}?flash={flash}",
            status_code=303,
        )


def on_step(
    request: Request,
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    caller: WebPartner,
) -> OnStep:
    work = StepWork(session, temporal, settings, caller, process_id, step_key)
    return OnStep(request, work)


StepForm = Annotated[OnStep, Depends(on_step)]


@router.get("/processes/{process_id}/steps/{step_key}")
def step_page(on: StepForm, flash: str | None = None) -> HTMLResponse:
    return _step_page(on.request, on.work, flash=flash)


_STEP = "/processes/{process_id}/steps/{step_key}"


@router.post(f"{_STEP}/appointment", dependencies=[CsrfChecked])
async def record_appointment(
    on: StepForm, appointment: Annotated[str, Form(max_length=40)] = ""
) -> Response:
    return await on.answer(on.work.set_deadline(appointment), "appointment")


@router.post(f"{_STEP}/documents", dependencies=[CsrfChecked])
async def upload_document(
    on: StepForm,
    file: Annotated[UploadFile, File()],
    type: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return await on.answer(on.work.upload(file, type), "uploaded")


@router.post(f"{_STEP}/complete", dependencies=[CsrfChecked])
async def finish_step(on: StepForm) -> Response:
    form = await on.request.form()
    entered = {k: v for k, v in form.items() if isinstance(v, str) and k.startswith("field:")}
    return await on.answer(_finished(on, entered), "finished", entered)


async def _finished(on: OnStep, entered: dict[str, str]) -> str | None:
    """Finish the step; one that goes to review first says so."""
    return "submitted" if await on.work.complete(entered) == "in_review" else None


@router.post(f"{_STEP}/decline", dependencies=[CsrfChecked])
async def hand_back(on: StepForm, reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return await on.answer(on.work.decline(reason), "handed_back")


@router.post(f"{_STEP}/comments", dependencies=[CsrfChecked])
async def add_comment(on: StepForm, body: Annotated[str, Form(max_length=10_000)] = "") -> Response:
    return await on.answer(on.work.comment(body), "commented")


@router.get("/processes/{process_id}/documents/{document_id}")
def download_document(
    process_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebPartner,
) -> FileResponse:
    return download(steps.document_file(session, settings, caller, process_id, document_id))


# the organisation's own record --------------------------------------------------------------


@router.get("/scorecard")
def my_scorecard(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebPartner,
    first: FirstDay = "",
    last: LastDay = "",
) -> HTMLResponse:
    """The partner's own scorecard, as the company sees it."""
    now = utcnow()
    asked, problem = asked_period(first, last, settings.default_timezone, now)
    card = scorecards.own(session, caller, asked, now)
    return page(
        request, "scorecard.html", 422 if problem else 200,
        caller=caller, section="scorecard", own=True,
        **scorecard_context(card, problem, "/portal/scorecard.csv"),
    )  # fmt: skip


@router.get("/scorecard.csv")
def my_scorecard_csv(
    session: SessionDep,
    settings: SettingsDep,
    caller: WebPartner,
    first: FirstDay = "",
    last: LastDay = "",
) -> Response:
    now = utcnow()
    asked, _ = asked_period(first, last, settings.default_timezone, now)
    card = scorecards.own(session, caller, asked, now)
    return csv_response(exports.scorecard_csv(card), "scorecard.csv")
