"""Scratch probes for the review; deleted afterwards."""

import uuid

from sqlmodel import Session, select

from partnerflow.models import ApiToken, User
from partnerflow.sign_in import csrf_token
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.test_web_portal import PDF, partner_with_work
from tests.web import browser, link_in, signed_in_partner, signed_in_staff


async def test_revoked_token_keeps_web_session(stack: Stack) -> None:
    member = await factories.member(stack.http, stack.admin)
    headers = factories.bearer(member["token"])
    async with browser(stack.http) as staff:
        await signed_in_staff(staff, member["token"])
        tokens = (await stack.http.get("/api/me/tokens", headers=headers)).json()["data"]
        r = await stack.http.delete(f"/api/me/tokens/{tokens[0]['id']}", headers=headers)
        assert r.status_code == 204
        assert (await stack.http.get("/api/me", headers=headers)).status_code == 401
        r = await staff.get("/processes")
        print("after revoke /processes:", r.status_code)
        assert r.status_code == 200


async def test_row_count_superscript_500(stack: Stack) -> None:
    template = await factories.published_template(
        stack.http, stack.admin, factories.two_step_template((await factories.partner(stack.http, stack.admin))["id"])
    )
    async with browser(stack.http) as staff:
        csrf = await signed_in_staff(staff, ADMIN_TOKEN)
        r = await staff.post(
            f"/builder/{template['id']}/steps/0",
            data={"csrf": csrf, "key": "commission_partner", "name": "X", "field_rows": "²"},
        )
        print("field_rows=²:", r.status_code)
        assert r.status_code == 500


async def test_portal_upload_type_not_checked(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    await stack.http.put(
        f"/api/partners/{partner['id']}/permissions",
        json={"permissions": ["steps:complete", "documents:upload", "documents:view"]},
        headers=stack.admin,
    )
    process = await factories.commissioned(stack.http, stack.admin, partner["id"])
    with Session(stack.engine) as session:
        email = session.exec(select(User.email).where(User.partner_id == uuid.UUID(partner["id"]))).first()
    path = f"/portal/processes/{process['id']}/steps/installation/documents"
    async with browser(stack.http) as p:
        csrf = await signed_in_partner(p, stack.admin, email)
        r = await p.post(path, data={"csrf": csrf, "type": "../../Not A Type <b>"},
                         files={"file": ("a.pdf", PDF, "application/pdf")})
        print("portal upload odd type:", r.status_code)
        api = await stack.http.post(f"/api/processes/{process['id']}/steps/installation/documents",
                                    data={"type": "../../Not A Type <b>"},
                                    files={"file": ("a.pdf", PDF, "application/pdf")},
                                    headers=factories.bearer(partner["owner_token"]))
        print("api upload odd type:", api.status_code)
        docs = (await stack.http.get(f"/api/processes/{process['id']}/steps/installation/documents", headers=stack.admin)).json()
        print("docs:", [d["type"] for d in docs["data"]])
        assert r.status_code == 303 and api.status_code == 422


async def test_admin_reads_magic_link_in_outbox_page(stack: Stack) -> None:
    _, email, _ = await partner_with_work(stack)
    async with browser(stack.http) as anon, browser(stack.http) as admin:
        await anon.post("/portal/sign-in", data={"email": email})
        await signed_in_staff(admin, ADMIN_TOKEN)
        page = await admin.get("/outbox", params={"kind": "magic_link"})
        first = page.text.split('href="/outbox/')[1].split('"')[0]
        shown = await admin.get(f"/outbox/{first}")
        link = link_in(shown.text)
        r = await admin.post(link)
        print("admin redeems partner link:", r.status_code, r.headers.get("location"))
        assert r.status_code == 303
        assert (await admin.get("/portal")).status_code == 200


async def test_expired_session_on_post_lands_on_405(stack: Stack) -> None:
    _, email, process = await partner_with_work(stack)
    step = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as p:
        r = await p.post(f"{step}/complete", data={"csrf": "x", "field:installed_on": "2026-01-01"})
        print("anon POST complete:", r.status_code, r.headers.get("location"))
        r = await p.post("/portal/sign-in", data={"email": email, "next": f"{step}/complete"})
        sent = (await stack.http.get("/api/outbox", params={"kind": "magic_link", "to": email}, headers=stack.admin)).json()["data"]
        r = await p.post(link_in(sent[0]["text"]))
        print("redeem ->", r.headers.get("location"))
        r2 = await p.get(r.headers["location"])
        print("GET next:", r2.status_code)


async def test_number_field_nan(stack: Stack) -> None:
    partner = await factories.partner(stack.http, stack.admin)
    await stack.http.put(f"/api/partners/{partner['id']}/permissions",
                         json={"permissions": ["steps:complete", "steps:set_deadline"]}, headers=stack.admin)
    body = factories.two_step_template(partner["id"])
    body["steps"][1]["fields"] = [{"key": "kwp", "label": "kWp", "type": "number", "required": True}]
    template = await factories.published_template(stack.http, stack.admin, body)
    process = await factories.started(stack.http, stack.admin, template["id"])
    await stack.http.post(f"/api/processes/{process['id']}/steps/commission_partner/complete", json={}, headers=stack.admin)
    with Session(stack.engine) as session:
        email = session.exec(select(User.email).where(User.partner_id == uuid.UUID(partner["id"]))).first()
    step = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as p:
        csrf = await signed_in_partner(p, stack.admin, email)
        r = await p.post(f"{step}/appointment", data={"csrf": csrf, "appointment": "0001-01-01T00:30"})
        print("appointment year 1:", r.status_code)
        r = await p.post(f"{step}/complete", data={"csrf": csrf, "field:kwp": "1e999"})
        print("number 1e999:", r.status_code, r.headers.get("location"))
        d = (await stack.http.get(f"/api/processes/{process['id']}", headers=stack.admin))
        print("api detail:", d.status_code, d.text[:0])
        async with browser(stack.http) as staff:
            await signed_in_staff(staff, ADMIN_TOKEN)
            r = await staff.get(f"/processes/{process['id']}")
            print("staff process page:", r.status_code)
