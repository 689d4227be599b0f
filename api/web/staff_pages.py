"""The contact person's pages: processes (overdue first, open steps by deadline week), a
process, partners and their scorecards, notifications, outbox."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import case, update
from sqlmodel import col, select

from api.csv_download import csv_response
from api.deps import Pagination, SessionDep, SettingsDep, TemporalDep
from api.downloads import download
from api.listing import fetch_page
from api.web import bulk_pages, service_area_pages, work
from api.web.i18n import N_
from api.web.insight import FirstDay, LastDay, asked_period, scorecard_context
from api.web.refusals import status_of
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page, when
from api.web.views import (
    comments_by_step,
    email_kind,
    event_in_words,
    flashed,
    review_history,
    states_of,
    step_specs,
    template_of,
    timezone_of,
    timezones_of,
)
from partnerflow import bulk, charts, diagram, exports, scorecards
from partnerflow.assignees import assignee_names, names_of
from partnerflow.db import utcnow
from partnerflow.models import (
    Notification,
    Opportunity,
    OutboxEmail,
    Partner,
    Process,
    ProcessTemplate,
    User,
)
from partnerflow.processes import (
    WORKED_ON,
    highest_risk,
    overdue_process_ids,
    process_detail,
    steps_by_process,
    visible_process,
)
from partnerflow.refusals import Refused, forbidden, not_found
from partnerflow.spec import DONE_STATUSES
from partnerflow.steps import document_file

router = APIRouter(include_in_schema=False)
router.include_router(bulk_pages.router)  # the dashboard's bulk form posts there

PAGE_SIZE = 50
# Fixed texts: a flash is chosen by key, never taken from the address.
FLASHES = {
    "approve": N_("Approved: the step is done."),
    "request_changes": N_("Sent back: the assignee is told what to change."),
}


@router.get("/processes")
def dashboard(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    show: Literal["running", "completed", "cancelled"] = "running",
    mine: bool = False,
    test: bool = False,
    sort: Literal["deadline", "risk"] = "deadline",
    holder: Annotated[str, Query(max_length=64)] = "",
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> HTMLResponse:
    """Running processes, the ones with an overdue step first, then by the next deadline; or
    (`sort=risk`) the one with the open step most likely to finish late first. `holder`
    (`partner:<id>`, `user:<id>`): only processes with an open step of that partner or user.
    The open steps of running processes can be ticked for the bulk form (bulk_pages)."""
    held_by = bulk.Holder.from_choice(holder)
    statement = (
        select(Process, Opportunity, ProcessTemplate)
        .join(Opportunity, col(Opportunity.id) == Process.opportunity_id)
        .join(ProcessTemplate, col(ProcessTemplate.id) == Process.template_id)
        .where(Process.status == show, Process.test == test)
    )
    if sort == "risk":
        risk = highest_risk()
        statement = statement.outerjoin(risk, risk.c.process_id == Process.id).order_by(
            risk.c.late_probability.is_(None),
            risk.c.late_probability.desc(),
            col(Process.started_at).desc(),
        )
    else:
        statement = statement.order_by(
            col(Process.attention).desc(),  # something failed for good: first of all
            case((col(Process.id).in_(overdue_process_ids()), 0), else_=1),
            col(Process.next_due_at).is_(None),
            col(Process.next_due_at),
            col(Process.started_at).desc(),
        )
    if mine:
        statement = statement.where(Process.contact_user_id == caller.user.id)
    if held_by is not None:
        statement = statement.where(col(Process.id).in_(bulk.processes_held_by(held_by)))
    page_of = Pagination(limit=PAGE_SIZE, offset=offset)
    rows, count = fetch_page(session, statement, page_of)  # type: ignore[arg-type]
    all_steps = steps_by_process(session, [process.id for process, _, _ in rows])
    # open: with its assignee, or in review (then the reviewer's to answer)
    open_steps = [
        s for process, _, _ in rows for s in all_steps[process.id] if s.status in WORKED_ON
    ]
    names = assignee_names(session, [s.assignee for s in open_steps])
    who = {s.id: name for s, name in zip(open_steps, names, strict=True)}
    zones = timezones_of(session, [process.id for process, _, _ in rows])
    processes = []
    for process, opportunity, template in rows:
        steps_of_process = all_steps[process.id]
        finished = sum(1 for s in steps_of_process if s.status in DONE_STATUSES)
        still_open = [s for s in steps_of_process if s.status in WORKED_ON]
        processes.append(
            {
                "process": process,
                "title": opportunity.title,
                "customer": opportunity.customer.get("name") or "",
                "template": template.name,
                "done": finished,
                "total": len(steps_of_process),
                "open": [{"step": s, "who": who[s.id]} for s in still_open],
                "timezone": zones[process.id],
                "overdue": any(s.overdue for s in still_open),
            }
        )
    weeks = scorecards.open_steps_by_week(
        session, utcnow(), settings.default_timezone, test=test,
        contact_user_id=caller.user.id if mine else None,
    )  # fmt: skip
    return page(
        request, "dashboard.html",
        caller=caller, section="processes", processes=processes, count=count, show=show,
        mine=mine, test=test, sort=sort, offset=offset, page_size=PAGE_SIZE,
        deadline_chart=charts.open_steps_by_week(weeks),
        holder=held_by.choice if held_by else "", **bulk_pages.form_choices(session),
    )  # fmt: skip


def _process_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    process_id: uuid.UUID,
    problem: str | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    session.expire_all()
    process = visible_process(session, caller, process_id)
    detail = process_detail(session, caller, process, settings)
    template = template_of(session, process)
    opportunity = session.get(Opportunity, process.opportunity_id)
    contact = session.get(User, process.contact_user_id)
    timezone = timezone_of(session, process)
    actor_ids = {uuid.UUID(str(e["user_id"])) for e in detail.timeline if e.get("user_id")}
    users = names_of(session, set(), actor_ids)
    specs = step_specs(session, process)
    states = states_of(detail.steps)
    history = [
        {
            **entry,
            "at": datetime.fromisoformat(str(entry["at"])),
            "words": event_in_words(str(entry.get("event", ""))),
            "detail": _readable(entry.get("detail"), timezone),
        }
        for entry in reversed(detail.timeline)
    ]
    return page(
        request,
        "process.html",
        status_code,
        caller=caller,
        section="processes",
        flash=flashed(FLASHES, flash),
        diagram=diagram.draw(list(specs.values()), states),
        diagram_lines=diagram.described(list(specs.values()), states),
        conditions={key: diagram.condition_words(spec) for key, spec in specs.items()},
        reviews=review_history(history[::-1]),
        # the reviewer answers; an admin may on their behalf (the workflow checks it again)
        may_review={
            s.key
            for s in detail.steps
            if s.status == "in_review" and (caller.is_admin or s.reviewer_user_id == caller.user.id)
        },
        process=detail,
        title=opportunity.title if opportunity else "",
        template=template,
        timezone=timezone,
        contact=contact,
        specs=specs,
        who=dict(
            zip(
                [s.key for s in detail.steps],
                assignee_names(session, [s.assignee for s in detail.steps]),
                strict=True,
            )
        ),
        comments=comments_by_step(session, process_id),
        step_names={s.key: s.name for s in detail.steps},
        users={str(k): v for k, v in users.items()},
        history=history,
        problem=problem,
    )


def _readable(detail: str | None, timezone: str) -> str | None:
    """A moment in a timeline entry (a moved deadline) shown in the process's time zone."""
    try:
        return when(datetime.fromisoformat(detail), timezone) if detail else detail
    except (ValueError, OverflowError):
        return detail


@router.get("/processes/{process_id}")
def process_page(
    request: Request,
    process_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    flash: str | None = None,
) -> HTMLResponse:
    return _process_page(request, session, settings, caller, process_id, flash=flash)


@router.post("/processes/{process_id}/steps/{step_key}/review", dependencies=[CsrfChecked])
async def review_step(
    request: Request,
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    caller: WebStaff,
    decision: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    due: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The reviewer approves the step, or sends it back with a reason (and a new deadline)."""
    on_step = work.StepWork(session, temporal, settings, caller, process_id, step_key)
    try:
        await on_step.review(decision, reason, due)
    except (Refused, HTTPException) as error:
        return _process_page(
            request, session, settings, caller, process_id, work.problem(error), status_of(error)
        )
    location = f"/processes/{process_id}?flash={decision}#step-{step_key}"
    return RedirectResponse(location, status_code=303)


@router.post("/processes/{process_id}/steps/{step_key}/comments", dependencies=[CsrfChecked])
def add_comment(
    request: Request,
    process_id: uuid.UUID,
    step_key: str,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    body: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    try:
        work.add_comment(session, caller, process_id, step_key, body)
    except Refused as error:
        return _process_page(
            request, session, settings, caller, process_id, work.problem(error), status_of(error)
        )
    return RedirectResponse(f"/processes/{process_id}#step-{step_key}", status_code=303)


@router.get("/processes/{process_id}/documents/{document_id}")
def download_document(
    process_id: uuid.UUID,
    document_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
) -> FileResponse:
    return download(document_file(session, settings, caller, process_id, document_id))


# partners and their scorecards --------------------------------------------------------------


@router.get("/partners")
def partners_page(request: Request, session: SessionDep, caller: WebStaff) -> HTMLResponse:
    rows = session.exec(select(Partner).order_by(col(Partner.name)).limit(PAGE_SIZE * 10)).all()
    return page(request, "partners.html", caller=caller, section="partners", partners=rows)


@router.get("/partners/{partner_id}")
def partner_page(
    request: Request,
    partner_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    first: FirstDay = "",
    last: LastDay = "",
    flash: str | None = None,
) -> HTMLResponse:
    """The partner's scorecard over a period, with its charts; its service area."""
    now = utcnow()
    asked, problem = asked_period(first, last, settings.default_timezone, now)
    card = scorecards.of_partner(session, caller, partner_id, asked, now)
    return page(
        request, "scorecard.html", 422 if problem else 200,
        caller=caller, section="partners", own=False,
        flash=service_area_pages.flash(flash),
        **scorecard_context(card, problem, f"/partners/{partner_id}/scorecard.csv"),
        **service_area_pages.area_context(session, caller, partner_id),
    )  # fmt: skip


@router.get("/partners/{partner_id}/scorecard.csv")
def partner_scorecard_csv(
    partner_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: WebStaff,
    first: FirstDay = "",
    last: LastDay = "",
) -> Response:
    now = utcnow()
    asked, _ = asked_period(first, last, settings.default_timezone, now)
    card = scorecards.of_partner(session, caller, partner_id, asked, now)
    return csv_response(exports.scorecard_csv(card), f"scorecard-{partner_id}.csv")


# outbox -------------------------------------------------------------------------------------


def _admin(caller: WebStaff) -> None:
    if not caller.is_admin:
        raise forbidden("only an admin may read the outbox")


@router.get("/outbox")
def outbox(
    request: Request,
    session: SessionDep,
    caller: WebStaff,
    kind: Annotated[str, Query(max_length=32)] = "",
    to: Annotated[str, Query(max_length=320)] = "",
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> HTMLResponse:
    _admin(caller)
    statement = select(OutboxEmail)
    if kind:
        statement = statement.where(OutboxEmail.kind == kind)
    if to:
        statement = statement.where(col(OutboxEmail.to).contains(to.strip().lower()))
    emails, count = fetch_page(
        session,
        statement.order_by(col(OutboxEmail.created_at).desc()),
        Pagination(limit=PAGE_SIZE, offset=offset),
    )
    kinds = session.exec(select(OutboxEmail.kind).distinct().order_by(OutboxEmail.kind)).all()
    return page(
        request, "outbox.html",
        caller=caller, section="outbox", emails=emails, count=count, kind=kind, to=to,
        kinds=kinds, offset=offset, page_size=PAGE_SIZE, kind_words=email_kind,
    )  # fmt: skip


@router.get("/outbox/{email_id}")
def outbox_email(
    request: Request, email_id: uuid.UUID, session: SessionDep, caller: WebStaff
) -> HTMLResponse:
    _admin(caller)
    email = session.get(OutboxEmail, email_id)
    if email is None:
        raise not_found("e-mail")
    return page(
        request, "outbox_email.html",
        caller=caller, section="outbox", email=email, kind_words=email_kind,
    )  # fmt: skip


# notifications ------------------------------------------------------------------------------


@router.get("/notifications")
def notifications(request: Request, session: SessionDep, caller: WebStaff) -> HTMLResponse:
    """What the contact person was told: a partner finished, a deadline passed, a mail failed."""
    rows = session.exec(
        select(Notification)
        .where(Notification.user_id == caller.user.id)
        .order_by(col(Notification.created_at).desc())
        .limit(PAGE_SIZE * 2)
    ).all()
    return page(request, "notifications.html", caller=caller, section="notifications", notices=rows)


@router.post("/notifications/read", dependencies=[CsrfChecked])
def mark_all_read(session: SessionDep, caller: WebStaff) -> Response:
    session.execute(
        update(Notification)
        .where(col(Notification.user_id) == caller.user.id, col(Notification.read).is_(False))
        .values(read=True)
    )
    session.commit()
    return RedirectResponse("/notifications", status_code=303)
