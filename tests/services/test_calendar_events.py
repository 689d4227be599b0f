"""A step's calendar event: when it is (all day or an hour), which e-mails carry it, and the
SEQUENCE that rises only when what it says changes, also with writers at the same moment."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy.engine import Engine
from sqlmodel import Session

from partnerflow.calendar import (
    Sequenced,
    StepEvent,
    calendar_file,
    email_invitation,
    invitation_method,
    sequenced,
)
from partnerflow.spec import EmailKind, end_of_day
from partnerflow.transports import Attachment
from workflows.messages import EmailRequest

BERLIN = ZoneInfo("Europe/Berlin")


def _event(due_at: datetime, *, cancelled: bool = False, **kw: object) -> StepEvent:
    values: dict[str, object] = {
        "process_id": uuid.UUID(int=1),
        "step_key": "installation",
        "step_name": "Installation",
        "due_at": due_at,
        "timezone": "Europe/Berlin",
        "url": "http://partnerflow.test/portal/processes/1/steps/installation",
        "cancelled": cancelled,
        **kw,
    }
    return StepEvent(**values)  # type: ignore[arg-type]


def test_a_deadline_at_the_end_of_a_day_is_that_day_and_any_other_an_hour() -> None:
    day = date(2027, 3, 28)  # Europe/Berlin moves to summer time at 02:00 that night
    assert _event(end_of_day(day, BERLIN)).span() == (day, day + timedelta(days=1))
    at = datetime.combine(day, time(14, 0), tzinfo=BERLIN)
    start, end = _event(at.astimezone(UTC)).span()
    assert (start, end) == (at, at + timedelta(hours=1))
    assert isinstance(start, datetime)
    assert str(start.tzinfo) == "Europe/Berlin" and start.utcoffset() == timedelta(hours=2)


def test_only_the_emails_about_the_steps_appointment_carry_it() -> None:
    methods = {kind: invitation_method(kind) for kind in get_args(EmailKind)}
    assert {kind: m for kind, m in methods.items() if m} == {
        "handover": "REQUEST",
        "deadline_changed": "REQUEST",
        "appointment": "REQUEST",
        "cancelled": "CANCEL",
        "reassigned": "CANCEL",
    }


def test_the_sequence_rises_when_the_content_changes_and_only_then(engine: Engine) -> None:
    at = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
    other_step = _event(at, step_key="survey")

    def given(*events: StepEvent) -> list[int]:
        with Session(engine) as session:
            numbers = sequenced(session, events)
            session.commit()
        return [numbers[event.key].sequence for event in events]

    assert given(_event(at), other_step) == [0, 0]
    assert given(_event(at)) == [0]  # the same again (a retry, a feed read twice)
    assert given(_event(at + timedelta(days=1))) == [1]  # moved
    assert given(_event(at + timedelta(days=1), url="http://elsewhere")) == [1]  # a link only
    assert given(_event(at + timedelta(days=1), cancelled=True)) == [2]
    assert given(_event(at + timedelta(days=1)), other_step) == [3, 0]


def test_writers_at_the_same_moment_each_get_a_number_of_their_own(engine: Engine) -> None:
    start = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
    moves = [_event(start + timedelta(hours=hour)) for hour in range(8)]

    def write(event: StepEvent) -> int:
        with Session(engine) as session:
            number = sequenced(session, [event])[event.key].sequence
            session.commit()
            return number

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = list(pool.map(write, moves))
    assert sorted(numbers) == list(range(8))


def test_the_file_has_the_zone_the_organizer_and_parses() -> None:
    at = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
    ics = calendar_file(
        [(_event(at), Sequenced(5, at))],
        "REQUEST",
        organizer="Partnerflow Büro <buero@firma.example.com>",
        attendees=["office@partner.example.com"],
    )
    calendar = Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST"
    assert [zone["TZID"] for zone in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert event["SEQUENCE"] == 5
    assert str(event["ORGANIZER"]) == "mailto:buero@firma.example.com"
    assert event["ORGANIZER"].params["CN"] == "Partnerflow Büro"
    assert [str(a) for a in [event["ATTENDEE"]]] == ["mailto:office@partner.example.com"]
    assert event.decoded("DTSTART") == at
    published = Calendar.from_ical(calendar_file([(_event(at), Sequenced(5, at))], "PUBLISH"))
    assert "ORGANIZER" not in published.walk("VEVENT")[0]


def _request(kind: EmailKind, due_at: datetime | None) -> EmailRequest:
    return EmailRequest(
        process_id=uuid.uuid4(),
        opportunity_id=uuid.uuid4(),
        contact_user_id=uuid.uuid4(),
        to_partner_id=uuid.uuid4(),
        kind=kind,
        language="de",
        timezone="Europe/Berlin",
        step_key="installation",
        step_name="Installation",
        due_at=due_at,
        idempotency_key="p:installation:x",
    )


def test_an_email_carries_the_event_only_when_it_has_a_date_to_show(engine: Engine) -> None:
    due = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)

    def attached(request: EmailRequest) -> Attachment | None:
        with Session(engine) as session:
            return email_invitation(
                session, request, ["office@partner.example.com"],
                organizer="Partnerflow <noreply@firma.example.com>",
                public_url="http://partnerflow.test",
            )  # fmt: skip

    assert attached(_request("offer", due)) is None  # not the partner's step
    assert attached(_request("handover", None)) is None  # no deadline: nothing to put in
    # a date a person typed far ahead: no calendar has room for it, the e-mail goes without
    assert attached(_request("handover", datetime(9999, 12, 31, 12, tzinfo=UTC))) is None
    request = _request("reassigned", due)
    invitation = attached(request)
    assert invitation is not None
    assert invitation.filename == "installation.ics"
    assert invitation.content_type == "text/calendar; charset=utf-8; method=CANCEL"
    [event] = Calendar.from_ical(invitation.content).events
    assert event["UID"] == f"{request.process_id}-installation@partnerflow"
    assert event["STATUS"] == "CANCELLED"
    assert str(event["URL"]).endswith(f"/portal/processes/{request.process_id}/steps/installation")
