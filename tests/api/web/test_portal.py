"""The partner portal and the contact person's pages, through HTTP as a browser sends it."""

from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from partnerflow.db import utcnow
from partnerflow.models import MagicLink, Notification, User, WebSession
from partnerflow.partners import PERMISSIONS
from partnerflow.sign_in import csrf_token
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack, eventually
from tests.web import browser, link_in, signed_in_partner, signed_in_staff

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def partner_with_work(
    stack: Stack, deadline: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """An active partner allowed to upload, the e-mail of its user, and its open installation."""
    partner = await factories.partner(stack.http, stack.admin)
    await factories.granted(stack.http, stack.admin, partner["id"], *PERMISSIONS)
    template = await factories.published_template(
        stack.http, stack.admin, factories.installation_template(partner["id"], deadline)
    )
    process = await factories.started(stack.http, stack.admin, template["id"])
    detail = await factories.commission(stack.http, stack.admin, process["id"])
    return partner, partner["owner_email"], detail


async def step_of(stack: Stack, process_id: str, key: str) -> dict[str, Any]:
    body = (await stack.http.get(f"/api/processes/{process_id}", headers=stack.admin)).json()
    step: dict[str, Any] = next(s for s in body["steps"] if s["key"] == key)
    return step


async def test_partner_follows_the_link_records_the_appointment_uploads_and_finishes(
    stack: Stack,
) -> None:
    _, email, process = await partner_with_work(stack)
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as partner:
        # Not signed in: the step link from the hand-over e-mail leads to the sign-in page.
        response = await partner.get(step_path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/portal/sign-in?next={step_path}"

        response = await partner.post("/portal/sign-in", data={"email": email, "next": step_path})
        assert response.status_code == 200
        assert "Check your e-mail" in response.text
        sent = (
            await stack.http.get(
                "/api/outbox", params={"kind": "magic_link", "to": email}, headers=stack.admin
            )
        ).json()["data"]
        assert len(sent) == 1 and sent[0]["to"] == email
        link = link_in(sent[0]["text"])

        # Opening the link does not use it up (mail scanners open links); the button does.
        assert (await partner.get(link)).status_code == 200
        response = await partner.post(link)
        assert response.status_code == 303
        assert response.headers["location"] == step_path
        csrf = csrf_token(partner.cookies["pf_session"])

        tasks = await partner.get("/portal")
        assert "Installation" in tasks.text and "Jana Becker" in tasks.text

        page = await partner.get(step_path)
        assert page.status_code == 200
        assert "Agree the date with the customer" in page.text and "Lindenweg 4" in page.text

        response = await partner.post(
            f"{step_path}/appointment", data={"appointment": "2026-12-11T14:00", "csrf": csrf}
        )
        assert response.status_code == 303
        step = await step_of(stack, process["id"], "installation")
        assert step["due_at"].startswith("2026-12-11T13:00:00")  # 14:00 in Berlin, in UTC

        # Finishing without the invoice is refused, on the page, with the reason.
        response = await partner.post(
            f"{step_path}/complete", data={"field:installed_on": "2026-12-11", "csrf": csrf}
        )
        assert response.status_code in (409, 422)
        assert "invoice" in response.text.lower()
        assert 'value="2026-12-11"' in response.text  # what was typed is kept

        response = await partner.post(
            f"{step_path}/documents",
            data={"type": "invoice", "csrf": csrf},
            files={"file": ("Rechnung 4711.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 303, response.text
        response = await partner.post(
            f"{step_path}/complete", data={"field:installed_on": "2026-12-11", "csrf": csrf}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/portal?flash=finished"

        step = await step_of(stack, process["id"], "installation")
        assert step["status"] == "completed"
        assert step["fields"] == {"installed_on": "2026-12-11"}
        assert [d["filename"] for d in step["documents"]] == ["Rechnung 4711.pdf"]
        assert "Installation" not in (await partner.get("/portal")).text

        # The link worked once.
        again = await partner.post(link)
        assert again.status_code == 410
        assert "already used" in again.text

    # The contact person sees it done.
    async with browser(stack.http) as staff:
        await signed_in_staff(staff, ADMIN_TOKEN)
        page = await staff.get(f"/processes/{process['id']}")
        assert page.status_code == 200
        assert "Rechnung 4711.pdf" in page.text
        assert "2 of 2" not in page.text  # the process page shows steps, not the dashboard bar
        dashboard = await staff.get("/processes", params={"show": "completed"})
        assert "2 of 2 steps done" in dashboard.text


async def test_sign_in_links_expire_and_unknown_addresses_learn_nothing(stack: Stack) -> None:
    _, email, _ = await partner_with_work(stack)
    async with browser(stack.http) as partner:
        unknown = await partner.post("/portal/sign-in", data={"email": "nobody@example.com"})
        known = await partner.post("/portal/sign-in", data={"email": email.upper()})
        assert unknown.status_code == known.status_code == 200
        assert unknown.text.replace("nobody@example.com", "X") == known.text.replace(
            email.upper(), "X"
        )
        sent = (
            await stack.http.get("/api/outbox", params={"kind": "magic_link"}, headers=stack.admin)
        ).json()["data"]
        assert [e["to"] for e in sent] == [email]
        token = link_in(sent[0]["text"]).rsplit("/", 1)[1]

        with Session(stack.engine) as session:
            link = session.exec(select(MagicLink)).one()
            assert token not in link.token_hash  # only the hash is stored
            link.expires_at = utcnow() - timedelta(seconds=1)
            session.add(link)
            session.commit()
        response = await partner.post(f"/portal/sign-in/{token}")
        assert response.status_code == 410
        assert "expired" in response.text
        assert "pf_session" not in partner.cookies
        assert (await partner.get("/portal/sign-in/not-a-token")).status_code == 404

        bad = await partner.post("/portal/sign-in", data={"email": "not an address"})
        assert bad.status_code == 422
        assert 'aria-invalid="true"' in bad.text


async def test_a_partner_sees_only_its_own_steps_and_no_staff_pages(stack: Stack) -> None:
    _, _, process = await partner_with_work(stack)
    other = await factories.partner(stack.http, stack.admin, name="Andere Elektro GmbH")
    async with browser(stack.http) as intruder:
        await signed_in_partner(intruder, stack.admin, other["owner_email"])
        step_path = f"/portal/processes/{process['id']}/steps/installation"
        assert (await intruder.get(step_path)).status_code == 404
        assert (
            await intruder.get(f"/portal/processes/{process['id']}/steps/commission_partner")
        ).status_code == 404
        assert "Installation" not in (await intruder.get("/portal")).text
        for staff_page in (
            "/processes",
            f"/processes/{process['id']}",
            "/outbox",
            "/builder",
            "/emails",
        ):
            response = await intruder.get(staff_page)
            assert response.status_code == 403, staff_page
        # The API token of a partner does not open the staff pages either.
        response = await intruder.post("/sign-in", data={"token": other["owner_token"]})
        assert response.status_code == 401


async def test_forms_without_the_session_form_token_are_refused(stack: Stack) -> None:
    _, email, process = await partner_with_work(stack)
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as partner:
        await signed_in_partner(partner, stack.admin, email)
        for data in ({"body": "hello"}, {"body": "hello", "csrf": "forged"}):
            response = await partner.post(f"{step_path}/comments", data=data)
            assert response.status_code == 403
        comments = (
            await stack.http.get(
                f"/api/processes/{process['id']}/steps/installation/comments", headers=stack.admin
            )
        ).json()
        assert comments["count"] == 0


async def test_staff_sign_in_and_out(stack: Stack) -> None:
    async with browser(stack.http) as staff:
        wrong = await staff.post("/sign-in", data={"token": "pf_wrong"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        # An address on another site is not followed after sign-in.
        response = await staff.post(
            "/sign-in", data={"token": ADMIN_TOKEN, "next": "//evil.example.com/x"}
        )
        assert response.headers["location"] == "/processes"
        cookie = staff.cookies["pf_session"]
        with Session(stack.engine) as session:
            stored = session.exec(select(WebSession)).one()
            assert cookie not in stored.token_hash
        response = await staff.post("/sign-out", data={"csrf": csrf_token(cookie)})
        assert response.status_code == 303
        # The old cookie is dead even if a browser kept it.
        staff.cookies.set("pf_session", cookie)
        response = await staff.get("/processes")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/processes"


async def test_dashboard_puts_overdue_processes_first(stack: Stack) -> None:
    # The late one's installation is due a second after it opens.
    partner, _, late = await partner_with_work(stack, deadline={"after": "PT1S"})
    template = await factories.published_template(
        stack.http, stack.admin, factories.installation_template(partner["id"], {"after": "P3D"})
    )
    on_time = await factories.started(stack.http, stack.admin, template["id"])
    await eventually(lambda: step_of(stack, late["id"], "installation"), lambda s: s["overdue"])
    async with browser(stack.http) as staff:
        await signed_in_staff(staff, ADMIN_TOKEN)
        page = (await staff.get("/processes")).text
    assert page.index(late["id"]) < page.index(on_time["id"])
    assert page.count("badge late") == 1


async def test_outbox_page_is_for_admins_and_shows_the_mail_sandboxed(stack: Stack) -> None:
    _, email, _ = await partner_with_work(stack)
    member = await factories.member(stack.http, stack.admin)
    async with browser(stack.http) as admin, browser(stack.http) as other:
        await signed_in_staff(admin, ADMIN_TOKEN)
        page = await admin.get("/outbox", params={"kind": "handover"})
        assert page.status_code == 200
        assert email in page.text
        first = page.text.split('href="/outbox/')[1].split('"')[0]
        shown = await admin.get(f"/outbox/{first}")
        assert 'sandbox=""' in shown.text and "&lt;p&gt;" in shown.text  # escaped into srcdoc
        await signed_in_staff(other, member["token"])
        assert (await other.get("/outbox")).status_code == 403
        assert (await other.get("/processes")).status_code == 200


async def test_invitation_page_accepts_and_signs_the_partner_in(stack: Stack) -> None:
    invited, token = await factories.invited_partner(stack.http, stack.admin)
    async with browser(stack.http) as partner:
        page = await partner.get(f"/invitations/{token}")
        assert page.status_code == 200 and invited["name"] in page.text
        missing = await partner.post(
            f"/invitations/{token}", data={"answer": "accept", "name": "", "email": "x"}
        )
        assert missing.status_code == 422 and "Enter your name" in missing.text
        response = await partner.post(
            f"/invitations/{token}",
            data={
                "answer": "accept",
                "name": "Erika Inhaberin",
                "email": "erika@partner.example.com",
            },
        )
        assert response.status_code == 303
        welcome = await partner.get(response.headers["location"])
        assert "My tasks" in welcome.text and "Welcome" in welcome.text
        assert (await partner.get(f"/invitations/{token}")).status_code == 410
    status = (await stack.http.get(f"/api/partners/{invited['id']}", headers=stack.admin)).json()
    assert status["status"] == "active"


async def test_pages_need_a_session(stack: Stack) -> None:
    async with browser(stack.http) as anonymous:
        for path, sign_in in (("/processes", "/sign-in"), ("/portal", "/portal/sign-in")):
            response = await anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith(sign_in)
        assert (await anonymous.get("/")).headers["location"] == "/sign-in"
        response = await anonymous.get("/no-such-page")
        assert response.status_code == 404 and "text/html" in response.headers["content-type"]
        # the API keeps answering JSON
        response = await anonymous.get("/api/processes")
        assert response.status_code == 401 and response.json()["detail"]


async def test_pages_cannot_be_framed_and_leak_no_referrer(stack: Stack) -> None:
    response = await stack.http.get("/portal/sign-in")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "content-security-policy" not in (await stack.http.get("/healthz")).headers


async def test_a_malformed_form_gets_a_page_not_json(stack: Stack) -> None:
    _, token = await factories.invited_partner(stack.http, stack.admin)
    async with browser(stack.http) as visitor:
        response = await visitor.post(f"/invitations/{token}", data={"answer": "maybe"})
        assert response.status_code == 422
        assert "text/html" in response.headers["content-type"]
        assert "answer" in response.text
    response = await stack.http.post(f"/api/invitations/{token}/accept", json={})
    assert response.status_code == 422 and response.json()["detail"]


async def test_dates_at_the_edge_of_the_calendar_are_refused_not_stored(stack: Stack) -> None:
    # A deadline in the year 9999 was accepted and then broke every page that showed it.
    _, email, process = await partner_with_work(stack)
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as partner:
        csrf = await signed_in_partner(partner, stack.admin, email)
        for moment in ("9999-12-31T23:30", "0001-01-01T00:30", "2099-01-01T10:00"):
            response = await partner.post(
                f"{step_path}/appointment", data={"appointment": moment, "csrf": csrf}
            )
            assert response.status_code == 422, moment
            assert "within the next 10 years" in response.text
        response = await partner.post(
            f"{step_path}/complete", data={"field:installed_on": "9999-12-31", "csrf": csrf}
        )
        assert response.status_code == 422
        assert "between the years 1900 and 2199" in response.text
        # A document type the API would refuse is refused here too.
        response = await partner.post(
            f"{step_path}/documents",
            data={"type": "../../Not A Type", "csrf": csrf},
            files={"file": ("x.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 422
        assert (await partner.get("/portal")).status_code == 200
    step = await step_of(stack, process["id"], "installation")
    assert step["due_at"] is None  # the step has no deadline, and none was stored
    assert step["documents"] == []


async def test_revoking_the_token_ends_the_browser_session_signed_in_with_it(
    stack: Stack,
) -> None:
    member = await factories.member(stack.http, stack.admin)
    headers = {"Authorization": f"Bearer {member['token']}"}
    async with browser(stack.http) as staff:
        await signed_in_staff(staff, member["token"])
        assert (await staff.get("/processes")).status_code == 200
        tokens = (await stack.http.get("/api/me/tokens", headers=headers)).json()["data"]
        response = await stack.http.delete(f"/api/me/tokens/{tokens[0]['id']}", headers=headers)
        assert response.status_code == 204
        response = await staff.get("/processes")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")


async def test_a_foreign_page_cannot_sign_this_browser_in(stack: Stack) -> None:
    async with browser(stack.http) as visitor:
        response = await visitor.post(
            "/sign-in", data={"token": ADMIN_TOKEN}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert "pf_session" not in visitor.cookies
        response = await visitor.post(
            "/sign-in", data={"token": ADMIN_TOKEN}, headers={"Origin": "http://partnerflow.test"}
        )
        assert response.status_code == 303


async def test_a_form_sent_after_the_session_ended_returns_to_its_page(stack: Stack) -> None:
    _, _, process = await partner_with_work(stack)
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(stack.http) as partner:
        response = await partner.post(
            f"{step_path}/complete",
            data={"csrf": "stale"},
            headers={"Referer": f"http://partnerflow.test{step_path}"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/portal/sign-in?next={step_path}"
        response = await partner.post(f"{step_path}/complete", data={"csrf": "stale"})
        assert response.headers["location"] == "/portal/sign-in?next=/portal"


async def test_asking_again_leaves_the_earlier_sign_in_link_working(stack: Stack) -> None:
    # Only the newest few links work (tests/api/test_leaks.py): asking for another one, as a
    # stranger may, does not kill the link the partner is about to click.
    _, email, _ = await partner_with_work(stack)
    async with browser(stack.http) as partner:
        for _ in range(2):
            await partner.post("/portal/sign-in", data={"email": email})
        sent = (
            await stack.http.get("/api/outbox", params={"kind": "magic_link"}, headers=stack.admin)
        ).json()["data"]
        newest, older = (link_in(e["text"]) for e in sent)  # newest first
        assert (await partner.post(older)).status_code == 303
        assert (await partner.post(newest)).status_code == 303


async def test_sessions_long_expired_are_cleared_at_the_next_sign_in(stack: Stack) -> None:
    async with browser(stack.http) as first:
        await signed_in_staff(first, ADMIN_TOKEN)
    with Session(stack.engine) as session:
        old = session.exec(select(WebSession)).one()
        old_id = old.id
        old.expires_at = utcnow() - timedelta(days=2)
        session.add(old)
        session.commit()
    async with browser(stack.http) as second:
        await signed_in_staff(second, ADMIN_TOKEN)
    with Session(stack.engine) as session:
        left = session.exec(select(WebSession)).all()
        assert len(left) == 1 and left[0].id != old_id


async def test_notifications_page_shows_only_the_callers_own(stack: Stack) -> None:
    member = await factories.member(stack.http, stack.admin)
    with Session(stack.engine) as session:
        admin_id = session.exec(select(User.id).where(User.role == "admin")).one()
        session.add(
            Notification(
                idempotency_key="t:1", user_id=admin_id, kind="completed", message="Erledigt: X"
            )
        )
        session.commit()
    async with browser(stack.http) as admin, browser(stack.http) as other:
        csrf = await signed_in_staff(admin, ADMIN_TOKEN)
        page = await admin.get("/notifications")
        assert "Erledigt: X" in page.text and "1 unread" in page.text
        response = await admin.post("/notifications/read", data={"csrf": csrf})
        assert response.status_code == 303
        assert "unread" not in (await admin.get("/notifications")).text
        await signed_in_staff(other, member["token"])
        assert "Erledigt: X" not in (await other.get("/notifications")).text
