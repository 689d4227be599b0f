"""Who may act on a step and which steps are open (workflows/rules.py), without a server."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from temporalio.exceptions import ApplicationError

from partnerflow.refusals import Refused, http_status
from partnerflow.spec import AssigneeKind, ProcessStatus, Role, StepStatus
from workflows.messages import Actor, ProcessState, ResolvedAssignee, StepState
from workflows.rules import (
    authorize,
    authorize_staff,
    completed_by,
    find_step,
    open_step,
    require_running,
)

CONTACT = uuid4()
PARTNER = uuid4()
OTHER_PARTNER = uuid4()
ASSIGNED_USER = uuid4()
PERMISSION = "steps:complete"


def step(
    key: str = "check",
    kind: AssigneeKind = "contact",
    *,
    partner_id: UUID | None = None,
    user_id: UUID | None = None,
    status: StepStatus = "active",
) -> StepState:
    slot = "installer" if kind == "partner_slot" else None
    assignee = ResolvedAssignee(type=kind, partner_id=partner_id, user_id=user_id, slot=slot)
    return StepState(key=key, name=key.title(), status=status, assignee=assignee, requires=[])


def process(*steps: StepState, status: ProcessStatus = "running") -> ProcessState:
    return ProcessState(
        process_id=uuid4(),
        template_id=uuid4(),
        template_version=1,
        opportunity_id=uuid4(),
        contact_user_id=CONTACT,
        partner_ids=[PARTNER],
        status=status,
        started_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        steps=list(steps),
    )


def actor(
    role: Role = "member",
    *,
    user_id: UUID | None = None,
    partner_id: UUID | None = None,
    permissions: tuple[str, ...] = (),
) -> Actor:
    return Actor(
        user_id=user_id or uuid4(),
        role=role,
        partner_id=partner_id,
        permissions=list(permissions),
    )


def partner_user(partner_id: UUID = PARTNER, *permissions: str) -> Actor:
    return actor("partner", partner_id=partner_id, permissions=permissions)


def refusal(error: pytest.ExceptionInfo[ApplicationError]) -> Refused:
    """The refusal the API makes of the workflow's error (as it does for an update)."""
    assert error.value.non_retryable, "a refusal must not be retried"
    refused = Refused.from_workflow(error.value.type, error.value.message)
    assert refused is not None, f"{error.value.type} is no refusal kind"
    return refused


# authorize: partner steps -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["partner", "partner_slot"])
def test_the_assigned_partners_user_with_the_permission_acts_as_the_assignee(
    kind: AssigneeKind,
) -> None:
    offer = step("offer", kind, partner_id=PARTNER)
    assert authorize(process(offer), offer, partner_user(PARTNER, PERMISSION), PERMISSION) is False


@pytest.mark.parametrize("kind", ["partner", "partner_slot"])
def test_the_assigned_partner_lacking_the_permission_is_told_which(kind: AssigneeKind) -> None:
    offer = step("offer", kind, partner_id=PARTNER)
    the_partner = partner_user(PARTNER, "steps:set_deadline")
    with pytest.raises(ApplicationError) as error:
        authorize(process(offer), offer, the_partner, PERMISSION)
    refused = refusal(error)
    assert refused.kind == "forbidden"
    assert refused.message == "step 'offer': your organisation lacks steps:complete"
    assert http_status(refused.kind) == 403


@pytest.mark.parametrize("kind", ["partner", "partner_slot"])
def test_another_partner_may_not_act_on_a_partners_step(kind: AssigneeKind) -> None:
    offer = step("offer", kind, partner_id=PARTNER)
    other = partner_user(OTHER_PARTNER, PERMISSION)
    with pytest.raises(ApplicationError) as error:
        authorize(process(offer), offer, other, PERMISSION)
    assert refusal(error).kind == "forbidden"
    assert refusal(error).message == "step 'offer' is not assigned to you"


def test_an_unbound_slot_is_nobodys_even_for_a_caller_without_a_partner() -> None:
    # None == None must not make a company user (no partner) the slot's assignee.
    offer = step("offer", "partner_slot", partner_id=None)
    with pytest.raises(ApplicationError) as error:
        authorize(process(offer), offer, actor("member", permissions=(PERMISSION,)), PERMISSION)
    assert refusal(error).message == "step 'offer' is not assigned to you"


@pytest.mark.parametrize("kind", ["partner", "partner_slot"])
def test_the_contact_person_and_an_admin_act_for_a_partner(kind: AssigneeKind) -> None:
    offer = step("offer", kind, partner_id=PARTNER)
    state = process(offer)
    assert authorize(state, offer, actor("member", user_id=CONTACT), PERMISSION) is True
    assert authorize(state, offer, actor("admin"), PERMISSION) is True


def test_a_colleague_who_is_not_the_contact_person_may_not_act_for_a_partner() -> None:
    offer = step("offer", "partner", partner_id=PARTNER)
    with pytest.raises(ApplicationError) as error:
        authorize(process(offer), offer, actor("member"), PERMISSION)
    assert refusal(error).kind == "forbidden"


# authorize: user and contact steps ----------------------------------------------------------


@pytest.mark.parametrize(("kind", "assignee"), [("user", ASSIGNED_USER), ("contact", CONTACT)])
def test_the_assigned_user_acts_as_the_assignee_without_any_permission(
    kind: AssigneeKind, assignee: UUID
) -> None:
    check = step("check", kind, user_id=assignee)
    assert authorize(process(check), check, actor("member", user_id=assignee), PERMISSION) is False


def test_an_admin_and_the_contact_person_act_for_an_assigned_user() -> None:
    check = step("check", "user", user_id=ASSIGNED_USER)
    state = process(check)
    assert authorize(state, check, actor("admin"), PERMISSION) is True
    assert authorize(state, check, actor("member", user_id=CONTACT), PERMISSION) is True


@pytest.mark.parametrize("kind", ["user", "contact"])
def test_someone_else_may_not_act_on_a_users_step(kind: AssigneeKind) -> None:
    check = step("check", kind, user_id=ASSIGNED_USER if kind == "user" else CONTACT)
    for stranger in (actor("member"), partner_user(PARTNER, PERMISSION)):
        with pytest.raises(ApplicationError) as error:
            authorize(process(check), check, stranger, PERMISSION)
        assert refusal(error).kind == "forbidden"
        assert refusal(error).message == "step 'check' is not assigned to you"


def test_a_partner_user_is_not_a_users_step_assignee_by_partner() -> None:
    # A partner's user whose organisation matches nothing on a user step gets no pass.
    check = step("check", "user", user_id=ASSIGNED_USER, partner_id=None)
    with pytest.raises(ApplicationError):
        authorize(process(check), check, partner_user(PARTNER, PERMISSION), PERMISSION)


def test_authorize_staff_lets_only_the_contact_person_and_admins() -> None:
    state = process(step())
    authorize_staff(state, actor("admin"))
    authorize_staff(state, actor("member", user_id=CONTACT))
    for caller in (actor("member"), partner_user(PARTNER, PERMISSION)):
        with pytest.raises(ApplicationError) as error:
            authorize_staff(state, caller)
        assert refusal(error).kind == "forbidden"
        assert refusal(error).message == "only the contact person or an admin may do this"


# finding steps, and which are open ----------------------------------------------------------


def test_find_step_returns_the_step_with_that_key() -> None:
    first, second = step("first"), step("second")
    assert find_step(process(first, second), "second") is second


def test_an_unknown_step_is_not_found() -> None:
    with pytest.raises(ApplicationError) as error:
        find_step(process(step("first")), "fourth")
    refused = refusal(error)
    assert refused.kind == "not_found"
    assert refused.message == "step 'fourth': the process has no such step"
    assert http_status(refused.kind) == 404


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_a_finished_process_refuses_with_its_status(status: ProcessStatus) -> None:
    with pytest.raises(ApplicationError) as error:
        require_running(process(step(), status=status))
    assert refusal(error).kind == "conflict"
    assert refusal(error).message == f"the process is {status}"


def test_a_running_process_is_running() -> None:
    require_running(process(step()))


def test_open_step_answers_an_open_step() -> None:
    check = step("check", status="pending")
    assert open_step(process(check), "check", ("pending", "active")) is check


@pytest.mark.parametrize("status", ["completed", "skipped", "cancelled", "pending"])
def test_a_step_not_in_the_open_statuses_is_a_conflict(status: StepStatus) -> None:
    with pytest.raises(ApplicationError) as error:
        open_step(process(step("check", status=status)), "check", ("active",))
    assert refusal(error).kind == "conflict"
    assert refusal(error).message == f"step 'check' is {status}, not open"


def test_open_step_says_not_found_before_it_says_the_process_ended() -> None:
    ended = process(step("check"), status="cancelled")
    with pytest.raises(ApplicationError) as error:
        open_step(ended, "other", ("active",))
    assert refusal(error).kind == "not_found"
    with pytest.raises(ApplicationError) as error:
        open_step(ended, "check", ("active",))
    assert refusal(error).message == "the process is cancelled"


def test_completed_by_records_ids_and_whether_someone_acted_for_the_assignee() -> None:
    the_partner = partner_user(PARTNER, PERMISSION)
    record = completed_by(the_partner, on_behalf=False)
    assert (record.user_id, record.partner_id, record.on_behalf) == (
        the_partner.user_id,
        PARTNER,
        False,
    )
    assert record.name is None
    assert "name" not in record.model_dump()
    assert completed_by(actor("admin"), on_behalf=True).on_behalf is True
