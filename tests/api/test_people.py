"""People: a new account's first sign-in by e-mail (never a token for its creator),
deactivation, token expiry and use, the admin's token list, and the first admin's token."""

import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from partnerflow.auth import hash_token, token_owner
from partnerflow.db import UTCDateTime, make_engine, utcnow
from partnerflow.migrate import ROOT, upgrade
from partnerflow.models import ApiToken
from partnerflow.sign_in import csrf_token
from tests import factories
from tests.conftest import Inbox, Stack, eventually, running_stack
from tests.web import browser, link_in, signed_in_partner, signed_in_staff


def _token_row(stack: Stack, token: str) -> ApiToken:
    with Session(stack.engine) as session:
        return session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()


def _change_token(stack: Stack, token: str, **values: Any) -> None:
    """Move a token through time in the database: its expiry or last use."""
    with Session(stack.engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()


async def _token_made_on_the_account_page(person: Any, account: str) -> str:
    made = await person.post(
        f"{account}/tokens", data={"csrf": csrf_token(person.cookies["pf_session"])}
    )
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    match = re.search(r'<code id="new-token">([^<]+)</code>', made.text)
    assert match, made.text
    return match.group(1)


# A new account: a sign-in link to its own address, never a credential for its creator.


async def test_a_new_user_gets_a_single_use_sign_in_link_not_a_token(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    response = await http.post(
        "/api/users",
        json={"name": "Nora Neu", "email": "Nora.Neu@company.example.com", "role": "member"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert "token" not in created and not re.search(r"pf_[A-Za-z0-9_-]{20}", response.text)
    assert created["sign_in_link"] == "sent"

    link = await factories.welcome_link(http, admin, "nora.neu@company.example.com")
    assert link.startswith("/sign-in/")
    async with browser(http) as nora:
        shown = await nora.get(link)
        assert shown.status_code == 200 and "Nora Neu" in shown.text
        signed_in = await nora.post(link)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
        assert (await nora.get("/account")).status_code == 200
        token = await _token_made_on_the_account_page(nora, "/account")
    me = await http.get("/api/me", headers=factories.bearer(token))
    assert me.status_code == 200 and me.json()["email"] == "nora.neu@company.example.com"

    # The link worked once.
    async with browser(http) as someone:
        again = await someone.post(link)
        assert again.status_code == 410 and "pf_session" not in someone.cookies
        # An unknown link is not a sign-in either.
        assert (await someone.get("/sign-in/not-a-link")).status_code == 404


async def test_a_partner_colleague_gets_a_sign_in_link_not_a_token(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    owner = factories.bearer(partner["owner_token"])
    response = await http.post(
        f"/api/partners/{partner['id']}/users",
        json={"name": "Kai Kollege", "email": "kai@partner.example.com"},
        headers=owner,
    )
    assert response.status_code == 201, response.text
    assert "token" not in response.json() and response.json()["sign_in_link"] == "sent"

    link = await factories.welcome_link(http, admin, "kai@partner.example.com")
    assert link.startswith("/portal/sign-in/")
    async with browser(http) as kai:
        signed_in = await kai.post(link)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portal"
        assert (await kai.get("/portal/account")).status_code == 200
        token = await _token_made_on_the_account_page(kai, "/portal/account")
    tasks = await http.get("/api/my/tasks", headers=factories.bearer(token))
    assert tasks.status_code == 200


async def test_the_creator_never_sees_the_new_accounts_link_when_mail_is_delivered(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    smtp_inbox: tuple[int, Inbox],
) -> None:
    port, inbox = smtp_inbox
    async with running_stack(
        temporal_env, database_url, engine, mail_transport="smtp", smtp_host="127.0.0.1",
        smtp_port=port,
    ) as stack:  # fmt: skip
        address = "lena@company.example.com"
        response = await stack.http.post(
            "/api/users", json={"name": "Lena", "email": address}, headers=stack.admin
        )
        assert response.status_code == 201 and response.json()["sign_in_link"] == "sent"
        received = [m for m in inbox.messages if m["To"] == address]
        assert len(received) == 1
        body = received[0].get_body(preferencelist=("plain",))
        assert body is not None
        link = link_in(body.get_content(), r"/sign-in/[A-Za-z0-9_-]+")
        stored = (
            await stack.http.get("/api/outbox", params={"to": address}, headers=stack.admin)
        ).json()["data"]
        assert [e["kind"] for e in stored] == ["welcome"]
        assert link.rsplit("/", 1)[1] not in stored[0]["text"] + stored[0]["html"]
        assert "/sign-in/***" in stored[0]["text"]
        async with browser(stack.http) as lena:
            assert (await lena.post(link)).status_code == 303


# When someone leaves: deactivation ends everything they could sign in with, at once.


async def test_deactivating_a_user_ends_their_tokens_and_sessions_at_once(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    partner = await factories.partner(http, admin)
    colleague = await factories.partner_user(http, admin, partner["id"])
    async with browser(http) as member_browser, browser(http) as colleague_browser:
        await signed_in_staff(member_browser, member["token"])
        await signed_in_partner(colleague_browser, admin, colleague["email"])
        assert (await member_browser.get("/processes")).status_code == 200
        assert (await colleague_browser.get("/portal")).status_code == 200

        for user in (member, colleague):
            response = await http.post(f"/api/users/{user['id']}/deactivate", headers=admin)
            assert response.status_code == 200, response.text
            assert response.json()["active"] is False and response.json()["deactivated_at"]

        page = await member_browser.get("/processes")
        assert page.status_code == 303
        assert page.headers["location"] == "/sign-in?next=/processes"
        page = await colleague_browser.get("/portal")
        assert page.status_code == 303
        assert page.headers["location"] == "/portal/sign-in?next=/portal"
        for user in (member, colleague):
            refused = await http.get("/api/me", headers=factories.bearer(user["token"]))
            assert refused.status_code == 401
            assert refused.json()["detail"] == "this account is deactivated"
        # Signing in again is refused too: with the token, or by asking for a link.
        again = await member_browser.post("/sign-in", data={"token": member["token"]})
        assert again.status_code == 401
        await colleague_browser.post("/portal/sign-in", data={"email": colleague["email"]})
    links = (
        await http.get(
            "/api/outbox", params={"kind": "magic_link", "to": colleague["email"]}, headers=admin
        )
    ).json()["data"]
    assert len(links) == 1  # the one asked for before the deactivation
    tokens = (await http.get("/api/tokens", params={"user_id": member["id"]}, headers=admin)).json()
    assert tokens["count"] == 1 and tokens["data"][0]["revoked"] is True
    listed = (await http.get("/api/users", headers=admin)).json()["data"]
    assert [u["active"] for u in listed if u["id"] == member["id"]] == [False]


def _check_template(contact_id: str) -> dict[str, Any]:
    return {
        "name": "Check",
        "contact_user_id": contact_id,
        "steps": [
            {
                "key": "check_offer",
                "name": "Check the offer",
                "assignee": {"type": "user", "user_id": contact_id},
            }
        ],
    }


async def test_deactivation_names_what_the_user_still_holds_until_it_is_handed_over(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    leaver = await factories.member(http, admin)
    successor = await factories.member(http, admin, name="Otto Nachfolger")
    template = await factories.published_template(http, admin, _check_template(leaver["id"]))
    process = await factories.started(http, admin, template["id"])
    steps_url = f"/api/processes/{process['id']}/steps/check_offer"

    async def step_status() -> str:
        detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
        return str(detail["steps"][0]["status"])

    assert await eventually(step_status, lambda status: status == "active") == "active"
    response = await http.post(f"/api/users/{leaver['id']}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    held = response.json()
    assert held["open_steps"] == [{"process_id": process["id"], "step_key": "check_offer"}]
    assert held["contact_of_processes"] == [process["id"]]
    assert held["contact_of_templates"] == [template["id"]]

    # Hand over: the open step, then the template (its contact person and its step).
    to_leaver = {"assignee": {"type": "user", "user_id": leaver["id"]}}
    refused = await http.post(f"{steps_url}/reassign", json=to_leaver, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "assignee", "user_id"]
    to_successor = {"assignee": {"type": "user", "user_id": successor["id"]}}
    moved = await http.post(f"{steps_url}/reassign", json=to_successor, headers=admin)
    assert moved.status_code == 200, moved.text
    updated = await http.put(
        f"/api/process-templates/{template['id']}",
        json=_check_template(successor["id"]),
        headers=admin,
    )
    assert updated.status_code == 200, updated.text
    published = await http.post(f"/api/process-templates/{template['id']}/publish", headers=admin)
    assert published.status_code == 200, published.text
    # Asking again changes nothing about the user and shows what is left.
    again = (await http.post(f"/api/users/{leaver['id']}/deactivate", headers=admin)).json()
    assert again["open_steps"] == [] and again["contact_of_templates"] == []
    assert again["deactivated_at"] == held["deactivated_at"]
    tasks = (await http.get("/api/my/tasks", headers=factories.bearer(successor["token"]))).json()
    assert [t["step_key"] for t in tasks["data"]] == ["check_offer"]


async def test_an_admin_cannot_deactivate_themselves_or_someone_unknown(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    me = (await http.get("/api/me", headers=admin)).json()
    response = await http.post(f"/api/users/{me['id']}/deactivate", headers=admin)
    assert response.status_code == 409 and "yourself" in response.json()["detail"]
    assert (await http.get("/api/me", headers=admin)).status_code == 200
    unknown = await http.post(f"/api/users/{uuid.uuid4()}/deactivate", headers=admin)
    assert unknown.status_code == 404
    bad = await http.post("/api/users/not-an-id/deactivate", headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "user_id"]


async def test_an_activated_user_signs_in_by_a_new_link_and_old_tokens_stay_dead(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    await http.post(f"/api/users/{member['id']}/deactivate", headers=admin)
    response = await http.post(f"/api/users/{member['id']}/activate", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True and response.json()["sign_in_link"] == "sent"
    old = await http.get("/api/me", headers=factories.bearer(member["token"]))
    assert old.status_code == 401 and "revoked" in old.json()["detail"]
    new_token = await factories.own_token(http, admin, member["email"])
    assert (await http.get("/api/me", headers=factories.bearer(new_token))).status_code == 200
    # Already active: nothing is sent.
    again = await http.post(f"/api/users/{member['id']}/activate", headers=admin)
    assert again.status_code == 200 and again.json()["sign_in_link"] is None


# Tokens expire, record their use, and an admin sees and revokes any of them.


async def test_an_expired_token_is_refused_with_a_clear_reason(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    row = _token_row(stack, member["token"])
    assert row.expires_at - row.created_at == timedelta(days=stack.settings.token_ttl_days)
    spare = await http.post("/api/me/tokens", headers=factories.bearer(member["token"]))
    assert spare.status_code == 201 and spare.json()["state"] == "live"
    async with browser(http) as member_browser:
        await signed_in_staff(member_browser, member["token"])
        _change_token(stack, member["token"], expires_at=utcnow() - timedelta(minutes=1))

        refused = await http.get("/api/me", headers=factories.bearer(member["token"]))
        assert refused.status_code == 401
        assert refused.json()["detail"].startswith("this token expired at ")
        assert refused.headers["www-authenticate"] == "Bearer"
        # The browser session opened with it ends with it.
        page = await member_browser.get("/processes")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    spare_headers = factories.bearer(spare.json()["token"])
    assert (await http.get("/api/me", headers=spare_headers)).status_code == 200
    mine = (await http.get("/api/me/tokens", headers=spare_headers)).json()["data"]
    assert sorted(t["state"] for t in mine) == ["expired", "live"]


async def test_last_use_is_recorded_at_most_once_a_minute(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    headers = factories.bearer(member["token"])
    assert _token_row(stack, member["token"]).last_used_at is None
    await http.get("/api/me", headers=headers)
    first = _token_row(stack, member["token"]).last_used_at
    assert first is not None
    for _ in range(3):
        await http.get("/api/me", headers=headers)
    assert _token_row(stack, member["token"]).last_used_at == first
    a_while_ago = utcnow() - timedelta(minutes=2)
    _change_token(stack, member["token"], last_used_at=a_while_ago)
    await http.get("/api/me", headers=headers)
    latest = _token_row(stack, member["token"]).last_used_at
    assert latest is not None and latest > a_while_ago
    listed = (await http.get("/api/tokens", params={"user_id": member["id"]}, headers=admin)).json()
    assert listed["data"][0]["last_used_at"] is not None


async def test_an_admin_lists_every_token_and_revokes_anyones(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    partner = await factories.partner(http, admin)
    listing = await http.get("/api/tokens", headers=admin)
    assert listing.status_code == 200
    owners = {t["owner"]["email"]: t for t in listing.json()["data"]}
    assert {member["email"], partner["owner_email"]} <= owners.keys()
    row = owners[member["email"]]
    assert row["owner"]["id"] == member["id"] and row["revoked"] is False
    assert row["created_at"] and row["expires_at"] and row["state"] == "live"
    for secret in (member["token"], partner["owner_token"]):
        assert secret not in listing.text and hash_token(secret) not in listing.text
    assert all(set(t) >= {"last_used_at", "revoked_at"} for t in listing.json()["data"])
    assert all("token" not in t and "token_hash" not in t for t in listing.json()["data"])

    async with browser(http) as member_browser:
        await signed_in_staff(member_browser, member["token"])
        revoked = await http.delete(f"/api/tokens/{row['id']}", headers=admin)
        assert revoked.status_code == 204
        refused = await http.get("/api/me", headers=factories.bearer(member["token"]))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        page = await member_browser.get("/processes")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    partner_row = owners[partner["owner_email"]]
    assert (await http.delete(f"/api/tokens/{partner_row['id']}", headers=admin)).status_code == 204
    partner_me = await http.get("/api/me", headers=factories.bearer(partner["owner_token"]))
    assert partner_me.status_code == 401
    after = (await http.get("/api/tokens", params={"user_id": member["id"]}, headers=admin)).json()
    assert after["data"][0]["revoked"] is True and after["data"][0]["state"] == "revoked"
    assert (await http.delete(f"/api/tokens/{uuid.uuid4()}", headers=admin)).status_code == 404


async def test_a_person_revokes_their_own_token_on_the_account_page(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    member = await factories.member(http, admin)
    async with browser(http) as member_browser:
        csrf = await signed_in_staff(member_browser, member["token"])
        spare = await _token_made_on_the_account_page(member_browser, "/account")
        row = _token_row(stack, spare)
        response = await member_browser.post(
            f"/account/tokens/{row.id}/revoke", data={"csrf": csrf}
        )
        assert response.status_code == 303
        assert (await http.get("/api/me", headers=factories.bearer(spare))).status_code == 401
        # Someone else's token is not theirs to revoke.
        admin_token = (await http.get("/api/me/tokens", headers=admin)).json()["data"][0]
        foreign = await member_browser.post(
            f"/account/tokens/{admin_token['id']}/revoke", data={"csrf": csrf}
        )
        assert foreign.status_code == 404
    assert (await http.get("/api/me", headers=admin)).status_code == 200


# The first admin's token when none is configured (`docker compose up` with .env.example).


def _migrate(tmp_path: Path, admin_token: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERFLOW_")}
    env["PARTNERFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'partnerflow.db'}"
    env["PARTNERFLOW_ADMIN_TOKEN"] = admin_token
    return subprocess.run(
        [sys.executable, "-m", "partnerflow.migrate"],
        cwd=tmp_path,  # no .env of the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _works(tmp_path: Path, token: str) -> bool:
    engine = make_engine(f"sqlite:///{tmp_path / 'partnerflow.db'}")
    try:
        with Session(engine) as session:
            owner = token_owner(session, token)
            return owner is not None and owner[1].role == "admin"
    finally:
        engine.dispose()


def test_an_empty_admin_token_setting_makes_one_and_shows_it_once(tmp_path: Path) -> None:
    first = _migrate(tmp_path, "")
    assert first.returncode == 0, first.stderr
    shown = re.findall(r"pf_[A-Za-z0-9_-]{20,}", first.stdout + first.stderr)
    assert len(shown) == 1, first.stdout + first.stderr
    assert "configured" not in first.stdout + first.stderr
    assert "PARTNERFLOW_ADMIN_TOKEN" in first.stdout
    assert _works(tmp_path, shown[0])

    second = _migrate(tmp_path, "")
    assert second.returncode == 0, second.stderr
    assert "pf_" not in second.stdout + second.stderr
    assert _works(tmp_path, shown[0])


def test_a_configured_admin_token_is_used_and_never_printed(tmp_path: Path) -> None:
    chosen = "pf_chosen_by_the_operator_0123456789"
    run = _migrate(tmp_path, chosen)
    assert run.returncode == 0, run.stderr
    assert chosen not in run.stdout + run.stderr
    assert "first admin created with the token PARTNERFLOW_ADMIN_TOKEN names" in run.stderr
    assert _works(tmp_path, chosen)


# The upgrade that brings expiry does not lock anyone out.


def test_an_upgrade_gives_existing_tokens_an_expiry_not_a_lockout(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    user = sa.table(
        "user",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("email", sa.String()),
        sa.column("role", sa.String()),
        sa.column("active", sa.Boolean()),
        sa.column("created_at", UTCDateTime()),
    )
    api_token = sa.table(
        "apitoken",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("token_hash", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    web_session = sa.table(
        "websession",
        sa.column("id", sa.Uuid()),
        sa.column("token_hash", sa.String()),
        sa.column("user_id", sa.Uuid()),
        sa.column("api_token_id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
        sa.column("expires_at", UTCDateTime()),
    )
    user_id, token_id = uuid.uuid4(), uuid.uuid4()
    long_ago = utcnow() - timedelta(days=400)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(user).values(
                id=user_id, name="Old Admin", email="old@example.com", role="admin",
                active=True, created_at=long_ago,
            )
        )  # fmt: skip
        connection.execute(
            sa.insert(api_token).values(
                id=token_id, user_id=user_id, token_hash=hash_token("pf_old"), created_at=long_ago
            )
        )
        connection.execute(
            sa.insert(web_session).values(
                id=uuid.uuid4(), token_hash="s" * 64, user_id=user_id, api_token_id=token_id,
                created_at=long_ago, expires_at=utcnow() + timedelta(hours=1),
            )
        )  # fmt: skip
    try:
        upgrade(engine)
        with Session(engine) as session:
            owner = token_owner(session, "pf_old")
            assert owner is not None
            assert owner[0].expires_at > utcnow() + timedelta(days=89)
            assert owner[0].last_used_at is None
    finally:
        engine.dispose()
