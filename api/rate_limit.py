"""A per-address limit on the public endpoints, so invitation tokens cannot be guessed at speed.

Counted in the database (partnerflow.rate_limits): several API replicas share one count, so
a client gets the limit once, not once per replica.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.engine import Engine

from partnerflow.db import session_scope
from partnerflow.rate_limits import Verdict, take


class RateLimiter:
    """At most `per_minute` requests per client address in any minute, across replicas."""

    def __init__(self, engine: Engine, per_minute: int) -> None:
        self._engine = engine
        self._per_minute = per_minute

    def check(self, client: str) -> Verdict:
        # its own transaction: a request counts even if the route then fails
        with session_scope(self._engine) as session:
            return take(
                session, f"public:{client}", limit=self._per_minute, window=timedelta(minutes=1)
            )


def limit_public(request: Request) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    client = request.client.host if request.client else "unknown"
    verdict = limiter.check(client)
    if not verdict.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many requests; try again in a minute",
            headers={"Retry-After": str(verdict.retry_after_seconds)},
        )


PublicLimit = Annotated[None, Depends(limit_public)]
