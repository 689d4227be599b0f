"""The dashboard's bulk form: selected open steps (or every one the filter shows) reassigned,
moved or skipped through the service `POST /api/steps/bulk` uses, each step's result shown."""

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.web import work
from api.web.builder_steps import company_users
from api.web.i18n import N_, refusal_text
from api.web.i18n import gettext as _
from api.web.refusals import PostedForm, checked, status_of, text
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page
from partnerflow import assignees, bulk
from partnerflow.bulk import MAX_ITEMS, BulkAction, BulkItem, BulkResult, Holder
from partnerflow.models import Opportunity, Partner, Process, ProcessStep
from partnerflow.refusals import Refused, invalid
from partnerflow.spec import BoundAssignee

router = APIRouter(include_in_schema=False)

ACTIONS: dict[str, BulkAction] = {
    "reassign": "reassign",
    "set_deadline": "set_deadline",
    "skip": "skip",
}
_ASSIGNEE = TypeAdapter[BoundAssignee](BoundAssignee)
# what a row's status means to the person who sent the form
OUTCOMES = {
    200: N_("Done"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Not possible now"),
    422: N_("Not valid"),
    503: N_("Not reached: try again"),
    500: N_("Failed"),
}


def form_choices(session: Session) -> dict[str, Any]:
    """What the dashboard's filter and bulk form offer: whose open steps to show, and whom to
    hand them to (the contact person, an active partner, a company user)."""
    partners = [
        (f"partner:{p.id}", p.name)
        for p in session.exec(
            select(Partner).where(Partner.status == "active").order_by(col(Partner.name))
        )
    ]
    users = [(f"user:{u.id}", u.name) for u in company_users(session)]
    return {
        "holders": [("", _("Anyone")), *partners, *users],
        "assignee_choices": [
            ("", _("Choose…")),
            ("contact", _("Each process's contact person")),
            *partners,
            *users,
        ],
    }


@router.post("/steps/bulk", dependencies=[CsrfChecked])
async def bulk_change(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    caller: WebStaff,
    form: PostedForm,
) -> HTMLResponse:
    """The selected steps changed, one result per step; a form wrong as a whole (nothing
    selected, no assignee or date) changes nothing and says why."""
    back = _dashboard_address(form)
    try:
        items = _selected(session, caller.user.id, form)
        bulk.check_items(items)
        action = ACTIONS.get(text(form, "action"))
        if action is None:
            raise invalid("action", "choose what to do with the selected steps")
        change = bulk.checked_change(session, action, **_inputs_of(action, form))
        results = await bulk.apply(session, temporal, settings, caller, change, items)
    except Refused as error:
        return page(
            request, "bulk_results.html", status_of(error),
            caller=caller, section="processes", problem=work.problem(error), rows=[],
            done=0, back=back,
        )  # fmt: skip
    rows = _described(session, results)
    return page(
        request, "bulk_results.html",
        caller=caller, section="processes", problem=None, rows=rows,
        done=sum(1 for row in rows if row["status"] == 200), back=back, action=action,
    )  # fmt: skip


def _selected(session: Session, user_id: uuid.UUID, form: FormData) -> list[BulkItem]:
    """The rows ticked (`process_id:step_key`), and with "all" every open step the filter
    shows (on every page); each step once."""
    items: list[BulkItem] = []
    for value in form.getlist("step"):
        process_id, _colon, key = str(value).partition(":")
        try:
            items.append(BulkItem(process_id=uuid.UUID(process_id), step_key=key))
        except (ValueError, ValidationError):
            raise invalid("step", "a selected step is not one the dashboard showed") from None
    if checked(form, "all"):
        matching = bulk.open_steps(
            session,
            holder=Holder.from_choice(text(form, "holder")),
            contact_user_id=user_id if checked(form, "mine") else None,
            test=checked(form, "test"),
        )
        if len(matching) > MAX_ITEMS:
            raise invalid(
                "items",
                f"more than {MAX_ITEMS} open steps match the filter: narrow it (to one "
                "partner, say) or tick the steps one by one",
            )
        items += matching
    unique = {(item.process_id, item.step_key): item for item in reversed(items)}
    return list(reversed(unique.values()))


def _inputs_of(action: BulkAction, form: FormData) -> dict[str, Any]:
    """The form's input for the chosen action only: the others' inputs are on the page too."""
    inputs: dict[str, Any] = {"assignee": None, "due_at": None, "reason": ""}
    match action:
        case "reassign":
            choice = assignees.from_handover_choice(text(form, "assignee"))
            if choice is not None:
                try:
                    inputs["assignee"] = _ASSIGNEE.validate_python(choice)
                except ValidationError:
                    raise invalid("assignee", "choose whom to hand the steps to") from None
        case "set_deadline":
            inputs["due_at"] = text(form, "due_at").strip() or None
        case "skip":
            inputs["reason"] = text(form, "reason")
    return inputs


def _described(session: Session, results: list[BulkResult]) -> list[dict[str, Any]]:
    """Each result with its case's title and its step's name, as the dashboard names them."""
    process_ids = {result.process_id for result in results}
    names = {
        (process_id, key): (name, title)
        for process_id, key, name, title in session.exec(
            select(ProcessStep.process_id, ProcessStep.key, ProcessStep.name, Opportunity.title)
            .join(Process, col(Process.id) == ProcessStep.process_id)
            .join(Opportunity, col(Opportunity.id) == Process.opportunity_id)
            .where(col(ProcessStep.process_id).in_(process_ids))
        )
    }
    rows = []
    for result in results:
        name, title = names.get((result.process_id, result.step_key), (result.step_key, ""))
        rows.append(
            {
                "process_id": result.process_id,
                "step_key": result.step_key,
                "step": name,
                "title": title,
                "status": result.status,
                "outcome": _(OUTCOMES[result.status])
                if result.status in OUTCOMES
                else str(result.status),
                "detail": refusal_text(result.detail) if result.detail else result.detail,
            }
        )
    return rows


def _dashboard_address(form: FormData) -> str:
    """Back to the dashboard with the filter the form was sent from."""
    query = {"holder": text(form, "holder")} if text(form, "holder") else {}
    query |= {name: "true" for name in ("mine", "test") if checked(form, name)}
    return "/processes" + (f"?{urlencode(query)}" if query else "")
