"""Rate limits counted in the database, so a limit holds however many API replicas serve.

Each key (a client's address on the public endpoints, an e-mail address asking for sign-in
links) is counted in fixed windows, one row per key and window, with an atomic upsert.
A request is weighed against the current window plus the part of the previous one that
still overlaps the last `window` (the sliding-window estimate), so a burst cannot take the
limit twice across a window's edge. Rows two windows old are deleted as new windows begin.
Keys are stored as SHA-256: the table counts addresses, it does not keep them.
"""

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col, select

from partnerflow.db import upsert_insert, utcnow
from partnerflow.models import RateLimitCount


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # when to try again, if not allowed: the end of the current window
    retry_after_seconds: int


def take(
    session: Session, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> Verdict:
    """Count one request for the key and say whether it is within `limit` per `window`.
    Refused requests count too (a client that keeps knocking stays out). The caller commits."""
    now = now or utcnow()
    seconds = max(1, int(window.total_seconds()))
    start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    hits: int = session.execute(
        _count_upsert(session.get_bind().dialect.name),
        {
            "key_hash": key_hash,
            "window_start": start,
            "hits": 1,
            # the row is still needed as the previous window of the next one
            "expires_at": start + 2 * window,
        },
    ).scalar_one()
    if hits == 1:  # a new window for this key: clear the ones nobody looks at any more
        session.execute(delete(RateLimitCount).where(col(RateLimitCount.expires_at) <= now))
    previous = session.exec(
        select(RateLimitCount.hits).where(
            RateLimitCount.key_hash == key_hash, RateLimitCount.window_start == start - window
        )
    ).first()
    elapsed = (now - start).total_seconds() / seconds
    estimate = (previous or 0) * (1 - elapsed) + hits
    retry_after = max(1, int((start + window - now).total_seconds()))
    return Verdict(allowed=estimate <= limit, retry_after_seconds=retry_after)


@functools.cache
def _count_upsert(dialect: str) -> ReturningInsert[int]:
    """Built once per database, its values bound when it runs (`upsert_insert`)."""
    return (
        upsert_insert(dialect, RateLimitCount)
        .on_conflict_do_update(
            index_elements=["key_hash", "window_start"],
            set_={"hits": col(RateLimitCount.hits) + 1},
        )
        .returning(col(RateLimitCount.hits))
    )
