"""Process templates: what a saved template must satisfy, and the snapshot a process runs on."""

from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from partnerflow.models import (
    EmailTemplate,
    Partner,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.partner_status import refusal
from workflows.deadlines import check_region, parse_duration
from workflows.messages import (
    AfterDeadline,
    BusinessDaysDeadline,
    FromFieldDeadline,
    StepSpec,
    TemplateSnapshot,
)


@dataclass
class StepProblem(Exception):
    """A refusal naming where it is: `loc` is the path into the request body."""

    loc: list[str | int]
    message: str


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise StepProblem(["timezone"], f"unknown time zone '{name}'") from error


def resolve_requires(steps: list[StepSpec]) -> list[StepSpec]:
    """Make each step's `requires` explicit: absent means the step before it."""
    resolved = []
    for index, step in enumerate(steps):
        requires = step.requires
        if requires is None:
            requires = [steps[index - 1].key] if index else []
        resolved.append(step.model_copy(update={"requires": requires}))
    return resolved


def check_steps(session: Session, steps: list[StepSpec]) -> None:
    """Refuse, naming the step and the field, what would make a process unable to run."""
    positions: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.key in positions:
            raise StepProblem(["steps", index, "key"], f"step '{step.key}': duplicate step key")
        positions[step.key] = index
        seen_fields: set[str] = set()
        for f_index, spec in enumerate(step.fields):
            where: list[str | int] = ["steps", index, "fields", f_index]
            if spec.key in seen_fields:
                raise StepProblem(
                    [*where, "key"], f"step '{step.key}': duplicate field '{spec.key}'"
                )
            seen_fields.add(spec.key)
            if spec.type == "choice" and not spec.options:
                raise StepProblem(
                    [*where, "options"],
                    f"step '{step.key}', field '{spec.key}': a choice needs options",
                )
    resolved = resolve_requires(steps)
    for index, step in enumerate(resolved):
        for required in step.requires or []:
            if required not in positions:
                raise StepProblem(
                    ["steps", index, "requires"],
                    f"step '{step.key}': requires unknown step '{required}'",
                )
    _check_acyclic(resolved)
    for index, step in enumerate(resolved):
        _check_deadline(index, step, resolved)
    _check_references(session, steps)


def _duration(loc: list[str | int], step: StepSpec, field: str, text: str) -> None:
    try:
        parse_duration(text)
    except ValueError as error:
        raise StepProblem(loc, f"step '{step.key}', {field}: {error}") from error


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
            raise StepProblem(
                [*where, "deadline", "region"], f"step '{step.key}', deadline.region: {error}"
            ) from error
    elif isinstance(deadline, FromFieldDeadline):
        _duration([*where, "deadline", "offset"], step, "deadline.offset", deadline.offset)
        ref = deadline.from_field
        loc: list[str | int] = [*where, "deadline", "from_field"]
        if ref.step not in _earlier_steps(step.key, steps):
            raise StepProblem(
                [*loc, "step"],
                f"step '{step.key}', deadline.from_field: step '{ref.step}' does not finish "
                "before this one (name it in requires)",
            )
        source = next(s for s in steps if s.key == ref.step)
        spec = next((f for f in source.fields if f.key == ref.field), None)
        if spec is None or spec.type not in ("date", "datetime"):
            raise StepProblem(
                [*loc, "field"],
                f"step '{step.key}', deadline.from_field: step '{ref.step}' has no date field "
                f"'{ref.field}'",
            )
    for r_index, reminder in enumerate(step.reminders):
        _duration([*where, "reminders", r_index], step, f"reminders[{r_index}]", reminder)
    if (step.reminders or step.escalation) and deadline is None:
        field = "reminders" if step.reminders else "escalation"
        raise StepProblem([*where, field], f"step '{step.key}', {field}: the step has no deadline")
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
            raise StepProblem(["steps", index[key], "requires"], f"step '{key}': cycle {cycle}")
        state[key] = "visiting"
        for required in requires[key]:
            visit(required, [*path, key])
        state[key] = "done"

    for step in steps:
        visit(step.key, [])


def _check_references(session: Session, steps: list[StepSpec]) -> None:
    def existing(model: type, ids: set[UUID]) -> set[UUID]:
        if not ids:
            return set()
        rows = session.exec(select(model.id).where(col(model.id).in_(ids)))  # type: ignore[attr-defined]
        return set(rows)

    assignees = [(index, ["assignee"], s.assignee) for index, s in enumerate(steps)] + [
        (index, ["escalation", "reassign_to"], s.escalation.reassign_to)
        for index, s in enumerate(steps)
        if s.escalation and s.escalation.reassign_to
    ]
    partner_ids = {a.partner_id for _, _, a in assignees if a.type == "partner"}
    user_ids = {a.user_id for _, _, a in assignees if a.type == "user"}
    email_ids = {s.on_activate_email for s in steps if s.on_activate_email}
    partners = (
        {p.id: p for p in session.exec(select(Partner).where(col(Partner.id).in_(partner_ids)))}
        if partner_ids
        else {}
    )
    known_users = (
        set(
            session.exec(
                select(User.id).where(col(User.id).in_(user_ids), col(User.partner_id).is_(None))
            )
        )
        if user_ids
        else set()
    )
    known_emails = existing(EmailTemplate, email_ids)
    for index, path, assignee in assignees:
        step = steps[index]
        field = ".".join(path)
        if assignee.type == "partner":
            partner = partners.get(assignee.partner_id)
            # Only an active partner may be given a step: the template is refused, when
            # saved and when published, while it names one that is not (or no longer) active.
            problem = refusal(partner) if partner else f"unknown partner {assignee.partner_id}"
            if problem:
                raise StepProblem(
                    ["steps", index, *path, "partner_id"], f"step '{step.key}', {field}: {problem}"
                )
        if assignee.type == "user" and assignee.user_id not in known_users:
            raise StepProblem(
                ["steps", index, *path, "user_id"],
                f"step '{step.key}', {field}: unknown user {assignee.user_id}",
            )
    for index, step in enumerate(steps):
        if step.on_activate_email and step.on_activate_email not in known_emails:
            raise StepProblem(
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
