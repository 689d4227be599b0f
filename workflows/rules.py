"""Who may do what to a process, and which steps are open: pure checks the workflow runs.

A refusal is an ApplicationError whose type the API turns into an HTTP status.
"""

from temporalio.exceptions import ApplicationError

from workflows.messages import Actor, CompletedBy, ProcessState, StepState

NOT_FOUND = "NotFound"
FORBIDDEN = "Forbidden"
CONFLICT = "Conflict"
INVALID = "Invalid"


def refuse(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


def find_step(state: ProcessState, key: str) -> StepState:
    for step in state.steps:
        if step.key == key:
            return step
    raise refuse(NOT_FOUND, f"step '{key}': the process has no such step")


def require_running(state: ProcessState) -> None:
    if state.status != "running":
        raise refuse(CONFLICT, f"the process is {state.status}")


def open_step(state: ProcessState, key: str, statuses: tuple[str, ...]) -> StepState:
    step = find_step(state, key)
    require_running(state)
    if step.status not in statuses:
        raise refuse(CONFLICT, f"step '{key}' is {step.status}, not open")
    return step


def authorize(state: ProcessState, step: StepState, actor: Actor, permission: str) -> bool:
    """May `actor` act on `step`? Answers whether they act for the assignee.

    The assignee may (a partner's user needs the permission); the contact person and
    admins may act for anyone."""
    assignee = step.assignee
    if assignee.partner_id is not None and actor.partner_id == assignee.partner_id:
        if permission not in actor.permissions:
            raise refuse(FORBIDDEN, f"step '{step.key}': your organisation lacks {permission}")
        return False
    if assignee.user_id is not None and actor.user_id == assignee.user_id:
        return False
    if actor.role == "admin" or actor.user_id == state.contact_user_id:
        return True
    raise refuse(FORBIDDEN, f"step '{step.key}' is not assigned to you")


def authorize_staff(state: ProcessState, actor: Actor) -> None:
    if actor.role != "admin" and actor.user_id != state.contact_user_id:
        raise refuse(FORBIDDEN, "only the contact person or an admin may do this")


def completed_by(actor: Actor, on_behalf: bool) -> CompletedBy:
    """Who finished a step, by id: the read model resolves the name (no names in Temporal)."""
    return CompletedBy(user_id=actor.user_id, partner_id=actor.partner_id, on_behalf=on_behalf)
