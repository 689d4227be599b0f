"""Who may do what to a process, and which steps are open: pure checks the workflow runs.

A refusal is an ApplicationError whose type is a refusal kind (partnerflow/refusals.py): the
API turns it back into the same `Refused` (`Refused.from_workflow`).
"""

from datetime import datetime
from typing import assert_never
from uuid import UUID

from temporalio.exceptions import ApplicationError

from partnerflow.refusals import RefusalKind
from partnerflow.spec import Review, StepStatus, Zone, moment_from_value
from workflows.messages import Actor, CompletedBy, ProcessState, ReviewDecision, StepState


def refuse(kind: RefusalKind, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def find_step(state: ProcessState, key: str) -> StepState:
    for step in state.steps:
        if step.key == key:
            return step
    raise refuse("not_found", f"step '{key}': the process has no such step")


def require_running(state: ProcessState) -> None:
    if state.status != "running":
        raise refuse("conflict", f"the process is {state.status}")


def open_step(
    state: ProcessState, key: str, statuses: tuple[StepStatus, ...], wanted: str = "open"
) -> StepState:
    step = find_step(state, key)
    require_running(state)
    if step.status not in statuses:
        raise refuse("conflict", f"step '{key}' is {step.status}, not {wanted}")
    return step


def authorize(state: ProcessState, step: StepState, actor: Actor, permission: str) -> bool:
    """May `actor` act on `step`? Answers whether they act for the assignee.

    The assignee may (a partner's user needs the permission); the contact person and
    admins may act for anyone."""
    assignee = step.assignee
    match assignee.type:
        case "partner" | "partner_slot":
            if assignee.partner_id is not None and actor.partner_id == assignee.partner_id:
                if permission not in actor.permissions:
                    raise refuse(
                        "forbidden", f"step '{step.key}': your organisation lacks {permission}"
                    )
                return False
        case "user" | "contact":
            if assignee.user_id is not None and actor.user_id == assignee.user_id:
                return False
        case "offer":
            pass  # nobody accepted it yet: only staff act on it
        case _:
            assert_never(assignee.type)
    if actor.role == "admin" or actor.user_id == state.contact_user_id:
        return True
    raise refuse("forbidden", f"step '{step.key}' is not assigned to you")


def check_not_offered(step: StepState) -> None:
    """An offered step has no deadline yet: it counts from the acceptance."""
    if step.status == "offered":
        raise refuse(
            "conflict", f"step '{step.key}' is offered: its deadline counts from its acceptance"
        )


def authorize_staff(state: ProcessState, actor: Actor) -> None:
    if actor.role != "admin" and actor.user_id != state.contact_user_id:
        raise refuse("forbidden", "only the contact person or an admin may do this")


def completed_by(actor: Actor, on_behalf: bool) -> CompletedBy:
    """Who finished a step, by id: the read model resolves the name (no names in Temporal)."""
    return CompletedBy(user_id=actor.user_id, partner_id=actor.partner_id, on_behalf=on_behalf)


def new_due(step: StepState, value: str, timezone: Zone, now: datetime) -> datetime:
    """A deadline a person sets (`set_deadline`, or a reviewer with `request_changes`)."""
    try:
        due_at = moment_from_value(value, timezone)
    except ValueError as error:
        raise refuse("invalid", f"step '{step.key}', due_at: not a date or datetime") from error
    if due_at <= now:
        raise refuse("invalid", f"step '{step.key}', due_at: lies in the past")
    return due_at


def check_review_answer(
    step: StepState,
    review: Review | None,
    actor: Actor,
    decision: ReviewDecision,
    note_id: UUID | None,
) -> None:
    """May `actor` answer the review of a step `in_review` so? The reviewer answers (an admin
    may for them); changes are requested with a reason, at most `max_rounds` times."""
    if review is None:
        raise refuse("conflict", f"step '{step.key}' has no review")
    if actor.role != "admin" and (
        step.reviewer_user_id is None or actor.user_id != step.reviewer_user_id
    ):
        raise refuse("forbidden", f"step '{step.key}' waits for another reviewer")
    match decision:
        case "approve":
            return
        case "request_changes":
            if note_id is None:
                raise refuse("invalid", "reason: say what should change")
            if step.review_rounds >= review.max_rounds:
                raise refuse(
                    "conflict",
                    f"step '{step.key}': changes were requested {step.review_rounds} times, "
                    "as often as its review allows; approve it, or skip or reassign it",
                )
        case _:
            assert_never(decision)


def check_decline(step: StepState, actor: Actor, note_id: UUID | None) -> None:
    """Only the partner the step is assigned to hands it back, and says why."""
    partner_id = step.assignee.partner_id
    if partner_id is None or actor.partner_id != partner_id:
        raise refuse("forbidden", f"step '{step.key}' is not assigned to your organisation")
    if note_id is None:
        raise refuse("invalid", "reason: say why the step is handed back")
