"""Process templates: drafts, published versions, archiving, replacing; what a saved template
must satisfy, and the snapshot a process runs on.

The JSON API (api/routes/process_templates.py) and the builder's pages both call these;
a refusal is `Refused`, with `loc` the path into the template's body.
"""

import copy
import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field
from sqlalchemy import delete as delete_rows
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from partnerflow.assignees import check_offers, check_references
from partnerflow.conditions import check_when, steps_before
from partnerflow.db import utcnow
from partnerflow.models import (
    Automation,
    EmailTemplate,
    Process,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.refusals import conflict, invalid, not_found
from partnerflow.settings import get_settings
from partnerflow.spec import (
    AfterDeadline,
    BusinessDaysDeadline,
    FromFieldDeadline,
    Language,
    StepSpec,
    TemplateSnapshot,
    UserAssignee,
    parse_duration,
    resolve_requires,
)
from workflows.deadlines import check_region

TemplateStatus = Literal["draft", "published", "archived"]


class ProcessTemplateCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    language: Language = "de"
    timezone: str = Field(default_factory=lambda: get_settings().default_timezone, max_length=64)
    contact_user_id: uuid.UUID | None = None
    steps: list[StepSpec] = Field(min_length=1, max_length=200)


class ProcessTemplatePublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    language: str
    timezone: str
    contact_user_id: uuid.UUID
    steps: list[StepSpec]
    status: TemplateStatus
    published_version: int | None
    draft_pending: bool
    created_at: datetime
    updated_at: datetime


class ReplaceResult(BaseModel):
    replaced_automations: list[uuid.UUID]
    running_processes: int = Field(
        description="real (not test) processes of the old template still running; they "
        "finish on their version"
    )
    archived: bool


class VersionPublic(BaseModel):
    version: int
    created_at: datetime


class VersionDetail(VersionPublic):
    steps: list[StepSpec]


def public(template: ProcessTemplate) -> ProcessTemplatePublic:
    if template.archived:
        state: TemplateStatus = "archived"
    else:
        state = "published" if template.published_version is not None else "draft"
    return ProcessTemplatePublic(**{**template.model_dump(), "status": state})


def listed(
    name: str | None = None, status: TemplateStatus | None = None
) -> SelectOfScalar[ProcessTemplate]:
    """The templates by name: those whose name contains `name`, in `status`."""
    statement = select(ProcessTemplate).order_by(ProcessTemplate.name)
    if name:
        statement = statement.where(func.lower(ProcessTemplate.name).contains(name.lower()))
    if status == "archived":
        statement = statement.where(col(ProcessTemplate.archived).is_(True))
    elif status is not None:
        statement = statement.where(col(ProcessTemplate.archived).is_(False))
        published = col(ProcessTemplate.published_version)
        statement = statement.where(
            published.is_not(None) if status == "published" else published.is_(None)
        )
    return statement


def get(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    return public(_get(session, template_id))


def create(session: Session, body: ProcessTemplateCreate, author: User) -> ProcessTemplatePublic:
    """A new draft; its contact person is the author unless the body names one."""
    _check(session, body)
    template = ProcessTemplate(
        **body.model_dump(mode="json", exclude={"contact_user_id", "steps"}),
        contact_user_id=body.contact_user_id or author.id,
        steps=_stored_steps(body.steps),
    )
    session.add(template)
    session.commit()
    return public(template)


def update(
    session: Session, template_id: uuid.UUID, body: ProcessTemplateCreate
) -> ProcessTemplatePublic:
    """Replace the content. A published version stays as it was; this becomes the draft."""
    template = _get(session, template_id)
    if template.archived:
        raise conflict("an archived template cannot be edited")
    _check(session, body)
    for name, value in body.model_dump(mode="json", exclude={"contact_user_id", "steps"}).items():
        setattr(template, name, value)
    if body.contact_user_id is not None:
        template.contact_user_id = body.contact_user_id
    template.steps = _stored_steps(body.steps)
    template.draft_pending = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def delete(session: Session, template_id: uuid.UUID) -> None:
    """Gone with its versions, unless a process ran on it or an automation starts it."""
    template = _get(session, template_id)
    started = session.exec(
        select(func.count()).select_from(Process).where(Process.template_id == template.id)
    ).one()
    if started:
        raise conflict(f"{started} processes ran on this template; archive it instead")
    starting = session.exec(
        select(func.count()).select_from(Automation).where(Automation.template_id == template.id)
    ).one()
    if starting:
        raise conflict(f"{starting} automations start this template; point them elsewhere first")
    session.execute(
        delete_rows(ProcessTemplateVersion).where(
            col(ProcessTemplateVersion.template_id) == template.id
        )
    )
    session.delete(template)
    session.commit()


def archive(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    """Archived templates start nothing; running processes finish on their version."""
    template = _get(session, template_id)
    template.archived = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def duplicate(
    session: Session, template_id: uuid.UUID, name: str | None = None
) -> ProcessTemplatePublic:
    """A new, independent draft with every step of the original's current content."""
    original = _get(session, template_id)
    copied = ProcessTemplate(
        name=name or f"{original.name} (copy)"[:200],
        description=original.description,
        language=original.language,
        timezone=original.timezone,
        contact_user_id=original.contact_user_id,
        steps=copy.deepcopy(original.steps),
    )
    session.add(copied)
    session.commit()
    return public(copied)


def publish(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    """The draft as the next version; nothing new when the draft is the published version."""
    template = _get(session, template_id)
    if template.archived:
        raise conflict("an archived template cannot be published")
    if not template.draft_pending:
        return public(template)
    # What the steps name may have gone since the draft was saved: check again.
    _check(session, ProcessTemplateCreate.model_validate(template.model_dump()))
    latest = session.exec(
        select(func.max(ProcessTemplateVersion.version)).where(
            ProcessTemplateVersion.template_id == template.id
        )
    ).one()
    version = (latest or 0) + 1
    frozen = snapshot(template, version)
    session.add(
        ProcessTemplateVersion(
            template_id=template.id, version=version, snapshot=frozen.model_dump(mode="json")
        )
    )
    template.published_version = version
    template.draft_pending = False
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def replace(
    session: Session, template_id: uuid.UUID, replacement_id: uuid.UUID, archive_old: bool
) -> ReplaceResult:
    """Point every automation that starts this template at the replacement, in one go."""
    old = _get(session, template_id)
    if replacement_id == template_id:
        raise invalid("replacement_id", "a template cannot replace itself")
    replacement = session.get(ProcessTemplate, replacement_id)
    if replacement is None:
        raise invalid("replacement_id", "no process template with this id")
    if replacement.archived or replacement.published_version is None:
        raise conflict("the replacement must be published (and not archived)")
    automations = session.exec(
        select(Automation).where(Automation.template_id == template_id)
    ).all()
    for automation in automations:
        automation.template_id = replacement.id
        automation.updated_at = utcnow()
        session.add(automation)
    if archive_old:
        old.archived = True
        old.updated_at = utcnow()
        session.add(old)
    running = session.exec(
        select(func.count())
        .select_from(Process)
        .where(
            Process.template_id == template_id,
            Process.status == "running",
            col(Process.test).is_(False),
        )
    ).one()
    session.commit()
    return ReplaceResult(
        replaced_automations=[a.id for a in automations],
        running_processes=running,
        archived=old.archived,
    )


def versions(session: Session, template_id: uuid.UUID) -> SelectOfScalar[ProcessTemplateVersion]:
    """The template's published versions, oldest first."""
    _get(session, template_id)
    return (
        select(ProcessTemplateVersion)
        .where(ProcessTemplateVersion.template_id == template_id)
        .order_by(col(ProcessTemplateVersion.version))
    )


def public_version(row: ProcessTemplateVersion) -> VersionPublic:
    return VersionPublic(version=row.version, created_at=row.created_at)


def get_version(session: Session, template_id: uuid.UUID, version: int) -> VersionDetail:
    """Version `version` as published: the steps it runs."""
    row = published_version(session, template_id, version)
    if row is None:
        raise not_found("version")
    return VersionDetail(
        version=row.version, created_at=row.created_at, steps=row.snapshot["steps"]
    )


def _get(session: Session, template_id: uuid.UUID) -> ProcessTemplate:
    template = session.get(ProcessTemplate, template_id)
    if template is None:
        raise not_found("process template")
    return template


def _check(session: Session, body: ProcessTemplateCreate) -> None:
    check_timezone(body.timezone)
    check_steps(session, body.steps)
    if body.contact_user_id is not None:
        contact = session.get(User, body.contact_user_id)
        if contact is None or contact.partner_id is not None:
            raise invalid("contact_user_id", "no user of the company with this id")


def _stored_steps(steps: list[StepSpec]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json", exclude_none=True) for step in steps]


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise invalid(["timezone"], f"unknown time zone '{name}'") from error


def check_steps(session: Session, steps: list[StepSpec]) -> None:
    """Refuse (`Refused`, kind "invalid", `loc` the path into the body), naming the step and
    the field, what would make a process unable to run."""
    positions: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.key in positions:
            raise invalid(["steps", index, "key"], f"step '{step.key}': duplicate step key")
        positions[step.key] = index
        seen_fields: set[str] = set()
        for f_index, spec in enumerate(step.fields):
            where: list[str | int] = ["steps", index, "fields", f_index]
            if spec.key in seen_fields:
                raise invalid([*where, "key"], f"step '{step.key}': duplicate field '{spec.key}'")
            seen_fields.add(spec.key)
            if spec.type == "choice" and not spec.options:
                raise invalid(
                    [*where, "options"],
                    f"step '{step.key}', field '{spec.key}': a choice needs options",
                )
    resolved = resolve_requires(steps)
    for index, step in enumerate(resolved):
        for required in step.requires or []:
            if required not in positions:
                raise invalid(
                    ["steps", index, "requires"],
                    f"step '{step.key}': requires unknown step '{required}'",
                )
    _check_acyclic(resolved)
    for index, step in enumerate(resolved):
        _check_deadline(index, step, resolved)
        check_when(index, step, resolved)
    check_offers(steps)
    check_references(session, steps)
    for index, step in enumerate(steps):
        check_review(session, index, step)
    _check_emails(session, steps)


def _duration(loc: list[str | int], step: StepSpec, field: str, text: str) -> None:
    try:
        parse_duration(text)
    except ValueError as error:
        raise invalid(loc, f"step '{step.key}', {field}: {error}") from error


def _earlier_steps(key: str, steps: list[StepSpec]) -> set[str]:
    """Every step that must finish before `key` opens: its requirements, transitively."""
    return steps_before(key, steps)


def check_review(session: Session, index: int, step: StepSpec) -> None:
    """Refuse a review by a named user who is not an active user of the company (a partner's
    user reviews nothing)."""
    if step.review is None or not isinstance(step.review.by, UserAssignee):
        return
    reviewer = session.get(User, step.review.by.user_id)
    if reviewer is None or reviewer.partner_id is not None or not reviewer.active:
        raise invalid(
            ["steps", index, "review", "by", "user_id"],
            f"step '{step.key}', review.by.user_id: no active user of the company with id "
            f"{step.review.by.user_id}",
        )


def _check_deadline(index: int, step: StepSpec, steps: list[StepSpec]) -> None:
    where: list[str | int] = ["steps", index]
    deadline = step.deadline
    if isinstance(deadline, AfterDeadline):
        _duration([*where, "deadline", "after"], step, "deadline.after", deadline.after)
    elif isinstance(deadline, BusinessDaysDeadline):
        try:
            check_region(deadline.region)
        except ValueError as error:
            raise invalid(
                [*where, "deadline", "region"], f"step '{step.key}', deadline.region: {error}"
            ) from error
    elif isinstance(deadline, FromFieldDeadline):
        _duration([*where, "deadline", "offset"], step, "deadline.offset", deadline.offset)
        ref = deadline.from_field
        loc: list[str | int] = [*where, "deadline", "from_field"]
        if ref.step not in _earlier_steps(step.key, steps):
            raise invalid(
                [*loc, "step"],
                f"step '{step.key}', deadline.from_field: step '{ref.step}' does not finish "
                "before this one (name it in requires)",
            )
        source = next(s for s in steps if s.key == ref.step)
        spec = next((f for f in source.fields if f.key == ref.field), None)
        if spec is None or spec.type not in ("date", "datetime"):
            raise invalid(
                [*loc, "field"],
                f"step '{step.key}', deadline.from_field: step '{ref.step}' has no date field "
                f"'{ref.field}'",
            )
    for r_index, reminder in enumerate(step.reminders):
        _duration([*where, "reminders", r_index], step, f"reminders[{r_index}]", reminder)
    if (step.reminders or step.escalation) and deadline is None:
        field = "reminders" if step.reminders else "escalation"
        raise invalid([*where, field], f"step '{step.key}', {field}: the step has no deadline")
    if step.escalation and step.escalation.grace:
        _duration([*where, "escalation", "grace"], step, "escalation.grace", step.escalation.grace)


def _check_acyclic(steps: list[StepSpec]) -> None:
    requires = {step.key: list(step.requires or []) for step in steps}
    index = {step.key: i for i, step in enumerate(steps)}
    state: dict[str, str] = {}

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            cycle = " → ".join([*path[path.index(key) :], key])
            raise invalid(["steps", index[key], "requires"], f"step '{key}': cycle {cycle}")
        state[key] = "visiting"
        for required in requires[key]:
            visit(required, [*path, key])
        state[key] = "done"

    for step in steps:
        visit(step.key, [])


def _check_emails(session: Session, steps: list[StepSpec]) -> None:
    email_ids = {step.on_activate_email for step in steps if step.on_activate_email}
    known = (
        set(session.exec(select(EmailTemplate.id).where(col(EmailTemplate.id).in_(email_ids))))
        if email_ids
        else set()
    )
    for index, step in enumerate(steps):
        if step.on_activate_email and step.on_activate_email not in known:
            raise invalid(
                ["steps", index, "on_activate_email"],
                f"step '{step.key}': unknown e-mail template {step.on_activate_email}",
            )


def partner_slots(steps: list[StepSpec]) -> set[str]:
    """The slots a start must bind: named by a step's assignee or by an escalation's
    `reassign_to` (a step may go to a slot only when it is overdue)."""
    assignees = [step.assignee for step in steps] + [
        step.escalation.reassign_to
        for step in steps
        if step.escalation and step.escalation.reassign_to
    ]
    return {a.slot for a in assignees if a.type == "partner_slot"}


def snapshot(template: ProcessTemplate, version: int) -> TemplateSnapshot:
    """The template as a process of `version` runs on it: its steps' requirements resolved."""
    return TemplateSnapshot(
        template_id=template.id,
        version=version,
        name=template.name,
        language=template.language,
        timezone=template.timezone,
        steps=resolve_requires(template.step_specs()),
    )


def published_version(
    session: Session, template_id: uuid.UUID, version: int
) -> ProcessTemplateVersion | None:
    """Version `version` of the template, as it was published."""
    return session.exec(
        select(ProcessTemplateVersion).where(
            ProcessTemplateVersion.template_id == template_id,
            ProcessTemplateVersion.version == version,
        )
    ).first()
