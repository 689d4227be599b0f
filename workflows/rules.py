"""Who may do what to a process, and which steps are open: pure checks the workflow runs.

A refusal is an ApplicationError whose type is a refusal kind (partnerflow/refusals.py): the
API turns it back into the same `Refused` (`Refused.from_workflow`).
"""

from typing import assert_never

from temporalio.exceptions import ApplicationError

from partnerflow.refusals import RefusalKind
from partnerflow.spec import StepStatus
from workflows.messages import Actor, CompletedBy, ProcessState, StepState


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


def open_step(state: ProcessState, key: str, statuses: tuple[StepStatus, ...]) -> StepState:
    step = find_step(state, key)
    require_running(state)
    if step.status not in statuses:
        raise refuse("conflict", f"step '{key}' is {step.status}, not open")
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
        case _:
            assert_never(assignee.type)
    if actor.role == "admin" or actor.user_id == state.contact_user_id:
        return True
    raise refuse("forbidden", f"step '{step.key}' is not assigned to you")


def authorize_staff(state: ProcessState, actor: Actor) -> None:
    if actor.role != "admin" and actor.user_id != state.contact_user_id:
        raise refuse("forbidden", "only the contact person or an admin may do this")


def completed_by(actor: Actor, on_behalf: bool) -> CompletedBy:
    """Who finished a step, by id: the read model resolves the name (no names in Temporal)."""
    return CompletedBy(user_id=actor.user_id, partner_id=actor.partner_id, on_behalf=on_behalf)
