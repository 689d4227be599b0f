"""A dropped partner (issue 15, item 2): once revoked it is sent nothing more, its open steps
go to the contact person (who is told), and nothing can bind it again.

What a person would notice: the e-mails in the outbox (none to the partner's addresses after
the revocation: no reminder, no deadline change, no cancellation, no hand-over of a later
step), who each step is assigned to, the contact person's notices and e-mails, and the 422
that names the partner when a template, a start, an automation or a reassignment binds it.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from activities.reconcile import ReconcileActivities
from partnerflow.db import utcnow
from partnerflow.models import Notification, OutboxEmail, Partner, User
from partnerflow.spec import PartnerAssignee
from partnerflow.temporal import DATA_CONVERTER
from tests import factories, histories
from tests.conftest import Stack, eventually, gone_temporal, running_stack
from tests.process_world import world_with_worker
from worker import WORKFLOW_RUNNER
from workflows.messages import (
    AwaitRecordedInput,
    CompleteStepInput,
    PartnerRevokedInput,
    ProcessState,
    ReassignInput,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.reconcile_messages import ReconcileInput

INSTALLER = {"type": "partner_slot", "slot": "installer"}


def slot_template(**installation: Any) -> dict[str, Any]:
    """Commission the installer, who installs and later inspects; the contact accepts."""
    return {
        "name": f"PV {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission_partner", "name": "Commission", "assignee": {"type": "contact"}},
            {"key": "installation", "name": "Installation", "assignee": INSTALLER, **installation},
            {"key": "inspection", "name": "Inspection", "assignee": INSTALLER},
            {"key": "acceptance", "name": "Acceptance", "assignee": {"type": "contact"}},
        ],
    }


def admin_of(engine: Engine) -> User:
    with Session(engine) as session:
        return session.exec(select(User).where(User.role == "admin")).one()


def sent_to(engine: Engine, addresses: set[str]) -> list[OutboxEmail]:
    """Every e-mail a process sent to any of these addresses, oldest first (the invitation
    and the sign-in links are not about a customer)."""
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxEmail)
            .where(col(OutboxEmail.process_id).is_not(None))
            .order_by(col(OutboxEmail.created_at))
        ).all()
    return [row for row in rows if addresses & {a.strip() for a in row.to.split(",")}]


def notices_to(engine: Engine, partner_id: str) -> list[tuple[str | None, str]]:
    """(step, kind) of every in-app notice to a user of the partner."""
    with Session(engine) as session:
        rows = session.exec(
            select(Notification.step_key, Notification.kind)
            .join(User, col(User.id) == Notification.user_id)
            .where(User.partner_id == uuid.UUID(partner_id))
            .order_by(col(Notification.created_at))
        ).all()
    return [(step_key, kind) for step_key, kind in rows]


async def steps_of(stack: Stack, process_id: str) -> dict[str, dict[str, Any]]:
    detail = await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)
    assert detail.status_code == 200, detail.text
    return {step["key"]: step for step in detail.json()["steps"]}


async def installer_at_work(
    stack: Stack, **installation: Any
) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """An active partner with a colleague, and a process whose installation step is theirs
    (its hand-over sent). Answers the partner, its addresses and the process."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    colleague = await factories.partner_user(http, admin, partner["id"])
    partner["colleague_token"] = colleague["token"]
    addresses = {partner["email"], partner["owner_email"], colleague["email"]}
    template = await factories.published_template(http, admin, slot_template(**installation))
    process = await factories.started(
        http, admin, template["id"], partners={"installer": partner["id"]}
    )
    await factories.commission(http, admin, process["id"])
    [handover] = await factories.outbox(http, admin, process["id"], count=1)
    assert handover["kind"] == "handover" and partner["email"] in handover["to"]
    return partner, addresses, process


@asynccontextmanager
async def temporal_away(stack: Stack) -> AsyncIterator[None]:
    """The API's Temporal cannot be reached for a while; the worker's still runs."""
    present = stack.app.state.temporal
    stack.app.state.temporal = await gone_temporal()
    try:
        yield
    finally:
        stack.app.state.temporal = present


async def ended(stack: Stack, process_id: str) -> ProcessState:
    """The process's last state: its workflow returns only once its e-mails are out."""
    handle = stack.env.client.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    return await handle.result()


def refusal(response: Any) -> tuple[list[Any], str]:
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    return problem["loc"], problem["msg"]


@pytest.fixture
def contact_id(stack: Stack) -> str:
    """The processes' contact person: the admin who made their templates."""
    return str(admin_of(stack.engine).id)


# after revocation: nothing to the partner, its steps with the contact -------------------------


async def test_revoking_hands_the_partners_open_steps_to_the_contact_who_is_told(
    stack: Stack, contact_id: str
) -> None:
    http, admin = stack.http, stack.admin
    partner, addresses, process = await installer_at_work(stack)

    revoked = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"

    # Its open steps, the active one and the one still to come, are the contact's now.
    steps = await steps_of(stack, process["id"])
    contact = {"type": "contact", "user_id": contact_id}
    assert steps["installation"]["assignee"] == contact
    assert steps["inspection"]["assignee"] == contact

    # The contact person is told, in the app (right after: the revocation does not wait for
    # the mail server) ...
    async def revoked_notices() -> list[dict[str, Any]]:
        notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
        return [n for n in notices if n["kind"] == "partner_revoked"]

    [told] = await eventually(revoked_notices, bool)
    assert (told["process_id"], told["step_key"]) == (process["id"], "installation")
    assert "Installation" in told["message"] and "Inspection" in told["message"]
    # ... and by e-mail, which names the partner.
    emails = await factories.outbox(http, admin, process["id"], count=2)
    [email] = [e for e in emails if e["kind"] == "partner_revoked"]
    assert email["to"] == admin_of(stack.engine).email
    assert partner["name"] in email["subject"] and "Installation" in email["html"]

    # The partner's people see nothing any more.
    for token in (partner["owner_token"], partner["colleague_token"]):
        for path in ("/api/my/tasks", f"/api/processes/{process['id']}"):
            response = await http.get(path, headers=factories.bearer(token))
            assert response.status_code == 401, (path, response.text)

    # The contact does the installation; the later step opens for them, not for the partner.
    done = await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete", json={}, headers=admin
    )
    assert done.status_code == 200, done.text
    steps = {s["key"]: s for s in done.json()["steps"]}
    assert (steps["inspection"]["status"], steps["inspection"]["assignee"]) == ("active", contact)
    cancelled = await http.post(
        f"/api/processes/{process['id']}/cancel",
        json={"reason": "customer withdrew"},
        headers=admin,
    )
    assert cancelled.status_code == 200, cancelled.text
    last = await ended(stack, process["id"])
    assert last.status == "cancelled" and not last.attention

    # Nothing reached the partner after its hand-over: no hand-over of the later step, no
    # cancellation, no word of the revocation itself.
    assert [e.kind for e in sent_to(stack.engine, addresses)] == ["handover"]
    # The revocation's answer named the process it handed back; again, it finds nothing left.
    assert (revoked.json()["handed_back"], revoked.json()["retrying"]) == ([process["id"]], [])
    again = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
    assert (again.json()["handed_back"], again.json()["retrying"]) == ([], [])


async def test_what_still_names_a_revoked_partner_is_withheld_and_flags_nothing(
    stack: Stack,
) -> None:
    """Defence in depth: the revocation could not reach the process (Temporal away), so its
    steps still name the partner; the deadline change, the later step's hand-over (e-mail
    and notices) and the cancellation meant for it are not sent, and the process is not
    flagged (nothing failed: it was meant so)."""
    http, admin = stack.http, stack.admin
    partner, addresses, process = await installer_at_work(stack)
    async with temporal_away(stack):
        revoked = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert (await steps_of(stack, process["id"]))["installation"]["assignee"]["partner_id"] == (
        partner["id"]
    )

    moved = await http.put(
        f"/api/processes/{process['id']}/steps/installation/deadline",
        json={"due_at": (utcnow() + timedelta(days=30)).date().isoformat()},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    done = await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete", json={}, headers=admin
    )
    assert done.status_code == 200, done.text
    inspection = next(s for s in done.json()["steps"] if s["key"] == "inspection")
    assert (inspection["status"], inspection["assignee"]["partner_id"]) == ("active", partner["id"])
    cancelled = await http.post(
        f"/api/processes/{process['id']}/cancel", json={"reason": "partner dropped"}, headers=admin
    )
    assert cancelled.status_code == 200, cancelled.text
    last = await ended(stack, process["id"])

    assert [e.kind for e in sent_to(stack.engine, addresses)] == ["handover"]
    assert notices_to(stack.engine, partner["id"]) == [("installation", "step_assigned")] * 2
    assert last.attention == []
    summary = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert summary["attention"] is False
    # The revocation said it could not reach the process (the reconciler's, next test).
    assert (revoked.json()["handed_back"], revoked.json()["retrying"]) == ([], [process["id"]])


async def test_a_revocation_temporal_missed_is_finished_by_the_reconciler(
    stack: Stack, contact_id: str
) -> None:
    http, admin = stack.http, stack.admin
    partner, addresses, process = await installer_at_work(stack)
    async with temporal_away(stack):
        revoked = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    # Cut off at once all the same: its people are refused.
    owner = factories.bearer(partner["owner_token"])
    assert (await http.get("/api/my/tasks", headers=owner)).status_code == 401

    # The reconciler's round (every minute) finds the steps the partner still holds.
    reconciler = ReconcileActivities(stack.engine, stack.env.client, stack.settings)
    round_ = await ActivityEnvironment().run(
        reconciler.hand_back_revoked_partners, ReconcileInput()
    )
    assert (round_.handed_back, round_.unreached) == (1, 0)
    steps = await steps_of(stack, process["id"])
    contact = {"type": "contact", "user_id": contact_id}
    assert steps["installation"]["assignee"] == steps["inspection"]["assignee"] == contact

    async def revoked_notices() -> list[str]:
        notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
        return [n["process_id"] for n in notices if n["kind"] == "partner_revoked"]

    assert await eventually(revoked_notices, bool) == [process["id"]]

    # Once done, a round finds nothing more to do.
    again = await ActivityEnvironment().run(reconciler.hand_back_revoked_partners, ReconcileInput())
    assert (again.handed_back, again.nothing_left, again.unreached) == (0, 0, 0)
    assert [e.kind for e in sent_to(stack.engine, addresses)] == ["handover"]
    assert revoked.json()["retrying"] == [process["id"]]


async def test_a_revoked_partner_gets_no_reminder_and_no_deadline_change(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """Days pass on the time-skipping server: the reminder goes to the contact person."""
    async with running_stack(time_skipping_env, database_url, engine) as stack:
        http, admin = stack.http, stack.admin
        partner, addresses, process = await installer_at_work(
            stack, deadline={"after": "P5D"}, reminders=["P1D"]
        )
        revoked = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text

        # The contact moves the deadline of the step that was the partner's ...
        due = (await steps_of(stack, process["id"]))["installation"]["due_at"]
        assert due is not None
        later = (await time_skipping_env.get_current_time()) + timedelta(days=8)
        moved = await http.put(
            f"/api/processes/{process['id']}/steps/installation/deadline",
            json={"due_at": later.isoformat()},
            headers=admin,
        )
        assert moved.status_code == 200, moved.text
        # ... and a day before it, the reminder goes to the contact, not to the partner.
        await time_skipping_env.sleep(timedelta(days=7, hours=1))
        contact_email = admin_of(engine).email

        async def reminders() -> list[OutboxEmail]:
            return [e for e in sent_to(engine, {contact_email}) if e.kind == "reminder"]

        assert len(await eventually(reminders, lambda found: len(found) == 1)) == 1
        assert [e.kind for e in sent_to(engine, addresses)] == ["handover"]


async def test_the_workflow_gives_a_revoked_partners_share_to_the_contact(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """The `partner_revoked` update on its own: open steps and an escalation that would go to
    the partner's slot go to the contact; telling it twice, or handing it a step, is refused.
    Its history is recorded (tests/histories.py): people carry role names only."""
    async with world_with_worker(time_skipping_env, database_url, engine) as world:
        handle = await world.start(
            [
                {"key": "survey", "name": "Survey", "requires": [],
                 "assignee": {"type": "contact"}, "deadline": {"after": "P1D"},
                 "escalation": {"reassign_to": INSTALLER, "grace": "PT1H"}},
                {"key": "install", "name": "Install", "requires": [], "assignee": INSTALLER,
                 "deadline": {"after": "P3D"}, "reminders": ["P1D"]},
                {"key": "inspect", "name": "Inspect", "requires": ["install"],
                 "assignee": INSTALLER},
            ]
        )  # fmt: skip
        process_id = uuid.UUID(handle.id.removeprefix("process-"))
        await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
        await world.email_kinds(process_id, "handover")

        async def partners_notices() -> list[str]:
            notices = world.notices(process_id)
            return [n.kind for n in notices if n.user_id == world.partner_user.id]

        # its hand-over's in-app notice, written after the e-mail, is there before it goes
        assert await eventually(partners_notices, bool) == ["step_assigned"]
        with Session(engine) as session:  # as the API does first
            partner = session.get(Partner, world.partner.id)
            assert partner is not None
            partner.status = "revoked"
            session.add(partner)
            session.commit()
        revoked = PartnerRevokedInput(partner_id=world.partner.id)
        state = await handle.execute_update(PartnerProcessWorkflow.partner_revoked, revoked)
        assert [(s.key, s.assignee.type, s.assignee.user_id) for s in state.steps] == [
            (key, "contact", world.contact.id) for key in ("survey", "install", "inspect")
        ]
        assert state.revoked_partner_ids == [world.partner.id]
        with pytest.raises(WorkflowUpdateFailedError) as told_twice:
            await handle.execute_update(PartnerProcessWorkflow.partner_revoked, revoked)
        assert "nothing here is left with it" in str(told_twice.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as handed:
            await handle.execute_update(
                PartnerProcessWorkflow.reassign,
                ReassignInput(
                    step_key="install",
                    actor=world.as_contact,
                    assignee=PartnerAssignee(type="partner", partner_id=world.partner.id),
                ),
            )
        assert "revoked" in str(handed.value.cause)

        # The survey is overdue and escalates to the installer's slot; the installation's
        # reminder is due: both reach the contact person, nothing the partner.
        await time_skipping_env.sleep(timedelta(days=2, hours=2))
        kinds = await world.email_kinds(process_id, "partner_revoked", "overdue", "reminder")
        state = await handle.query(PartnerProcessWorkflow.state)
        survey = state.steps[0]
        assert survey.escalated and survey.assignee.user_id == world.contact.id
        for key in ("survey", "install", "inspect"):
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key=key, actor=world.as_contact),
            )
        result = await handle.result()
        assert result.status == "completed" and not result.attention
        to_partner = [e.kind for e in world.emails(process_id) if world.partner.email in e.to]
        assert to_partner == ["handover"], kinds
        partner_notices = [
            n for n in world.notices(process_id) if n.user_id == world.partner_user.id
        ]
        assert [n.kind for n in partner_notices] == ["step_assigned"]
        # The path replays as it ran (kept once recorded, as every message's path is).
        replayer = Replayer(
            workflows=[PartnerProcessWorkflow],
            data_converter=DATA_CONVERTER,
            workflow_runner=WORKFLOW_RUNNER,
        )
        await replayer.replay_workflow(await handle.fetch_history())
        await histories.record(handle, "partner_revoked")


# nothing binds a partner that is not active ----------------------------------------------------


async def revoked_partner(stack: Stack) -> dict[str, Any]:
    partner = await factories.partner(stack.http, stack.admin, name="Weg GmbH")
    response = await stack.http.post(f"/api/partners/{partner['id']}/revoke", headers=stack.admin)
    assert response.status_code == 200, response.text
    return partner


async def test_a_template_naming_a_partner_that_is_not_active_is_refused(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    gone = await revoked_partner(stack)
    invited, _ = await factories.invited_partner(http, admin, name="Noch Nicht GmbH")

    saved = await http.post(
        "/api/process-templates", json=factories.two_step_template(gone["id"]), headers=admin
    )
    loc, msg = refusal(saved)
    assert loc == ["body", "steps", 1, "assignee", "partner_id"]
    assert gone["id"] in msg and "Weg GmbH" in msg and "revoked" in msg

    escalating = factories.two_step_template(invited["id"])
    escalating["steps"][1] = {
        "key": "installation",
        "name": "Installation",
        "assignee": {"type": "contact"},
        "deadline": {"after": "P3D"},
        "escalation": {"reassign_to": {"type": "partner", "partner_id": gone["id"]}},
    }
    loc, msg = refusal(await http.post("/api/process-templates", json=escalating, headers=admin))
    assert loc == ["body", "steps", 1, "escalation", "reassign_to", "partner_id"]
    assert "revoked" in msg
    loc, msg = refusal(
        await http.post(
            "/api/process-templates",
            json=factories.two_step_template(invited["id"]),
            headers=admin,
        )
    )
    assert loc == ["body", "steps", 1, "assignee", "partner_id"]
    assert invited["id"] in msg and "not accepted" in msg

    # A draft saved while its partner was active cannot be published once it is revoked.
    leaving = await factories.partner(http, admin, name="Bald Weg GmbH")
    draft = await factories.created(
        await http.post(
            "/api/process-templates",
            json=factories.two_step_template(leaving["id"]),
            headers=admin,
        )
    )
    await http.post(f"/api/partners/{leaving['id']}/revoke", headers=admin)
    loc, msg = refusal(
        await http.post(f"/api/process-templates/{draft['id']}/publish", headers=admin)
    )
    assert loc == ["body", "steps", 1, "assignee", "partner_id"] and leaving["id"] in msg


async def test_a_start_binding_a_partner_that_is_not_active_is_refused(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    gone = await revoked_partner(stack)
    slotted = await factories.published_template(http, admin, slot_template())
    opportunity = await factories.opportunity(http, admin)
    start = {"template_id": slotted["id"], "opportunity_id": opportunity["id"]}

    bound = await http.post(
        "/api/processes", json={**start, "partners": {"installer": gone["id"]}}, headers=admin
    )
    loc, msg = refusal(bound)
    assert loc == ["body", "partners", "installer"]
    assert gone["id"] in msg and "revoked" in msg

    # A published version that names a partner itself, revoked after it was published.
    leaving = await factories.partner(http, admin, name="Bald Weg GmbH")
    fixed = await factories.published_template(
        http, admin, factories.two_step_template(leaving["id"])
    )
    await http.post(f"/api/partners/{leaving['id']}/revoke", headers=admin)
    loc, msg = refusal(
        await http.post(
            "/api/processes",
            json={"template_id": fixed["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    assert loc == ["body", "template_id"]
    assert "steps[1].assignee.partner_id" in msg and leaving["id"] in msg and "revoked" in msg
    listed = await http.get(
        "/api/processes", params={"opportunity_id": opportunity["id"]}, headers=admin
    )
    assert listed.json()["count"] == 0


async def test_an_automation_binding_a_partner_that_is_not_active_is_refused_or_skipped(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    gone = await revoked_partner(stack)
    template = await factories.published_template(http, admin, slot_template())

    def automation(partner_id: str) -> dict[str, Any]:
        return {
            "name": "PV",
            "trigger": {"event": "opportunity.created", "filter": {"product": "pv"}},
            "action": {"start_process": template["id"], "partners": {"installer": partner_id}},
        }

    loc, msg = refusal(
        await http.post("/api/automations", json=automation(gone["id"]), headers=admin)
    )
    assert loc == ["body", "action", "partners", "installer"]
    assert gone["id"] in msg and "revoked" in msg

    # Saved while the partner was active; revoked since: its runs start nothing, and say why.
    leaving = await factories.partner(http, admin, name="Bald Weg GmbH")
    saved = await factories.created(
        await http.post("/api/automations", json=automation(leaving["id"]), headers=admin)
    )
    await http.post(f"/api/partners/{leaving['id']}/revoke", headers=admin)
    opportunity = await factories.opportunity(http, admin)
    runs = (await http.get(f"/api/automations/{saved['id']}/runs", headers=admin)).json()["data"]
    assert [(r["outcome"], r["process_id"]) for r in runs] == [("skipped", None)]
    assert leaving["id"] in runs[0]["reason"] and "revoked" in runs[0]["reason"]
    listed = await http.get(
        "/api/processes", params={"opportunity_id": opportunity["id"]}, headers=admin
    )
    assert listed.json()["count"] == 0


async def test_a_step_cannot_be_reassigned_to_a_partner_that_is_not_active(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    gone = await revoked_partner(stack)
    partner = await factories.partner(http, admin)
    process = await factories.commissioned(http, admin, partner["id"])
    response = await http.post(
        f"/api/processes/{process['id']}/steps/installation/reassign",
        json={"assignee": {"type": "partner", "partner_id": gone["id"]}},
        headers=admin,
    )
    loc, msg = refusal(response)
    assert loc == ["body", "assignee", "partner_id"]
    assert gone["id"] in msg and "revoked" in msg
    steps = await steps_of(stack, process["id"])
    assert steps["installation"]["assignee"]["partner_id"] == partner["id"]
