"""Marks of e-mails a provider accepted, kept beside a SQLite database: the delivery journal.

On PostgreSQL the outbox row is locked when a message goes and its `sent` is committed the
moment the provider's 250 arrives (partnerflow/mail.py). SQLite locks the whole database, not
a row, so there that commit waits for every other writer first, and a worker that dies while
it waits has sent an e-mail its outbox still calls `queued`: the retry sent it again (one in
4,000 e-mails under `make chaos`, docs/reliability.md). So on SQLite the mailer keeps a mark
of its own per e-mail, a file in `<database>.deliveries/` that no other writer touches: it is
written the moment the 250 arrives (one `pwrite`, visible to every process at once, no lock
to wait for), and an attempt that finds it marks the row and sends nothing. The mark's file
lock also makes an overlapping attempt wait until the first has ended, as the row lock does on
PostgreSQL. A mark is removed once the row says `sent`.
"""

import fcntl
import os
from pathlib import Path
from uuid import UUID

from sqlalchemy.engine import Engine

_ACCEPTED = b"accepted"


def journal_for(engine: Engine) -> Path | None:
    """The folder of marks for a file-backed SQLite database; None for any other."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}.deliveries")


class DeliveryMark:
    """One e-mail's mark, locked for as long as it is open (a process that dies lets go)."""

    def __init__(self, journal: Path, row_id: UUID) -> None:
        journal.mkdir(parents=True, exist_ok=True)
        self._path = journal / str(row_id)
        self._fd: int | None = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # an overlapping attempt waits here

    def was_accepted(self) -> bool:
        assert self._fd is not None
        return os.pread(self._fd, len(_ACCEPTED), 0) == _ACCEPTED

    def accepted(self) -> None:
        """The provider took the e-mail: from now on no attempt sends it."""
        assert self._fd is not None
        os.pwrite(self._fd, _ACCEPTED, 0)

    def close(self, *, forget: bool) -> None:
        """Let go of the lock; `forget` removes the mark (only once the row says `sent`)."""
        if self._fd is None:
            return
        try:
            if forget:
                self._path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None
