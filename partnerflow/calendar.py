"""Calendar events of process steps: the .ics an e-mail carries and the one a feed serves.

One event per step of a process, UID `{process_id}-{step_key}@partnerflow`, at the step's
deadline, which is also its appointment (the product records an appointment as the step's
deadline: the partner enters it on the step page, or a `from_field` deadline takes the date an
earlier step recorded). A deadline at the end of a day (a date without a time) is an all-day
event on that day, shown as free; any other is an hour from that moment, in the template's time
zone with its VTIMEZONE.

SEQUENCE: `CalendarEvent` keeps the last one given out and a hash of what that .ics said
(times, status, summary). An .ics that says something else gets the next, whichever way it
goes (e-mail or feed); the same content again (a retried e-mail, a feed read twice) keeps it.
So a moved appointment, and the event cancelled or taken away, always arrive with a higher
SEQUENCE than anything sent before.

E-mails: `handover`, `deadline_changed` (staff moved it) and `appointment` (the partner set or
moved it itself) carry METHOD:REQUEST; `cancelled` (the process was cancelled) and `reassigned`
(to the one losing the step) METHOD:CANCEL with STATUS:CANCELLED.
No customer data in either: the summary is the step's name, the description a link to the
step (behind sign-in). An .ics is forwarded and synced to calendar providers' servers.
"""

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, assert_never
from uuid import UUID

from icalendar import Calendar, Event, vCalAddress
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col, select

from partnerflow.db import upsert_insert, utcnow
from partnerflow.models import CalendarEvent
from partnerflow.spec import EmailKind, as_zone
from partnerflow.transports import Attachment
from workflows.messages import EmailRequest

Method = Literal["REQUEST", "CANCEL", "PUBLISH"]
# how long an appointment is shown: the product records when it begins, not how long it takes
APPOINTMENT_LENGTH = timedelta(hours=1)
_END_OF_DAY = time(23, 59, 59)
# A deadline a person typed may be any date ahead ("9999-12-31"): a calendar gets none beyond
# these years (the event's end, and its zone's rules a year on, must still be dates).
_LAST_YEAR = 9000


@dataclass(frozen=True)
class StepEvent:
    """What one step's calendar event says."""

    process_id: UUID
    step_key: str
    step_name: str
    due_at: datetime
    timezone: str
    # where the recipient opens the step: the portal for a partner, the process page for staff
    url: str
    cancelled: bool = False

    @property
    def key(self) -> tuple[UUID, str]:
        return self.process_id, self.step_key

    @property
    def uid(self) -> str:
        return f"{self.process_id}-{self.step_key}@partnerflow"

    def span(self) -> tuple[date, date] | tuple[datetime, datetime]:
        """An all-day event for a deadline at the end of a day, else an hour from the moment,
        on the wall clock of the template's time zone."""
        start = self.due_at.astimezone(as_zone(self.timezone))
        if start.time() == _END_OF_DAY:
            return start.date(), start.date() + timedelta(days=1)
        return start, start + APPOINTMENT_LENGTH

    def digest(self) -> str:
        """A hash of what a change of SEQUENCE is due for: when, whether cancelled, the name."""
        start, end = self.span()
        said = "\n".join(
            [
                "CANCELLED" if self.cancelled else "CONFIRMED",
                start.isoformat(),
                end.isoformat(),
                self.step_name,
            ]
        )
        return hashlib.sha256(said.encode()).hexdigest()


@dataclass(frozen=True)
class Sequenced:
    sequence: int
    changed_at: datetime


def invitation_method(kind: EmailKind) -> Literal["REQUEST", "CANCEL"] | None:
    """Which e-mails carry the step's event, and as what."""
    match kind:
        case "handover" | "deadline_changed" | "appointment":
            return "REQUEST"
        case "cancelled" | "reassigned":  # the step ended, or went to someone else
            return "CANCEL"
        case (
            "reminder"
            | "overdue"
            | "completion"
            | "partner_revoked"
            | "changes_requested"
            | "step_declined"
            | "offer"  # not the partner's step (yet): no appointment of its own
            | "offer_withdrawn"
        ):
            return None
        case _:
            assert_never(kind)


def sequenced(
    session: Session, events: Sequence[StepEvent], now: datetime | None = None
) -> dict[tuple[UUID, str], Sequenced]:
    """The SEQUENCE each event is given now: the stored one while the content is the same, the
    next one (stored) when it differs, 0 for a step's first. One read for all, and a write
    only for those that changed. The caller commits."""
    if not events:
        return {}
    now = now or utcnow()
    stored = {
        (row.process_id, row.step_key): row
        for row in session.exec(
            select(CalendarEvent).where(
                col(CalendarEvent.process_id).in_({event.process_id for event in events})
            )
        )
    }
    given: dict[tuple[UUID, str], Sequenced] = {}
    for event in events:
        row = stored.get(event.key)
        if row is not None and row.content_hash == event.digest():
            given[event.key] = Sequenced(row.sequence, row.changed_at)
        else:
            given[event.key] = _next_sequence(session, event, now)
    return given


def _next_sequence(session: Session, event: StepEvent, now: datetime) -> Sequenced:
    """Store the event's content: one more than the sequence stored (0 for a new one). One
    statement, so two writers at once each get their own number or agree on the content."""
    upsert = _sequence_upsert(session.get_bind().dialect.name)
    written = session.execute(
        upsert,
        {
            "process_id": event.process_id,
            "step_key": event.step_key,
            "sequence": 0,
            "content_hash": event.digest(),
            "changed_at": now,
        },
    ).first()
    if written is None:  # a writer at the same moment stored this very content
        row = session.exec(
            select(CalendarEvent).where(
                CalendarEvent.process_id == event.process_id,
                CalendarEvent.step_key == event.step_key,
            )
        ).one()
        return Sequenced(row.sequence, row.changed_at)
    return Sequenced(int(written[0]), written[1])


@functools.cache
def _sequence_upsert(dialect: str) -> ReturningInsert[int, datetime]:
    """Built once per database, its values bound when it runs (`upsert_insert`)."""
    statement = upsert_insert(dialect, CalendarEvent)
    return statement.on_conflict_do_update(
        index_elements=["process_id", "step_key"],
        set_={
            "sequence": col(CalendarEvent.sequence) + 1,
            "content_hash": statement.excluded.content_hash,
            "changed_at": statement.excluded.changed_at,
        },
        where=col(CalendarEvent.content_hash) != statement.excluded.content_hash,
    ).returning(col(CalendarEvent.sequence), col(CalendarEvent.changed_at))


def calendar_file(
    events: Sequence[tuple[StepEvent, Sequenced]],
    method: Method,
    *,
    organizer: str | None = None,
    attendees: Sequence[str] = (),
    name: str | None = None,
) -> bytes:
    """The .ics of the events, with a VTIMEZONE for each time zone they use."""
    calendar = Calendar()
    calendar.add("prodid", "-//Partnerflow//Partnerflow//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    if name is not None:
        calendar.add("x-wr-calname", name)
        calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
    for event, given in events:
        calendar.add_component(_vevent(event, given, organizer, attendees))
    if events:
        days = [event.due_at.date() for event, _ in events]
        # the zones' rules from a year before the first event to a year after the last
        calendar.add_missing_timezones(
            first_date=min(days) - timedelta(days=366), last_date=max(days) + timedelta(days=366)
        )
    ics: bytes = calendar.to_ical()
    return ics


def _vevent(
    event: StepEvent, given: Sequenced, organizer: str | None, attendees: Sequence[str]
) -> Event:
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", given.changed_at.astimezone(UTC))
    vevent.add("last-modified", given.changed_at.astimezone(UTC))
    vevent.add("sequence", given.sequence)
    vevent.add("summary", event.step_name)
    vevent.add("description", event.url)
    vevent.add("url", event.url)
    start, end = event.span()
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    all_day = not isinstance(start, datetime)
    # a deadline's day stays free; an appointment takes its hour
    vevent.add("transp", "TRANSPARENT" if all_day else "OPAQUE")
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    if organizer is not None:
        vevent.add("organizer", _address(organizer))
        for attendee in attendees:
            vevent.add(
                "attendee",
                vCalAddress(f"mailto:{attendee}"),
                parameters={
                    "ROLE": "REQ-PARTICIPANT",
                    "PARTSTAT": "NEEDS-ACTION",
                    "RSVP": "FALSE",  # nobody reads the answers: the step page is where to act
                },
            )
    return vevent


def _address(mailbox: str) -> vCalAddress:
    """`Name <address>` (a From header) as a calendar address with its common name."""
    name, _, address = mailbox.rpartition("<")
    address = address.rstrip(">").strip() if address else mailbox.strip()
    calendar_address = vCalAddress(f"mailto:{address}")
    if name.strip():
        calendar_address.params["CN"] = name.strip().strip('"')
    return calendar_address


def step_url(public_url: str, process_id: UUID, step_key: str, *, partner: bool) -> str:
    base = public_url.rstrip("/")
    if partner:
        return f"{base}/portal/processes/{process_id}/steps/{step_key}"
    return f"{base}/processes/{process_id}"


def email_invitation(
    session: Session,
    request: EmailRequest,
    recipients: Sequence[str],
    *,
    organizer: str,
    public_url: str,
) -> Attachment | None:
    """The .ics an e-mail carries, or None: only the kinds `invitation_method` names, about a
    step with a deadline. The caller commits (the SEQUENCE it took)."""
    method = invitation_method(request.kind)
    if method is None or request.due_at is None or request.due_at.year > _LAST_YEAR:
        return None
    event = StepEvent(
        process_id=request.process_id,
        step_key=request.step_key,
        step_name=request.step_name,
        due_at=request.due_at,
        timezone=request.timezone,
        url=step_url(
            public_url,
            request.process_id,
            request.step_key,
            partner=request.to_partner_id is not None,
        ),
        cancelled=method == "CANCEL",
    )
    given = sequenced(session, [event])[event.key]
    content = calendar_file([(event, given)], method, organizer=organizer, attendees=recipients)
    return Attachment(
        filename=f"{request.step_key}.ics",
        content_type=f"text/calendar; charset=utf-8; method={method}",
        content=content,
    )
