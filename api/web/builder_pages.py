"""The process builder's pages: the templates, one template's settings and steps, publishing.

Every change goes through the template services (partnerflow/process_templates.py), as the
JSON API's do; a refusal is shown beside the input it names, or above the form.
"""

import re
import unicodedata
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import Pagination, SessionDep
from api.listing import fetch_page
from api.web import builder_steps
from api.web.builder_steps import company_users, save_steps, step_position, template_of
from api.web.i18n import N_, ngettext
from api.web.i18n import gettext as _
from api.web.refusals import (
    FormErrors,
    Loc,
    PostedForm,
    context,
    refusals,
    sorted_out,
    status_of,
    text,
)
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page
from api.web.views import flashed
from partnerflow import assignees, diagram, process_templates
from partnerflow.callers import Caller
from partnerflow.process_templates import ProcessTemplateCreate, ProcessTemplatePublic
from partnerflow.refusals import Refused
from partnerflow.settings import get_settings
from partnerflow.spec import (
    AfterDeadline,
    BusinessDaysDeadline,
    ContactAssignee,
    FromFieldDeadline,
    StepSpec,
    parse_duration,
)

router = APIRouter(include_in_schema=False)
router.include_router(builder_steps.router)

# Fixed texts: a flash is chosen by key, never taken from the address.
FLASHES = {
    "created": N_("Process created. Add its steps, then publish it."),
    "duplicated": N_("This is the copy, a new draft: change it and publish it when it is ready."),
    "archived": N_("Archived: it starts no new processes; running ones finish on their version."),
    "saved": N_("Settings saved."),
    "step_saved": N_("Step saved."),
    "step_deleted": N_("Step deleted."),
    "step_moved": N_("Step moved up."),
    "published": N_("Published version {version}."),
    "unchanged": N_("Nothing changed since version {version}: there is nothing new to publish."),
}
SETTINGS = ("name", "description", "language", "timezone", "contact_user_id")


@router.get("/builder")
def builder_list(
    request: Request,
    session: SessionDep,
    caller: WebStaff,
    archived: str = "",
    flash: str | None = None,
) -> HTMLResponse:
    found, count = fetch_page(session, process_templates.listed(), Pagination(limit=500, offset=0))
    listed = [process_templates.public(t) for t in found]
    with_archived = archived == "1"
    rows = [t for t in listed if with_archived or t.status != "archived"]
    return page(
        request,
        "builder_list.html",
        caller=caller,
        section="builder",
        flash=flashed(FLASHES, flash),
        rows=rows,
        with_archived=with_archived,
        archived_count=sum(t.status == "archived" for t in listed),
        more=count - len(listed),
    )


@router.post("/builder/{template_id}/duplicate", dependencies=[CsrfChecked])
def duplicate(template_id: str, session: SessionDep, caller: WebStaff) -> Response:
    original = template_of(session, template_id)
    duplicated = process_templates.duplicate(session, original.id)
    return RedirectResponse(f"/builder/{duplicated.id}?flash=duplicated", status_code=303)


@router.post("/builder/{template_id}/archive", dependencies=[CsrfChecked])
def archive(template_id: str, session: SessionDep, caller: WebStaff) -> Response:
    template = template_of(session, template_id)
    process_templates.archive(session, template.id)
    return RedirectResponse("/builder?flash=archived", status_code=303)


@router.get("/builder/new")
def new_form(request: Request, session: SessionDep, caller: WebStaff) -> HTMLResponse:
    settings = {
        "name": "",
        "description": "",
        "language": "de",
        "timezone": get_settings().default_timezone,
        "contact_user_id": str(caller.user.id),
    }
    return _new_page(request, session, caller, settings, "")


@router.post("/builder/new", dependencies=[CsrfChecked])
def create(request: Request, session: SessionDep, caller: WebStaff, posted: PostedForm) -> Response:
    settings = _posted_settings(posted)
    first_step = text(posted, "first_step").strip()
    try:
        step = {"key": _key_of(first_step), "name": first_step, "assignee": {"type": "contact"}}
        body = ProcessTemplateCreate.model_validate({**_settings_body(settings), "steps": [step]})
        created = process_templates.create(session, body, caller.user)
    except (Refused, ValidationError) as error:

        def input_for(loc: Loc) -> str | None:
            return "first_step" if loc[:1] == ("steps",) else _settings_input(loc)

        errors = sorted_out(refusals(error), input_for)
        return _new_page(request, session, caller, settings, first_step, errors, status_of(error))
    return RedirectResponse(f"/builder/{created.id}?flash=created", status_code=303)


@router.get("/builder/{template_id}")
def editor(
    request: Request,
    template_id: str,
    session: SessionDep,
    caller: WebStaff,
    flash: str | None = None,
) -> HTMLResponse:
    template = template_of(session, template_id)
    said = flashed(FLASHES, flash)
    message = said.format(version=template.published_version or 0) if said else None
    return _editor(request, session, caller, template, _settings_of(template), flash=message)


@router.post("/builder/{template_id}", dependencies=[CsrfChecked])
def save_settings(
    request: Request, template_id: str, session: SessionDep, caller: WebStaff, posted: PostedForm
) -> Response:
    template = template_of(session, template_id)
    settings = _posted_settings(posted)
    try:
        body = ProcessTemplateCreate.model_validate(
            {**_settings_body(settings), "steps": template.steps}
        )
        process_templates.update(session, template.id, body)
    except (Refused, ValidationError) as error:
        errors = sorted_out(refusals(error), _settings_input)
        return _editor(request, session, caller, template, settings, errors, status_of(error))
    return RedirectResponse(f"/builder/{template.id}?flash=saved", status_code=303)


@router.post("/builder/{template_id}/steps", dependencies=[CsrfChecked])
def add_step(request: Request, template_id: str, session: SessionDep, caller: WebStaff) -> Response:
    """A step named "New step" at the end, for the contact person; its editor opens."""
    template = template_of(session, template_id)
    keys = {step.key for step in template.steps}
    number = len(template.steps) + 1
    while f"step_{number}" in keys:
        number += 1
    # the name in the reader's language: it is theirs to change
    step = StepSpec(
        key=f"step_{number}", name=_("New step"), assignee=ContactAssignee(type="contact")
    )
    refused = _saved(session, template, [*template.steps, step])
    if refused:
        return _editor(request, session, caller, template, _settings_of(template), *refused)
    location = f"/builder/{template.id}/steps/{len(template.steps)}?flash=added"
    return RedirectResponse(location, status_code=303)


@router.post("/builder/{template_id}/steps/{index}/move-up", dependencies=[CsrfChecked])
def move_up(
    request: Request, template_id: str, index: str, session: SessionDep, caller: WebStaff
) -> Response:
    template = template_of(session, template_id)
    position = step_position(template, index)
    if position == 0:
        return RedirectResponse(f"/builder/{template.id}", status_code=303)
    steps = list(template.steps)
    steps[position - 1], steps[position] = steps[position], steps[position - 1]
    refused = _saved(session, template, steps)
    if refused:
        return _editor(request, session, caller, template, _settings_of(template), *refused)
    return RedirectResponse(f"/builder/{template.id}?flash=step_moved", status_code=303)


@router.post("/builder/{template_id}/publish", dependencies=[CsrfChecked])
def publish(request: Request, template_id: str, session: SessionDep, caller: WebStaff) -> Response:
    template = template_of(session, template_id)
    try:
        process_templates.publish(session, template.id)
    except Refused as error:
        errors = sorted_out(refusals(error), lambda _: None)
        settings = _settings_of(template)
        return _editor(request, session, caller, template, settings, errors, status_of(error))
    # Nothing new is published when the draft is the published version.
    flash = "published" if template.draft_pending else "unchanged"
    return RedirectResponse(f"/builder/{template.id}?flash={flash}", status_code=303)


def _saved(
    session: Session, template: ProcessTemplatePublic, steps: list[StepSpec]
) -> tuple[FormErrors, int] | None:
    """None when saved; else the refusal (above the form) and its status."""
    try:
        save_steps(session, template, steps)
    except (Refused, ValidationError) as error:
        return sorted_out(refusals(error), lambda _: None), status_of(error)
    return None


def _posted_settings(posted: FormData) -> dict[str, str]:
    return {name: text(posted, name) for name in SETTINGS}


def _settings_of(template: ProcessTemplatePublic) -> dict[str, str]:
    return {name: str(getattr(template, name)) for name in SETTINGS}


def _settings_body(settings: dict[str, str]) -> dict[str, Any]:
    return {
        "name": settings["name"].strip(),
        "description": settings["description"].strip(),
        "language": settings["language"],
        "timezone": settings["timezone"].strip(),
        "contact_user_id": settings["contact_user_id"] or None,
    }


def _settings_input(loc: Loc) -> str | None:
    return str(loc[0]) if loc[:1] and loc[0] in SETTINGS else None


def _key_of(name: str) -> str:
    """A step key from its name: "Termin vereinbaren" → "termin_vereinbaren"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[:64].rstrip("_")
    return key or "step_1"


def _new_page(
    request: Request,
    session: Session,
    caller: Caller,
    settings: dict[str, str],
    first_step: str,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "builder_new.html",
        status_code,
        caller=caller,
        section="builder",
        settings=settings,
        first_step=first_step,
        users=_contacts(session, settings["contact_user_id"]),
        **context(errors),
    )


def _contacts(session: Session, chosen: str) -> list[tuple[str, str]]:
    """The company's active users; the chosen one stays offered when no longer active."""
    users = [(str(u.id), u.name) for u in company_users(session)]
    if chosen and chosen not in dict(users):
        users.append((chosen, _("(no longer active)")))
    return users


def _editor(
    request: Request,
    session: Session,
    caller: Caller,
    template: ProcessTemplatePublic,
    settings: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "builder_editor.html",
        status_code,
        caller=caller,
        section="builder",
        flash=flash,
        template=template,
        settings=settings,
        users=_contacts(session, settings["contact_user_id"]),
        steps=_in_words(session, template.steps),
        diagram=diagram.draw(template.steps),
        diagram_lines=diagram.described(template.steps),
        **context(errors),
    )


def _in_words(session: Session, steps: list[StepSpec]) -> list[dict[str, Any]]:
    """Each step as the editor's list says it: who does it, by when, after what."""
    names = assignees.names_of(session, *assignees.named_ids(s.assignee for s in steps))
    described = []
    for position, step in enumerate(steps):
        if step.requires is None:
            after = _("the step before") if position else _("nothing: opens at the start")
        else:
            after = ", ".join(step.requires) or _("nothing: opens at the start")
        described.append(
            {
                "name": step.name,
                "key": step.key,
                "who": assignees.in_words(step.assignee, names),
                "due": _deadline_words(step),
                "after": after,
                "when": diagram.condition_words(step),
                "review": diagram.review_words(step),
            }
        )
    return described


def _deadline_words(step: StepSpec) -> str:
    deadline = step.deadline
    if isinstance(deadline, AfterDeadline):
        if deadline.from_ == "activation":
            return _("%(duration)s after the step opens") % {
                "duration": _duration_words(deadline.after)
            }
        return _("%(duration)s after the process starts") % {
            "duration": _duration_words(deadline.after)
        }
    if isinstance(deadline, BusinessDaysDeadline):
        said = {"num": deadline.business_days, "region": deadline.region}
        if deadline.from_ == "activation":
            return (
                ngettext(
                    "%(num)d business day (%(region)s) after the step opens",
                    "%(num)d business days (%(region)s) after the step opens",
                    deadline.business_days,
                )
                % said
            )
        return (
            ngettext(
                "%(num)d business day (%(region)s) after the process starts",
                "%(num)d business days (%(region)s) after the process starts",
                deadline.business_days,
            )
            % said
        )
    if isinstance(deadline, FromFieldDeadline):
        source = _("the date %(field)s") % {
            "field": f"{deadline.from_field.step}.{deadline.from_field.field}"
        }
        offset = _duration_words(deadline.offset)
        return source if offset == _("no time") else f"{source} + {offset}"
    return _("none")


def _duration_words(duration: str) -> str:
    """ "P1DT12H" → "1 day 12 hours"; what does not parse is shown as it is."""
    try:
        parsed = parse_duration(duration)
    except ValueError:
        return duration
    hours, seconds = divmod(round(parsed.seconds), 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        (parsed.years, ngettext("%(num)d year", "%(num)d years", parsed.years)),
        (parsed.months, ngettext("%(num)d month", "%(num)d months", parsed.months)),
        (parsed.days, ngettext("%(num)d day", "%(num)d days", parsed.days)),
        (hours, ngettext("%(num)d hour", "%(num)d hours", hours)),
        (minutes, ngettext("%(num)d minute", "%(num)d minutes", minutes)),
        (seconds, ngettext("%(num)d second", "%(num)d seconds", seconds)),
    ]
    words = [text % {"num": amount} for amount, text in parts if amount]
    return " ".join(words) or _("no time")
