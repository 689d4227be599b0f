"""A calendar invitation through the real transports: an SMTP server (aiosmtpd) gets a
multipart/mixed message with the .ics, the SendGrid stand-in gets it base64 in `attachments`,
and a retry sends the .ics the first attempt stored."""

import base64
import uuid
from datetime import UTC, datetime

import pytest
from icalendar import Calendar
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from partnerflow.calendar import Sequenced, StepEvent, calendar_file
from partnerflow.emails import RenderedEmail
from partnerflow.mail import Mailer
from partnerflow.models import OutboxAttachment
from partnerflow.settings import Settings
from partnerflow.transports import (
    Attachment,
    SendGridTransport,
    TemporaryDeliveryError,
)
from tests.process_world import smtp_mailer, smtp_server
from tests.services.test_delivery import _SendGrid

EMAIL = RenderedEmail(subject="Neuer Auftrag", html="<p>Bitte Termin</p>", text="Bitte Termin")
AT = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)


def _invitation(sequence: int) -> Attachment:
    event = StepEvent(
        process_id=uuid.uuid4(),
        step_key="installation",
        step_name="Installation",
        due_at=AT,
        timezone="Europe/Berlin",
        url="http://partnerflow.test/portal",
    )
    return Attachment(
        filename="installation.ics",
        content_type="text/calendar; charset=utf-8; method=REQUEST",
        content=calendar_file(
            [(event, Sequenced(sequence, AT))],
            "REQUEST",
            organizer="Partnerflow <noreply@firma.example.com>",
            attendees=["office@partner.example.com"],
        ),
    )


def _sequence(ics: bytes) -> int:
    calendar = Calendar.from_ical(ics)
    assert calendar["METHOD"] == "REQUEST"
    return calendar.events[0].sequence


def test_smtp_sends_the_ics_as_an_attachment_and_a_retry_sends_the_one_stored(
    engine: Engine,
) -> None:
    with smtp_server() as (port, server):
        mailer = smtp_mailer(engine, port)
        key = f"{uuid.uuid4()}:installation:handover:1"
        server.replies[key] = "451 4.3.0 try later"
        with pytest.raises(TemporaryDeliveryError):
            mailer.deliver(
                idempotency_key=key, kind="handover", to=["office@partner.example.com"],
                email=EMAIL, attachments=[_invitation(sequence=3)],
            )  # fmt: skip
        server.replies.clear()
        # the retry, with what a later attempt would make: the stored one goes out
        row = mailer.deliver(
            idempotency_key=key, kind="handover", to=["office@partner.example.com"],
            email=EMAIL, attachments=[_invitation(sequence=4)],
        )  # fmt: skip
    assert row.status == "sent"
    [message] = server.accepted
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "Bitte Termin" in text.get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_content_type() == "text/calendar"
    assert attached.get_param("method") == "REQUEST"
    assert attached.get_filename() == "installation.ics"
    payload = attached.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert _sequence(payload) == 3
    with Session(engine) as session:
        [stored] = session.exec(
            select(OutboxAttachment).where(OutboxAttachment.email_id == row.id)
        ).all()
    assert (stored.position, stored.size, stored.content) == (0, len(payload), payload)


def test_sendgrid_gets_the_ics_base64_in_attachments(engine: Engine) -> None:
    sendgrid = _SendGrid([])
    try:
        settings = Settings(
            _env_file=None,
            database_url=str(engine.url),
            mail_transport="sendgrid",
            sendgrid_host=sendgrid.url,
            sendgrid_api_key="SG.test-key",
        )
        mailer = Mailer(engine, settings, SendGridTransport(settings))
        invitation = _invitation(sequence=1)
        row = mailer.deliver(
            idempotency_key=f"{uuid.uuid4()}:installation:deadline:1", kind="deadline_changed",
            to=["office@partner.example.com"], email=EMAIL, attachments=[invitation],
        )  # fmt: skip
    finally:
        sendgrid.close()
    assert row.status == "sent"
    [request] = sendgrid.requests
    [attached] = request["body"]["attachments"]
    # SendGrid's `type` takes no parameters: the .ics names its METHOD itself
    assert {k: v for k, v in attached.items() if k != "content"} == {
        "type": "text/calendar",
        "filename": "installation.ics",
        "disposition": "attachment",
    }
    content = base64.b64decode(attached["content"])
    assert content == invitation.content
    assert _sequence(content) == 1
