"""Review fixes: an upgrade keeps existing rows, tokens stay out of the access log, erasure
refuses starts meanwhile, revocation and deactivation cannot be undone by a race, partners
see no internal failure text, and an admin locked out gets a token from the command line."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlmodel import Session

from partnerflow import invitations
from partnerflow.auth import issue_token
from partnerflow.automation_runs import start_run
from partnerflow.db import UTCDateTime, make_engine, utcnow
from partnerflow.logs import mask
from partnerflow.migrate import ROOT, upgrade
from partnerflow.models import (
    Automation,
    AutomationRun,
    Opportunity,
    Partner,
    Process,
    ProcessTemplate,
    User,
)
from partnerflow.refusals import Refused
from tests import factories
from tests.conftest import Stack

# 1. Migrations after 0005 keep the rows of a database in use.


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _insert(connection: sa.Connection, table: str, **values: Any) -> None:
    """A raw row in a table as the 0005 schema has it (no model: the models are newer)."""

    def kind(value: Any) -> sa.types.TypeEngine[Any]:
        if isinstance(value, uuid.UUID):
            return sa.Uuid()
        if isinstance(value, bool):
            return sa.Boolean()
        if isinstance(value, int):
            return sa.Integer()
        if isinstance(value, dict | list):
            return sa.JSON()
        if hasattr(value, "tzinfo"):
            return UTCDateTime()
        return sa.String()

    columns = [sa.column(name, kind(value)) for name, value in values.items()]
    connection.execute(sa.insert(sa.table(table, *columns)).values(**values))


def _rows_of_a_database_in_use(engine: Engine) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in (
        "partner", "user", "apitoken", "websession", "opportunity", "template", "version",
        "process", "step", "document", "comment", "automation", "run", "notification",
    )}  # fmt: skip
    now = utcnow() - timedelta(days=30)
    with engine.begin() as c:
        _insert(c, "partner", id=ids["partner"], name="Notary", email="n@example.com",
                status="active", permissions={}, created_at=now)  # fmt: skip
        _insert(c, "user", id=ids["user"], name="Anna", email="anna@example.com", role="admin",
                active=True, created_at=now)  # fmt: skip
        _insert(c, "apitoken", id=ids["apitoken"], user_id=ids["user"], token_hash="a" * 64,
                created_at=now)  # fmt: skip
        _insert(c, "websession", id=ids["websession"], token_hash="s" * 64, user_id=ids["user"],
                api_token_id=ids["apitoken"], created_at=now,
                expires_at=utcnow() + timedelta(hours=1))  # fmt: skip
        _insert(c, "opportunity", id=ids["opportunity"], title="Flat", customer={"name": "C"},
                attributes={}, test=False, created_at=now,
                updated_at=now)  # fmt: skip
        _insert(c, "processtemplate", id=ids["template"], name="Sale", description="",
                language="en", timezone="UTC", contact_user_id=ids["user"], steps=[],
                archived=False, published_version=1, draft_pending=False, created_at=now,
                updated_at=now)  # fmt: skip
        _insert(c, "processtemplateversion", id=ids["version"], template_id=ids["template"],
                version=1, snapshot={}, created_at=now)  # fmt: skip
        _insert(c, "process", id=ids["process"], template_id=ids["template"],
                template_version=1, opportunity_id=ids["opportunity"],
                contact_user_id=ids["user"], partner_ids=[str(ids["partner"])],
                status="running", test=False, started_at=now, timeline=[],
                version=1)  # fmt: skip
        _insert(c, "processstep", id=ids["step"], process_id=ids["process"], position=0,
                key="deed", name="Deed", status="active", assignee={},
                assignee_partner_id=ids["partner"], fields={}, overdue=False)  # fmt: skip
        _insert(c, "document", id=ids["document"], process_id=ids["process"], step_key="deed",
                type="deed", filename="deed.pdf", content_type="application/pdf", size=3,
                sha256="b" * 64, storage_key="k", uploaded_by=ids["user"],
                created_at=now)  # fmt: skip
        _insert(c, "comment", id=ids["comment"], process_id=ids["process"], step_key="deed",
                author_id=ids["user"], author_name="Anna", body="hi", created_at=now)  # fmt: skip
        _insert(c, "automation", id=ids["automation"], name="Auto", enabled=True,
                event="opportunity.created", filter={}, template_id=ids["template"],
                partners={}, created_at=now, updated_at=now)  # fmt: skip
        _insert(c, "automationrun", id=ids["run"], automation_id=ids["automation"],
                opportunity_id=ids["opportunity"], event="opportunity.created",
                event_key="e1", outcome="started", process_id=ids["process"],
                created_at=now)  # fmt: skip
        _insert(c, "notification", id=ids["notification"], idempotency_key="n1",
                user_id=ids["user"], kind="step", process_id=ids["process"], step_key="deed",
                message="m", read=False, created_at=now)  # fmt: skip
    return ids


_TABLE_OF = {
    "partner": "partner", "user": '"user"', "apitoken": "apitoken",
    "websession": "websession", "opportunity": "opportunity", "template": "processtemplate",
    "version": "processtemplateversion", "process": "process", "step": "processstep",
    "document": "document", "comment": "comment", "automation": "automation",
    "run": "automationrun", "notification": "notification",
}  # fmt: skip


def _still_there(engine: Engine, ids: dict[str, uuid.UUID]) -> dict[str, int]:
    with engine.connect() as c:
        return {
            name: c.execute(
                # the table names are this module's own, not input
                sa.text(f"SELECT count(*) FROM {_TABLE_OF[name]} WHERE id = :id").bindparams(  # noqa: S608
                    sa.bindparam("id", type_=sa.Uuid())
                ),
                {"id": row_id},
            ).scalar_one()
            for name, row_id in ids.items()
        }


def test_an_upgrade_from_0005_keeps_every_row_of_a_database_in_use(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        _alembic(engine, "upgrade", "0005")
        ids = _rows_of_a_database_in_use(engine)
        upgrade(engine)
        assert _still_there(engine, ids) == dict.fromkeys(ids, 1)
        with engine.connect() as c:
            attention = c.execute(
                sa.text("SELECT attention FROM process WHERE id = :id").bindparams(
                    sa.bindparam("id", type_=sa.Uuid())
                ),
                {"id": ids["process"]},
            ).scalar_one()
        assert not attention
    finally:
        engine.dispose()


# 2. No sign-in or invitation token in the access log.


@pytest.mark.parametrize(
    "path",
    ["/invitations/{t}/accept", "/portal/sign-in/{t}", "/sign-in/{t}"],
)
def test_tokens_in_paths_are_masked_in_the_access_log(path: str) -> None:
    token = "welcome_0123456789abcdef"
    line = f'127.0.0.1:5000 - "GET {path.format(t=token)}?next=/ HTTP/1.1" 200'
    masked = mask(line)
    assert token not in masked
    assert "***" in masked


# 3. and 8. Nothing starts on an opportunity being erased; automations check what a start does.


def _set(engine: Engine, model: type, row_id: Any, **values: Any) -> None:
    with Session(engine) as session:
        session.execute(sa.update(model).where(model.id == row_id).values(**values))  # type: ignore[attr-defined]
        session.commit()


async def _run_of(stack: Stack, automation_id: str, opportunity_id: str) -> AutomationRun:
    """A run recorded `starting` (as a request that crashed leaves it), started now."""
    with Session(stack.engine, expire_on_commit=False) as session:
        run = AutomationRun(
            automation_id=uuid.UUID(automation_id),
            opportunity_id=uuid.UUID(opportunity_id),
            event="opportunity.updated",
            event_key=f"{opportunity_id}:test:{uuid.uuid4()}",
            outcome="starting",
            process_id=uuid.uuid4(),
        )
        session.add(run)
        session.commit()
        return await start_run(session, stack.env.client, stack.settings, run)


async def test_nothing_starts_or_changes_while_an_erasure_runs(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    automation = await factories.automation(http, admin, template["id"], filter={})
    opportunity = await factories.opportunity(http, admin)
    # The erasure has marked it and is waiting for its processes to end.
    _set(stack.engine, Opportunity, uuid.UUID(opportunity["id"]), erasing_since=utcnow())

    start = await http.post(
        "/api/processes",
        json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
        headers=admin,
    )
    assert start.status_code == 422, start.text
    assert "being erased" in start.text
    change = await http.patch(
        f"/api/opportunities/{opportunity['id']}", json={"title": "new"}, headers=admin
    )
    assert change.status_code == 409, change.text
    run = await _run_of(stack, automation["id"], opportunity["id"])
    assert (run.outcome, run.reason) == (
        "skipped",
        "this opportunity's customer data is being erased",
    )


async def test_an_automation_start_checks_what_a_start_by_hand_does(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    automation = await factories.automation(http, admin, template["id"], filter={})
    opportunity = await factories.opportunity(http, admin)

    _set(stack.engine, Automation, uuid.UUID(automation["id"]), enabled=False)
    run = await _run_of(stack, automation["id"], opportunity["id"])
    assert (run.outcome, run.reason) == ("skipped", "the automation is disabled")

    _set(stack.engine, Automation, uuid.UUID(automation["id"]), enabled=True)
    _set(stack.engine, Opportunity, uuid.UUID(opportunity["id"]), erased_at=utcnow())
    run = await _run_of(stack, automation["id"], opportunity["id"])
    assert (run.outcome, run.reason) == ("skipped", "this opportunity's customer data was erased")

    _set(stack.engine, Opportunity, uuid.UUID(opportunity["id"]), erased_at=None)
    with Session(stack.engine) as session:
        contact_id = session.get(ProcessTemplate, uuid.UUID(template["id"])).contact_user_id  # type: ignore[union-attr]
    _set(stack.engine, User, contact_id, active=False)
    run = await _run_of(stack, automation["id"], opportunity["id"])
    assert run.outcome == "skipped"
    assert run.reason == "the template's contact person is not an active user"


# 4. An invitation accepted as the partner is revoked leaves it revoked.


async def test_an_accept_racing_a_revocation_does_not_undo_it(stack: Stack) -> None:
    invited, token = await factories.invited_partner(stack.http, stack.admin)
    accepting = Session(stack.engine, expire_on_commit=False)
    try:
        # The accept has read the partner as invited ...
        invitations.usable(accepting, token)
        accepting.commit()
        # ... when the admin revokes it.
        revoked = await stack.http.post(
            f"/api/partners/{invited['id']}/revoke", headers=stack.admin
        )
        assert revoked.status_code == 200, revoked.text
        with pytest.raises(Refused) as refused:
            invitations.accept(accepting, token, "Erika", "erika@partner.example.com")
        assert refused.value.kind == "gone"
        accepting.rollback()
    finally:
        accepting.close()
    with Session(stack.engine) as session:
        partner = session.get(Partner, uuid.UUID(invited["id"]))
        assert partner is not None and partner.status == "revoked"


# 5. Switching a user on again gives back no token made while it was off.


async def test_activating_again_revokes_a_token_made_while_deactivated(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    person = await factories.member(http, admin)
    off = await http.post(f"/api/users/{person['id']}/deactivate", headers=admin)
    assert off.status_code == 200, off.text
    with Session(stack.engine) as session:  # one that raced the deactivation
        late = issue_token(session, uuid.UUID(person["id"]), ttl_days=30)
        session.commit()
    on = await http.post(f"/api/users/{person['id']}/activate", headers=admin)
    assert on.status_code == 200, on.text
    assert (await http.get("/api/my/tasks", headers=factories.bearer(late))).status_code == 401


# 6. A partner is not shown why a process needs attention.


async def test_partners_do_not_see_attention_reasons(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    colleague = await factories.partner_user(http, admin, partner["id"])
    process = await factories.commissioned(http, admin, partner["id"])
    reason = "e-mail to another partner's step failed: mailbox full"
    _set(stack.engine, Process, uuid.UUID(process["id"]), attention=True, attention_reason=reason)

    staff = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
    assert (staff["attention"], staff["attention_reason"]) == (True, reason)
    theirs = factories.bearer(colleague["token"])
    shown = await http.get(f"/api/processes/{process['id']}", headers=theirs)
    listed = await http.get("/api/processes", headers=theirs)
    assert shown.status_code == listed.status_code == 200
    assert reason not in shown.text + listed.text
    assert shown.json()["attention"] is None
