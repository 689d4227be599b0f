"""Calendar invitations and feeds over the API: the .ics the e-mails carry (read back from the
outbox) and the feed a calendar app reads, each parsed with `icalendar`."""

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from babel.dates import format_date
from icalendar import Calendar, Event

from tests import factories
from tests.conftest import Stack, eventually
from tests.web import browser, signed_in_partner

BERLIN = ZoneInfo("Europe/Berlin")
Headers = dict[str, str]


def _events(calendar: Calendar) -> dict[str, Event]:
    return {str(event["UID"]): event for event in calendar.events}


def _uid(process_id: str, step_key: str = "installation") -> str:
    return f"{process_id}-{step_key}@partnerflow"


async def _template_with_deadline(stack: Stack, partner_id: str) -> dict[str, Any]:
    body = factories.two_step_template(partner_id)
    body["steps"][1]["deadline"] = {"after": "P3D"}
    return await factories.published_template(stack.http, stack.admin, body)


async def _handed_over(stack: Stack, template_id: str) -> str:
    """A process of the template whose partner step is open; answers its id."""
    process = await factories.started(stack.http, stack.admin, template_id)
    await factories.commission(stack.http, stack.admin, process["id"])
    return str(process["id"])


async def _emails(stack: Stack, process_id: str, kind: str, count: int = 1) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]]:
        response = await stack.http.get(
            "/api/outbox", params={"process_id": process_id, "kind": kind}, headers=stack.admin
        )
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    found = await eventually(listed, lambda emails: len(emails) >= count)
    assert len(found) == count, found
    return found


async def _attached(stack: Stack, email: dict[str, Any]) -> tuple[Calendar, str]:
    """The e-mail's .ics as the outbox serves it: parsed, and as text."""
    response = await stack.http.get(f"/api/outbox/{email['id']}/attachments/0", headers=stack.admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(response.content), response.text


async def _new_feed(http: httpx.AsyncClient, headers: Headers) -> str:
    body = await factories.created(await http.post("/api/me/calendar-feed", headers=headers))
    url: str = body["url"]
    assert url.startswith("http://partnerflow.test/calendar/") and url.endswith(".ics")
    return urlsplit(url).path


async def _feed(http: httpx.AsyncClient, path: str) -> dict[str, Event]:
    response = await http.get(path)  # a calendar app has no sign-in: the URL is the key
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    assert calendar["METHOD"] == "PUBLISH"
    return _events(calendar)


def _day(days: int) -> date:
    return datetime.now(BERLIN).date() + timedelta(days=days)


async def test_an_appointment_keeps_its_uid_and_each_change_raises_the_sequence(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    as_partner = factories.bearer(partner["owner_token"])
    template = await _template_with_deadline(stack, partner["id"])
    process_id = await _handed_over(stack, template["id"])
    uid = _uid(process_id)

    # The hand-over carries the step's deadline as an invitation, in the template's zone.
    [handover] = await _emails(stack, process_id, "handover")
    assert handover["attachments"] == [
        {
            "filename": "installation.ics",
            "content_type": "text/calendar; charset=utf-8; method=REQUEST",
            "size": handover["attachments"][0]["size"],
        }
    ]
    invitation, text = await _attached(stack, handover)
    assert invitation["METHOD"] == "REQUEST"
    assert [tz["TZID"] for tz in invitation.walk("VTIMEZONE")] == ["Europe/Berlin"]
    event = _events(invitation)[uid]
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Installation"
    detail = (await http.get(f"/api/processes/{process_id}", headers=admin)).json()
    due_at = datetime.fromisoformat(detail["steps"][1]["due_at"])
    start = event.decoded("DTSTART")
    # to the second: iCalendar has no fractions
    assert start == due_at.replace(microsecond=0) and str(start.tzinfo) == "Europe/Berlin"
    assert str(event["ORGANIZER"]) == "mailto:noreply@partnerflow.localhost"
    assert f"mailto:{partner['email']}" in [str(a) for a in event.get("ATTENDEE", [])]
    # nothing of the customer (the e-mail's body names them; the .ics is forwarded and synced)
    assert not [word for word in ("Becker", "Lindenweg", "Köln", "555 0100") if word in text]

    # The partner's feed has the same event, unchanged: the same SEQUENCE.
    feed = await _new_feed(http, as_partner)
    assert (await _feed(http, feed))[uid]["SEQUENCE"] == 0

    # The partner records the appointment, moves it, and moves it back: each time an
    # `appointment` e-mail to it confirms the date (in the template's zone) with an update of
    # the same UID and a higher SEQUENCE, and its feed says the same.
    first, moved = _day(10), _day(12)
    changes = [(first, "14:00"), (moved, "09:30"), (first, "14:00")]
    for sequence, (day, clock) in enumerate(changes, start=1):
        response = await http.put(
            f"/api/processes/{process_id}/steps/installation/deadline",
            json={"due_at": f"{day.isoformat()}T{clock}"},
            headers=as_partner,
        )
        assert response.status_code == 200, response.text
        hour, minute = map(int, clock.split(":"))
        begins = datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)
        sent = await _emails(stack, process_id, "appointment", count=sequence)
        confirmed = max(sent, key=lambda email: str(email["created_at"]))
        assert confirmed["to"].startswith(partner["email"])
        assert confirmed["subject"].startswith("Termin bestätigt: Installation am ")
        # the wall clock of the template's zone (Europe/Berlin), as a German reads it
        assert f"{format_date(day, 'd. MMMM y', locale='de')}, {clock} Uhr" in confirmed["subject"]
        assert confirmed["attachments"][0]["content_type"].endswith("method=REQUEST")
        update, _ = await _attached(stack, confirmed)
        assert update["METHOD"] == "REQUEST"
        for event in (_events(update)[uid], (await _feed(http, feed))[uid]):
            assert event["SEQUENCE"] == sequence
            assert event.decoded("DTSTART") == begins
            assert event.decoded("DTEND") == begins + timedelta(hours=1)
    # read again, nothing changed: the same SEQUENCE; the same date again sends nothing
    assert (await _feed(http, feed))[uid]["SEQUENCE"] == 3
    response = await http.put(
        f"/api/processes/{process_id}/steps/installation/deadline",
        json={"due_at": f"{first.isoformat()}T14:00"},
        headers=as_partner,
    )
    assert response.status_code == 200, response.text

    # The contact person moves it to a day: the partner's e-mail updates it, all day long.
    whole_day = _day(14)
    response = await http.put(
        f"/api/processes/{process_id}/steps/installation/deadline",
        json={"due_at": whole_day.isoformat()},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    [changed] = await _emails(stack, process_id, "deadline_changed")
    # e-mails leave in order: no `appointment` for the same date again, nor for staff's move
    await _emails(stack, process_id, "appointment", count=3)
    update, _ = await _attached(stack, changed)
    assert update["METHOD"] == "REQUEST"
    event = _events(update)[uid]
    assert event["SEQUENCE"] == 4
    assert event.decoded("DTSTART") == whole_day
    assert event.decoded("DTEND") == whole_day + timedelta(days=1)

    # The process is cancelled: the partner's calendar is told to drop the event.
    response = await http.post(
        f"/api/processes/{process_id}/cancel", json={"reason": "customer withdrew"}, headers=admin
    )
    assert response.status_code == 200, response.text
    [cancelled] = await _emails(stack, process_id, "cancelled")
    assert cancelled["attachments"][0]["content_type"].endswith("method=CANCEL")
    cancel, _ = await _attached(stack, cancelled)
    assert cancel["METHOD"] == "CANCEL"
    event = _events(cancel)[uid]
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 5
    assert uid not in await _feed(http, feed)

    # The outbox serves what is there, and refuses what is not.
    attachments = f"/api/outbox/{cancelled['id']}/attachments"
    assert (await http.get(f"{attachments}/1", headers=admin)).status_code == 404
    assert (await http.get(f"{attachments}/-1", headers=admin)).status_code == 422
    unknown = f"/api/outbox/{uuid.uuid4()}/attachments/0"
    assert (await http.get(unknown, headers=admin)).status_code == 404
    invited = (
        await http.get(
            "/api/outbox", params={"kind": "invitation", "to": partner["email"]}, headers=admin
        )
    ).json()["data"]
    assert invited[0]["attachments"] == []


async def test_each_feed_holds_only_its_users_steps_and_a_revoked_one_is_gone(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name="Partner A")
    b = await factories.partner(http, admin, name="Partner B")
    member = await factories.member(http, admin)
    as_a, as_b = factories.bearer(a["owner_token"]), factories.bearer(b["owner_token"])
    for_a = await _template_with_deadline(stack, a["id"])
    for_b = await _template_with_deadline(stack, b["id"])
    a_only, b_only, moved = [
        await _handed_over(stack, template["id"]) for template in (for_a, for_b, for_a)
    ]
    await _emails(stack, moved, "handover")

    # A step taken from A and given to B: A's calendar drops it, B's gets it.
    response = await http.post(
        f"/api/processes/{moved}/steps/installation/reassign",
        json={"assignee": {"type": "partner", "partner_id": b["id"]}},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    [taken] = await _emails(stack, moved, "reassigned")
    assert taken["to"].startswith(a["email"])
    cancel, _ = await _attached(stack, taken)
    assert cancel["METHOD"] == "CANCEL"
    assert _events(cancel)[_uid(moved)]["STATUS"] == "CANCELLED"
    assert _events(cancel)[_uid(moved)]["SEQUENCE"] == 1
    handovers = await _emails(stack, moved, "handover", count=2)
    [to_b] = [email for email in handovers if email["to"].startswith(b["email"])]
    request, _ = await _attached(stack, to_b)
    assert request["METHOD"] == "REQUEST"
    assert _events(request)[_uid(moved)]["SEQUENCE"] == 2

    feed_a, feed_b = await _new_feed(http, as_a), await _new_feed(http, as_b)
    feed_member = await _new_feed(http, factories.bearer(member["token"]))
    feed_admin = await _new_feed(http, admin)
    assert set(await _feed(http, feed_a)) == {_uid(a_only)}
    assert set(await _feed(http, feed_b)) == {_uid(b_only), _uid(moved)}
    assert set(await _feed(http, feed_member)) == set()  # contact of none, assigned none
    assert set(await _feed(http, feed_admin)) == {_uid(a_only), _uid(b_only), _uid(moved)}

    # Revoked: the URL is gone; a new one works; a second revocation finds nothing.
    assert (await http.delete("/api/me/calendar-feed", headers=as_a)).status_code == 204
    assert (await http.get(feed_a)).status_code == 404
    assert (await http.delete("/api/me/calendar-feed", headers=as_a)).status_code == 404
    renewed = await _new_feed(http, as_a)
    assert set(await _feed(http, renewed)) == {_uid(a_only)}
    # A new feed replaces the one before.
    assert (await _new_feed(http, as_b)) != feed_b
    assert (await http.get(feed_b)).status_code == 404
    for path in ("/calendar/pfcal_unknown.ics", "/calendar/nothing.ics", "/calendar/%2e%2e.ics"):
        assert (await http.get(path)).status_code == 404

    # A partner cut off has no feed any more.
    response = await http.post(f"/api/partners/{a['id']}/revoke", headers=admin)
    assert response.status_code == 200, response.text
    assert (await http.get(renewed)).status_code == 404


async def test_a_partner_makes_and_revokes_the_feed_on_the_account_page(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    process_id = await _handed_over(
        stack, (await _template_with_deadline(stack, partner["id"]))["id"]
    )
    async with browser(http) as person:
        csrf = await signed_in_partner(person, admin, partner["owner_email"])
        made = await person.post("/portal/account/calendar-feed", data={"csrf": csrf})
        assert made.status_code == 200, made.text
        assert made.headers["cache-control"] == "no-store"  # the address is shown this once
        match = re.search(r'<code id="new-feed">([^<]+)</code>', made.text)
        assert match, made.text
        feed = urlsplit(match.group(1)).path
        assert set(await _feed(http, feed)) == {_uid(process_id)}
        again = await person.get("/portal/account")
        assert match.group(1) not in again.text and "Revoke the calendar feed" in again.text
        revoked = await person.post("/portal/account/calendar-feed/revoke", data={"csrf": csrf})
        assert revoked.status_code == 303
        assert revoked.headers["location"] == "/portal/account?flash=feed_revoked"
    assert (await http.get(feed)).status_code == 404
