"""A local SMTP server (aiosmtpd) that counts the e-mails it accepted, per Partnerflow key.

The SMTP transport marks each e-mail with `X-Partnerflow-Key` (its outbox row's idempotency
key); a retried delivery carries the same key under a new Message-ID, so a key counted twice
is an e-mail its recipient got twice. The server takes responsibility for a message only
when it answers 250: a client that vanishes before (killed mid-DATA) delivered nothing.
An acceptance whose connection never says QUIT afterwards is one its sender may never have
learnt of (killed between the message's end and reading the 250): `unconfirmed()` counts them.
`hold()` keeps every message's answer back (a slow server) until `release()`, so that a
test can kill a sender while deliveries are in its hands.
"""

import asyncio
import email
import logging
import threading
from collections import Counter
from email.policy import default as default_policy
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

KEY_HEADER = "X-Partnerflow-Key"


class SmtpSink:
    """`with SmtpSink(port) as sink:` an SMTP server on 127.0.0.1:port, in a thread of its own."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._accepted: Counter[str] = Counter()
        self._unconfirmed: Counter[str] = Counter()  # accepted, no QUIT came after (yet)
        self._open: dict[int, list[str]] = {}  # per connection: keys accepted, not yet QUIT
        self._latest_text: dict[str, str] = {}
        self._holding = False
        self._held = 0
        self._cut_off = 0
        self._controller = Controller(self, hostname="127.0.0.1", port=port)
        # aiosmtpd logs every SMTP command at INFO: thousands of lines in a chaos run.
        logging.getLogger("mail.log").setLevel(logging.WARNING)

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._controller.stop()

    def deliveries(self) -> Counter[str]:
        """How often each key was accepted (a copy)."""
        with self._lock:
            return Counter(self._accepted)

    def unconfirmed(self) -> Counter[str]:
        """How often each key was accepted on a connection that never said QUIT after it."""
        with self._lock:
            return Counter(self._unconfirmed)

    def inbox(self, address: str) -> str:
        """The text of the newest e-mail accepted for `address` ("" if none)."""
        with self._lock:
            return self._latest_text.get(address.lower(), "")

    def hold(self) -> None:
        with self._lock:
            self._holding = True

    def release(self) -> None:
        with self._lock:
            self._holding = False

    @property
    def holding(self) -> bool:
        with self._lock:
            return self._holding

    @property
    def held(self) -> int:
        """Messages received whose answer is being held back now."""
        with self._lock:
            return self._held

    @property
    def cut_off(self) -> int:
        """Held messages whose sender vanished before the answer: not delivered."""
        with self._lock:
            return self._cut_off

    # aiosmtpd's hook, run on the server's own event loop ----------------------------------

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        key = str(message.get(KEY_HEADER, "")).strip()
        if self.holding:
            await self._held_back()
        with self._lock:
            self._accepted[key] += 1
            self._unconfirmed[key] += 1
            self._open.setdefault(id(session), []).append(key)
            for address in envelope.rcpt_tos:
                self._latest_text[address.lower()] = _text(message)
        return "250 2.0.0 Accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:  # the sender read the answers: it went on to say goodbye
            for key in self._open.pop(id(session), []):
                self._unconfirmed[key] -= 1
        return "221 Bye"

    async def _held_back(self) -> None:
        """Waits until released; aiosmtpd cancels it when the client's connection is lost."""
        with self._lock:
            self._held += 1
        try:
            # `release()` comes from another thread: a polled flag, not an asyncio.Event.
            while self.holding:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            with self._lock:
                self._cut_off += 1
            raise
        finally:
            with self._lock:
                self._held -= 1


def _text(message: Any) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    return str(body.get_content()) if body is not None else ""
