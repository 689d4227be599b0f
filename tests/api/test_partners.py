"""Partners: invitations (single use, expiring), revocation, users, tokens, the public limit."""

from datetime import timedelta

from sqlmodel import Session, select

from partnerflow.db import utcnow
from partnerflow.models import Invitation
from tests import factories
from tests.conftest import Stack, eventually


async def test_an_invitation_is_accepted_once(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner, token = await factories.invited_partner(http, admin, name="Dach & Sonne GmbH")
    assert partner["status"] == "invited"
    shown = await http.get(f"/api/invitations/{token}")
    assert shown.status_code == 200
    assert shown.json()["partner_name"] == "Dach & Sonne GmbH"
    assert shown.json()["invited_by"] == "Admin"
    # Only the token's hash is stored.
    with Session(stack.engine) as session:
        stored = session.exec(select(Invitation.token_hash)).all()
    assert token not in stored

    body = {"name": "Erika Inhaberin", "email": "erika@dach.example.com"}
    accepted = await http.post(f"/api/invitations/{token}/accept", json=body)
    assert accepted.status_code == 201, accepted.text
    me = await http.get("/api/me", headers=factories.bearer(accepted.json()["token"]))
    assert me.json()["partner_id"] == partner["id"]
    assert (await http.get(f"/api/partners/{partner['id']}", headers=admin)).json()[
        "status"
    ] == "active"

    again = await http.post(f"/api/invitations/{token}/accept", json=body)
    assert again.status_code == 410
    assert (await http.get(f"/api/invitations/{token}")).status_code == 410
    assert (await http.get("/api/invitations/not-a-real-token")).status_code == 404


async def test_an_expired_invitation_is_refused(stack: Stack) -> None:
    partner, token = await factories.invited_partner(stack.http, stack.admin)
    with Session(stack.engine) as session:
        invitation = session.exec(select(Invitation)).one()
        invitation.expires_at = utcnow() - timedelta(minutes=1)
        session.add(invitation)
        session.commit()
    response = await stack.http.post(
        f"/api/invitations/{token}/accept", json={"name": "E", "email": "e@x.example.com"}
    )
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]
    # A new link works, and the old one stays dead.
    resent = await stack.http.post(f"/api/partners/{partner['id']}/invite", headers=stack.admin)
    assert resent.status_code == 200, resent.text
    emails = (
        await stack.http.get(
            "/api/outbox",
            params={"kind": "invitation", "to": partner["email"]},
            headers=stack.admin,
        )
    ).json()["data"]
    assert len(emails) == 2
    assert (await stack.http.get(f"/api/invitations/{token}")).status_code == 410


async def test_declining_marks_the_partner(stack: Stack) -> None:
    partner, token = await factories.invited_partner(stack.http, stack.admin)
    response = await stack.http.post(f"/api/invitations/{token}/decline")
    assert response.status_code == 200
    got = await stack.http.get(f"/api/partners/{partner['id']}", headers=stack.admin)
    assert got.json()["status"] == "declined"


async def test_a_revoked_partner_is_locked_out_and_its_open_steps_flagged(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    colleague = await factories.partner_user(http, admin, partner["id"])
    process = await factories.commissioned(http, admin, partner["id"])
    token = factories.bearer(colleague["token"])
    assert (await http.get("/api/my/tasks", headers=token)).status_code == 200

    revoked = await http.post(f"/api/partners/{partner['id']}/revoke", headers=admin)
    assert revoked.json()["status"] == "revoked"
    assert (await http.get("/api/my/tasks", headers=token)).status_code == 401
    owner = factories.bearer(partner["owner_token"])
    assert (await http.get("/api/me", headers=owner)).status_code == 401

    async def revoked_notices() -> list[tuple[str, str]]:
        # The contact person's notice goes out in the background once the steps moved.
        notices = (await http.get("/api/notifications", headers=admin)).json()["data"]
        return [(n["process_id"], n["step_key"]) for n in notices if n["kind"] == "partner_revoked"]

    flagged = await eventually(revoked_notices, bool)
    assert flagged == [(process["id"], "installation")]


async def test_partner_users_add_colleagues_but_not_to_others(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    other = await factories.partner(http, admin, name="Andere GmbH")
    owner = factories.bearer(partner["owner_token"])
    body = {"name": "Kai Kollege", "email": "kai@partner.example.com"}
    added = await http.post(f"/api/partners/{partner['id']}/users", json=body, headers=owner)
    assert added.status_code == 201
    assert added.json()["partner_id"] == partner["id"]
    refused = await http.post(f"/api/partners/{other['id']}/users", json=body, headers=owner)
    assert refused.status_code == 404
    member = await factories.member(http, admin)
    by_member = await http.post(
        f"/api/partners/{partner['id']}/users", json=body, headers=factories.bearer(member["token"])
    )
    assert by_member.status_code == 403


async def test_tokens_can_be_added_and_revoked(stack: Stack) -> None:
    http = stack.http
    member = await factories.member(http, stack.admin)
    first = factories.bearer(member["token"])
    issued = await http.post("/api/me/tokens", headers=first)
    assert issued.status_code == 201
    second = factories.bearer(issued.json()["token"])
    listed = (await http.get("/api/me/tokens", headers=second)).json()
    assert listed["count"] == 2
    assert all("token" not in t for t in listed["data"])
    old = next(t for t in listed["data"] if t["id"] != issued.json()["id"])
    assert (await http.delete(f"/api/me/tokens/{old['id']}", headers=second)).status_code == 204
    assert (await http.get("/api/me", headers=first)).status_code == 401
    assert (await http.get("/api/me", headers=second)).status_code == 200


async def test_public_endpoints_are_rate_limited(stack: Stack) -> None:
    statuses = [
        (await stack.http.get(f"/api/invitations/guess-{n}")).status_code
        for n in range(stack.settings.public_rate_limit_per_minute + 5)
    ]
    assert set(statuses[: stack.settings.public_rate_limit_per_minute]) == {404}
    assert statuses[-1] == 429
