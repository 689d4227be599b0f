"""Process templates: what a saved template must satisfy, and the snapshot a process runs on."""

from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from partnerflow.assignees import check_references
from partnerflow.models import EmailTemplate, ProcessTemplate, ProcessTemplateVersion
from partnerflow.refusals import invalid
from partnerflow.spec import (
    AfterDeadline,
    BusinessDaysDeadline,
    FromFieldDeadline,
    StepSpec,
    TemplateSnapshot,
    parse_duration,
    resolve_requires,
)
from workflows.deadlines import check_region


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
    check_references(session, steps)
    _check_emails(session, steps)


def _duration(loc: list[str | int], step: StepSpec, field: str, text: str) -> None:
    try:
        parse_duration(text)
    except ValueError as error:
        raise invalid(loc, f"step '{step.key}', {field}: {error}") from error


def _earlier_steps(key: str, steps: list[StepSpec]) -> set[str]:
    """Every step that must finish before `key` opens: its requirements, transitively."""
    requires = {step.key: list(step.requires or []) for step in steps}
    seen: set[str] = set()
    stack = list(requires[key])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(requires[current])
    return seen


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
    steps = [StepSpec.model_validate(step) for step in template.steps]
    return TemplateSnapshot(
        template_id=template.id,
        version=version,
        name=template.name,
        language=template.language,
        timezone=template.timezone,
        steps=resolve_requires(steps),
    )


def published_version(
    session: Session, template_id: UUID, version: int
) -> ProcessTemplateVersion | None:
    """Version `version` of the template, as it was published."""
    return session.exec(
        select(ProcessTemplateVersion).where(
            ProcessTemplateVersion.template_id == template_id,
            ProcessTemplateVersion.version == version,
        )
    ).first()
