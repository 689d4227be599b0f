"""Ways an e-mail leaves the machine: SMTP and SendGrid. The outbox needs no transport.

A transport raises `PermanentDeliveryError` when the provider refused the message for good
(a 4xx other than 429) and `TemporaryDeliveryError` when trying again may help (429, 5xx,
a timeout, a dropped connection): the activity retries those with back-off.

Neither SMTP nor SendGrid can take part in a transaction: a server takes responsibility for a
message when it answers 250 to its end (RFC 5321 6.1), and one whose sender vanished before
that answer may drop it. So `send` tells the caller twice: `commit.ready()` right before the
message goes (the caller may lock its row there, so an overlapping attempt waits for it), and
`commit.accepted()` the moment the server's 250 arrives, before anything else (QUIT, reading
headers): the caller commits its `sent` there. A crash between that answer and that commit is
the one window that can send twice; the Message-ID is derived from the outbox key, so such a
resend is one message to a mail client that removes duplicates.

Attachments (a calendar invitation's .ics) go as parts of a multipart/mixed message over SMTP,
and base64 in SendGrid's `attachments` (whose `type` takes no parameters: the .ics says its
METHOD itself).
"""

import base64
import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from partnerflow.emails import RenderedEmail
from partnerflow.settings import Settings


class PermanentDeliveryError(Exception):
    pass


class TemporaryDeliveryError(Exception):
    pass


@dataclass(frozen=True)
class Attachment:
    filename: str
    # with its parameters, e.g. "text/calendar; charset=utf-8; method=REQUEST"
    content_type: str
    content: bytes

    @property
    def mime_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    def parameters(self) -> dict[str, str]:
        pairs = (part.split("=", 1) for part in self.content_type.split(";")[1:] if "=" in part)
        return {name.strip().lower(): value.strip().strip('"') for name, value in pairs}


@dataclass(frozen=True)
class Envelope:
    to: list[str]
    email: RenderedEmail
    sender: str
    reply_to: str | None
    # The outbox row's key: the provider sees it, so a retry can be traced to one e-mail.
    idempotency_key: str
    attachments: tuple[Attachment, ...] = ()


class Commit(Protocol):
    """The caller's record of a delivery, told when the message goes and when it was taken."""

    def ready(self) -> None: ...

    def accepted(self) -> None: ...


class Transport(Protocol):
    name: str

    def send(self, envelope: Envelope, commit: Commit) -> str:
        """Deliver, calling `commit.ready()` right before the message is handed over and
        `commit.accepted()` as soon as the provider took it; answers its message id."""
        ...


class _CommitPointBeforeData(smtplib.SMTP):
    """DATA that tells the caller right before the message goes and right after its 250."""

    commit: Commit | None = None

    def data(self, msg: Any) -> tuple[int, bytes]:
        if self.commit is not None:
            self.commit.ready()
        code, reply = super().data(msg)
        if code == 250 and self.commit is not None:
            self.commit.accepted()
        return code, reply


class _Smtp(_CommitPointBeforeData):
    pass


class _SmtpSsl(_CommitPointBeforeData, smtplib.SMTP_SSL):
    pass


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, envelope: Envelope, commit: Commit) -> str:
        settings = self._settings
        message = EmailMessage()
        message["From"] = envelope.sender
        message["To"] = ", ".join(envelope.to)
        if envelope.reply_to:
            message["Reply-To"] = envelope.reply_to
        message["Subject"] = envelope.email.subject
        domain = parseaddr(envelope.sender)[1].rpartition("@")[2] or "partnerflow.localhost"
        # The same for every attempt of one e-mail: a resend is the same message.
        digest = hashlib.sha256(envelope.idempotency_key.encode()).hexdigest()[:32]
        message_id = f"<{digest}@{domain}>"
        message["Message-ID"] = message_id
        message["X-Partnerflow-Key"] = envelope.idempotency_key
        message.set_content(envelope.email.text)
        message.add_alternative(envelope.email.html, subtype="html")
        for attachment in envelope.attachments:
            maintype, _, subtype = attachment.mime_type.partition("/")
            message.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=attachment.parameters(),
            )
        try:
            client: _CommitPointBeforeData
            if settings.smtp_security == "tls":
                client = _SmtpSsl(
                    settings.smtp_host,
                    settings.smtp_port,
                    timeout=settings.smtp_timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                client = _Smtp(
                    settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
                )
            with client:
                if settings.smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if settings.smtp_user and settings.smtp_password:
                    client.login(settings.smtp_user, settings.smtp_password.get_secret_value())
                client.commit = commit
                client.send_message(message)
        except smtplib.SMTPResponseException as error:
            # 5xx replies are the server's final word; 4xx ones say "try later".
            if 500 <= error.smtp_code < 600:
                raise PermanentDeliveryError(
                    f"SMTP {error.smtp_code}: {error.smtp_error!r}"
                ) from error
            raise TemporaryDeliveryError(f"SMTP {error.smtp_code}") from error
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):  # greylisting: "try again later"
                raise TemporaryDeliveryError(f"recipients deferred: SMTP {codes}") from error
            raise PermanentDeliveryError(f"recipients refused: {list(error.recipients)}") from error
        except (OSError, smtplib.SMTPException) as error:
            raise TemporaryDeliveryError(f"SMTP: {error.__class__.__name__}: {error}") from error
        return message_id


class SendGridTransport:
    name = "sendgrid"

    def __init__(self, settings: Settings) -> None:
        if settings.sendgrid_api_key is None:
            raise ValueError("PARTNERFLOW_SENDGRID_API_KEY is required for the sendgrid transport")
        self._client = SendGridAPIClient(
            settings.sendgrid_api_key.get_secret_value(), host=settings.sendgrid_host
        )
        self._timeout = settings.smtp_timeout_seconds

    def send(self, envelope: Envelope, commit: Commit) -> str:
        sender_name, sender_address = parseaddr(envelope.sender)
        payload: dict[str, Any] = {
            "personalizations": [{"to": [{"email": address} for address in envelope.to]}],
            "from": {"email": sender_address, **({"name": sender_name} if sender_name else {})},
            "subject": envelope.email.subject,
            "content": [
                {"type": "text/plain", "value": envelope.email.text},
                {"type": "text/html", "value": envelope.email.html},
            ],
            "custom_args": {"partnerflow_key": envelope.idempotency_key},
        }
        if envelope.attachments:
            payload["attachments"] = [
                {
                    "content": base64.b64encode(attachment.content).decode("ascii"),
                    "type": attachment.mime_type,
                    "filename": attachment.filename,
                    "disposition": "attachment",
                }
                for attachment in envelope.attachments
            ]
        if envelope.reply_to:
            payload["reply_to"] = {"email": parseaddr(envelope.reply_to)[1]}
        commit.ready()
        try:
            # A timeout is ambiguous (it may have been accepted): retried, so at least once.
            response = self._client.client.mail.send.post(
                request_body=payload, timeout=self._timeout
            )
        except HTTPError as error:
            status = getattr(error, "status_code", 0) or 0
            if 400 <= status < 500 and status != 429:
                body = getattr(error, "body", b"")
                raise PermanentDeliveryError(f"SendGrid {status}: {body!r:.300}") from error
            raise TemporaryDeliveryError(f"SendGrid {status}") from error
        except OSError as error:
            raise TemporaryDeliveryError(
                f"SendGrid: {error.__class__.__name__}: {error}"
            ) from error
        commit.accepted()
        headers = getattr(response, "headers", {}) or {}
        return str(headers.get("X-Message-Id", "")) or envelope.idempotency_key


def build_transport(settings: Settings) -> Transport | None:
    """The configured transport; None for the outbox, where storing the e-mail is delivery."""
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    if settings.mail_transport == "sendgrid":
        return SendGridTransport(settings)
    return None
