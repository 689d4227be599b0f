"""SMTP delivery and the outbox row: the one window that can send twice is as small as it gets,
and what a resend does send is the same message."""

import asyncio
import email
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.policy import default as default_policy
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from partnerflow.emails import RenderedEmail
from partnerflow.mail import Mailer
from partnerflow.models import OutboxEmail
from partnerflow.settings import Settings
from partnerflow.transports import SmtpTransport, TemporaryDeliveryError
from tests.conftest import free_port

EMAIL = RenderedEmail(subject="Übergabe", html="<p>Bitte Termin</p>", text="Bitte Termin")


class _Server:
    """Accepts messages; at DATA it asks the database whether the sender's row is locked."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.messages: list[email.message.EmailMessage] = []
        self.row_locked_at_data: list[bool] = []
        self.rcpt_answer = "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append(message)
        self.row_locked_at_data.append(self._locked(message["X-Partnerflow-Key"]))
        return "250 OK"

    def _locked(self, key: str) -> bool:
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            connection = sqlite3.connect(str(url.database), timeout=0)
            try:
                connection.execute(
                    "UPDATE outboxemail SET kind = kind WHERE idempotency_key = ?", (key,)
                )
                connection.rollback()
                return False
            except sqlite3.OperationalError as error:
                return "locked" in str(error)
            finally:
                connection.close()
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo) as pg:
            try:
                pg.execute(
                    "SELECT 1 FROM outboxemail WHERE idempotency_key = %s FOR UPDATE NOWAIT",
                    (key,),
                )
                return False
            except psycopg.errors.LockNotAvailable:
                return True


@pytest.fixture
def smtp(engine: Engine) -> Iterator[tuple[int, _Server]]:
    server = _Server(engine)
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, server
    finally:
        controller.stop()


def _mailer(engine: Engine, port: int) -> Mailer:
    settings = Settings(
        _env_file=None,
        database_url=str(engine.url),
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    return Mailer(engine, settings, SmtpTransport(settings))


def _row(engine: Engine, key: str) -> OutboxEmail:
    with Session(engine) as session:
        return session.exec(select(OutboxEmail).where(OutboxEmail.idempotency_key == key)).one()


def test_the_sent_mark_is_readied_before_the_server_takes_the_message(
    engine: Engine, smtp: tuple[int, _Server]
) -> None:
    port, server = smtp
    row = _mailer(engine, port).deliver(
        idempotency_key="p1:installation:handover:1", kind="handover", to=["a@example.org"],
        email=EMAIL,
    )  # fmt: skip
    if engine.dialect.name == "sqlite":
        # SQLite would lock the whole database for as long as the server takes to answer:
        # other writers go on, and the mark follows the answer.
        assert server.row_locked_at_data == [False]
    else:
        # While the server held the message, our `sent` was written and only its commit was
        # left: a crash after the server's "250" can no longer fall between send and mark.
        assert server.row_locked_at_data == [True]
    assert row.status == "sent"
    assert _row(engine, "p1:installation:handover:1").status == "sent"


def test_a_resend_is_the_same_message(engine: Engine, smtp: tuple[int, _Server]) -> None:
    port, server = smtp
    mailer = _mailer(engine, port)
    key = "p2:installation:reminder:P1D"
    mailer.deliver(idempotency_key=key, kind="reminder", to=["a@example.org"], email=EMAIL)
    # as if the worker died in the commit after the server's "250": the row is still queued
    with Session(engine) as session:
        session.execute(
            update(OutboxEmail)
            .where(col(OutboxEmail.idempotency_key) == key)
            .values(status="queued")
        )
        session.commit()
    mailer.deliver(idempotency_key=key, kind="reminder", to=["a@example.org"], email=EMAIL)
    ids = [message["Message-ID"] for message in server.messages]
    assert len(ids) == 2 and ids[0] == ids[1], ids  # one message to a client that dedupes
    other = mailer.deliver(
        idempotency_key="p2:installation:overdue", kind="overdue", to=["a@example.org"], email=EMAIL
    )
    assert other.status == "sent" and server.messages[-1]["Message-ID"] != ids[0]


def test_a_greylisting_server_is_tried_again_later(
    engine: Engine, smtp: tuple[int, _Server]
) -> None:
    port, server = smtp
    server.rcpt_answer = "450 4.2.0 greylisted, try again later"
    mailer = _mailer(engine, port)
    with pytest.raises(TemporaryDeliveryError):
        mailer.deliver(idempotency_key="p3:k", kind="handover", to=["a@example.org"], email=EMAIL)
    assert _row(engine, "p3:k").status == "queued"  # not failed for good: the retry sends it
    server.rcpt_answer = "250 OK"
    assert (
        mailer.deliver(
            idempotency_key="p3:k", kind="handover", to=["a@example.org"], email=EMAIL
        ).status
        == "sent"
    )
    assert len(server.messages) == 1


def test_an_attempt_overlapping_a_slow_one_sends_nothing_more(
    engine: Engine, smtp: tuple[int, _Server]
) -> None:
    """An attempt that ran past its timeout is still waiting for the server's answer to DATA
    when its retry starts: on PostgreSQL the retry waits for the row and sends nothing."""
    port, server = smtp
    first_at_data, release = threading.Event(), threading.Event()
    second_at_rcpt = threading.Event()
    original_data, original_rcpt = server.handle_DATA, server.handle_RCPT

    async def slow_data(*args: Any) -> str:
        if not first_at_data.is_set():
            first_at_data.set()
            await asyncio.to_thread(release.wait, 10)
        return await original_data(*args)

    async def noting_rcpt(*args: Any) -> str:
        if first_at_data.is_set():
            second_at_rcpt.set()
        return await original_rcpt(*args)

    server.handle_DATA = slow_data  # type: ignore[method-assign,assignment]
    server.handle_RCPT = noting_rcpt  # type: ignore[method-assign,assignment]
    mailer = _mailer(engine, port)

    def attempt() -> OutboxEmail:
        return mailer.deliver(
            idempotency_key="p4:k", kind="handover", to=["a@example.org"], email=EMAIL
        )

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(attempt)
        assert first_at_data.wait(10)
        second = pool.submit(attempt)
        assert second_at_rcpt.wait(10)  # the retry is in its own SMTP conversation
        if engine.dialect.name != "sqlite":  # …waiting for the row the first one locked
            assert _someone_waits_for_a_lock(engine)
        release.set()
        assert first.result(10).status == "sent" and second.result(10).status == "sent"
    if engine.dialect.name == "sqlite":
        # No row lock on SQLite (docs/reliability.md): the retry sends the same message again.
        assert len(server.messages) == 2
        assert server.messages[0]["Message-ID"] == server.messages[1]["Message-ID"]
    else:
        assert len(server.messages) == 1


def _someone_waits_for_a_lock(engine: Engine) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # a transaction of its own each time: PostgreSQL keeps one snapshot of its statistics
        # views per transaction
        with engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        if waiting:
            return True
        time.sleep(0.05)
    return False
