"""The builder's steps: one step's editor, and saving a changed list of steps."""

import uuid
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.deps import SessionDep
from api.web import condition_form
from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.refusals import (
    FormErrors,
    Loc,
    PostedForm,
    Refusal,
    context,
    refusals,
    sorted_out,
    status_of,
)
from api.web.session import CsrfChecked, WebStaff
from api.web.step_form import FIELD_TYPES, StepForm
from api.web.templating import page
from api.web.views import flashed
from partnerflow import assignees, process_templates
from partnerflow.callers import Caller
from partnerflow.models import EmailTemplate, Partner, User
from partnerflow.process_templates import ProcessTemplateCreate, ProcessTemplatePublic
from partnerflow.refusals import Refused, invalid, not_found
from partnerflow.spec import FromFieldDeadline, StepSpec

router = APIRouter(include_in_schema=False)

FLASHES = {"added": N_("Step added: give it its name and what it needs, then save it.")}
DEADLINE_KIND_CHOICES = [
    ("", N_("None")),
    ("after", N_("After a duration")),
    ("business_days", N_("Business days")),
    ("from_field", N_("From a date field of an earlier step")),
]


def template_of(session: Session, template_id: str) -> ProcessTemplatePublic:
    """The template of a page's address; a malformed id is as unknown as a missing one."""
    try:
        key = uuid.UUID(template_id)
    except ValueError:
        raise not_found("process template") from None
    return process_templates.get(session, key)


def save_steps(
    session: Session, template: ProcessTemplatePublic, steps: list[StepSpec]
) -> ProcessTemplatePublic:
    """The template with these steps and its settings as they are; the service checks it all."""
    body = ProcessTemplateCreate(
        name=template.name,
        description=template.description,
        language=template.language,
        timezone=template.timezone,
        contact_user_id=template.contact_user_id,
        steps=steps,
    )
    return process_templates.update(session, template.id, body)


def company_users(session: Session) -> list[User]:
    statement = select(User).where(col(User.partner_id).is_(None), col(User.active).is_(True))
    return list(session.exec(statement.order_by(User.name)))


def step_position(template: ProcessTemplatePublic, index: str) -> int:
    if not index.isdecimal() or int(index) >= len(template.steps):
        raise Refused("not_found", "the template has no such step")
    return int(index)


@router.get("/builder/{template_id}/steps/{index}")
def step_editor(
    request: Request,
    template_id: str,
    index: str,
    session: SessionDep,
    caller: WebStaff,
    flash: str | None = None,
) -> HTMLResponse:
    template = template_of(session, template_id)
    position = step_position(template, index)
    form = StepForm.of(template.steps[position], condition_form.field_kinds(template.steps))
    message = flashed(FLASHES, flash)
    return _step_page(request, session, caller, template, position, form, flash=message)


@router.post("/builder/{template_id}/steps/{index}", dependencies=[CsrfChecked])
def save_step(
    request: Request,
    template_id: str,
    index: str,
    session: SessionDep,
    caller: WebStaff,
    posted: PostedForm,
) -> Response:
    template = template_of(session, template_id)
    position = step_position(template, index)
    form = StepForm.posted(posted)
    original = template.steps[position]
    where = ("steps", position)
    try:
        step = form.spec(where, original.description, condition_form.field_kinds(template.steps))
        if step.key != original.key and any(s.key == step.key for s in template.steps):
            raise invalid((*where, "key"), "Another step of this process has this key.")
        save_steps(session, template, _with_step(template.steps, position, step))
    except ExceptionGroup as refused:  # the form's own: every input at fault at once
        found = [r for e in refused.exceptions if isinstance(e, Refused) for r in refusals(e)]
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
    except (Refused, ValidationError) as error:
        found, code = refusals(error), status_of(error)
    else:
        return RedirectResponse(f"/builder/{template.id}?flash=step_saved", status_code=303)

    def input_for(loc: Loc) -> str | None:
        return form.input_for(loc[2:]) if loc[:2] == where else None

    errors = sorted_out(found, input_for)
    return _step_page(request, session, caller, template, position, form, errors, code)


@router.post("/builder/{template_id}/steps/{index}/delete", dependencies=[CsrfChecked])
def delete_step(
    request: Request, template_id: str, index: str, session: SessionDep, caller: WebStaff
) -> Response:
    template = template_of(session, template_id)
    position = step_position(template, index)
    steps = [step for n, step in enumerate(template.steps) if n != position]
    if not steps:
        found = [Refusal((), _("A process needs a step: add another before deleting this one."))]
        code = status.HTTP_409_CONFLICT
    else:
        try:
            save_steps(session, template, steps)
        except (Refused, ValidationError) as error:
            found, code = refusals(error), status_of(error)
        else:
            return RedirectResponse(f"/builder/{template.id}?flash=step_deleted", status_code=303)
    form = StepForm.of(template.steps[position], condition_form.field_kinds(template.steps))
    errors = sorted_out(found, lambda _: None)
    return _step_page(request, session, caller, template, position, form, errors, code)


def _with_step(steps: list[StepSpec], position: int, step: StepSpec) -> list[StepSpec]:
    """The steps with this one replaced; a new key is renamed where the others name it."""
    old, new = steps[position].key, step.key
    changed = []
    for n, other in enumerate(steps):
        if n == position:
            changed.append(step)
            continue
        if new != old and other.requires is not None:
            other = other.model_copy(
                update={"requires": [new if key == old else key for key in other.requires]}
            )
        deadline = other.deadline
        if isinstance(deadline, FromFieldDeadline) and new != old == deadline.from_field.step:
            source = deadline.from_field.model_copy(update={"step": new})
            other = other.model_copy(
                update={"deadline": deadline.model_copy(update={"from_field": source})}
            )
        changed.append(other)
    return changed


def _step_page(
    request: Request,
    session: Session,
    caller: Caller,
    template: ProcessTemplatePublic,
    position: int,
    form: StepForm,
    errors: FormErrors | None = None,
    status_code: int = 200,
    flash: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        "builder_step.html",
        status_code,
        caller=caller,
        section="builder",
        flash=flash,
        template=template,
        position=position,
        step=template.steps[position],
        form=form,
        field_types=FIELD_TYPES,
        **_choices(session, template, position, form),
        **context(errors),
    )


def _choices(
    session: Session, template: ProcessTemplatePublic, position: int, form: StepForm
) -> dict[str, Any]:
    """What the selects offer; a saved choice no longer offered is kept as it is."""
    others = [step for n, step in enumerate(template.steps) if n != position]
    partners = [
        (str(p.id), p.name)
        for p in session.exec(
            select(Partner).where(Partner.status == "active").order_by(Partner.name)
        )
    ]
    users = [(str(u.id), u.name) for u in company_users(session)]
    emails = [
        (str(e.id), f"{e.name} ({e.language})")
        for e in session.exec(select(EmailTemplate).order_by(EmailTemplate.name))
    ]
    slots = sorted(
        {s.assignee.slot for s in template.steps if s.assignee.type == "partner_slot"}
        | ({form.slot.strip()} - {""})
    )
    # an offer's partners: those checked in their order (a ranked offer's), then the others
    offered = [p for p in dict.fromkeys(form.offer_partners) if p]
    gone = _("(no longer active)")
    offer_partners = [(value, dict(partners).get(value, gone), True) for value in offered]
    offer_partners += [(value, label, False) for value, label in partners if value not in offered]
    for value, choices in ((form.partner_id, partners), (form.user_id, users)):
        if value and value not in dict(choices):
            choices.append((value, gone))
    if form.handover_email and form.handover_email not in dict(emails):
        emails.append((form.handover_email, _("(deleted e-mail template)")))
    escalation_choices = assignees.handover_choices(slots, partners, users)
    if form.escalation_to and form.escalation_to not in dict(escalation_choices):
        escalation_choices.append((form.escalation_to, gone))
    requires = form.requires if form.requires_mode == "listed" else None
    condition_fields = condition_form.field_choices(
        template.steps, position, requires, [row.field for row in form.conditions]
    )
    reviewers = [("", _("No review")), ("contact", _("The contact person"))]
    reviewers += [(f"user:{value}", label) for value, label in users]
    if form.review_by and form.review_by not in dict(reviewers):
        reviewers.append((form.review_by, gone))
    date_fields = [
        (f"{step.key}.{spec.key}", f"{step.name} › {spec.label}")
        for step in others
        for spec in step.fields
        if spec.type in ("date", "datetime")
    ]
    if form.date_field and form.date_field not in dict(date_fields):
        date_fields.append(
            (
                form.date_field,
                _("%(field)s (not a date field of a step)") % {"field": form.date_field},
            )
        )
    return {
        "assignee_kinds": [
            (kind, assignees.kind_in_words(kind)) for kind, _english in assignees.FORM_KINDS
        ],
        "offer_sources": [(value, _(label)) for value, label in assignees.OFFER_SOURCES],
        "offer_modes": [(value, _(label)) for value, label in assignees.OFFER_MODES],
        "offer_partner_choices": offer_partners,
        "other_steps": [(step.key, step.name) for step in others],
        "partners": partners,
        "users": users,
        "emails": emails,
        "escalation_choices": escalation_choices,
        "date_fields": date_fields,
        "condition_fields": condition_fields,
        "condition_ops": [(op, _(label)) for op, label in condition_form.OP_CHOICES],
        "reviewers": reviewers,
        "deadline_kinds": [(kind, _(label)) for kind, label in DEADLINE_KIND_CHOICES],
    }
