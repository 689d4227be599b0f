"""Process templates: what a saved template must satisfy, and the snapshot a process runs on."""

from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from partnerflow.models import EmailTemplate, Partner, ProcessTemplate, User
from workflows.messages import StepSpec, TemplateSnapshot


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
    _check_references(session, steps)


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

    partner_ids = {s.assignee.partner_id for s in steps if s.assignee.type == "partner"}
    user_ids = {s.assignee.user_id for s in steps if s.assignee.type == "user"}
    email_ids = {s.on_activate_email for s in steps if s.on_activate_email}
    known_partners = existing(Partner, partner_ids)
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
    for index, step in enumerate(steps):
        assignee = step.assignee
        if assignee.type == "partner" and assignee.partner_id not in known_partners:
            raise StepProblem(
                ["steps", index, "assignee", "partner_id"],
                f"step '{step.key}': unknown partner {assignee.partner_id}",
            )
        if assignee.type == "user" and assignee.user_id not in known_users:
            raise StepProblem(
                ["steps", index, "assignee", "user_id"],
                f"step '{step.key}': unknown user {assignee.user_id}",
            )
        if step.on_activate_email and step.on_activate_email not in known_emails:
            raise StepProblem(
                ["steps", index, "on_activate_email"],
                f"step '{step.key}': unknown e-mail template {step.on_activate_email}",
            )


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
