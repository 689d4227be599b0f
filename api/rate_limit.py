"""A per-address limit on the public endpoints, so invitation tokens cannot be guessed at speed."""

import time
from collections import defaultdict, deque
from threading import Lock
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status


class RateLimiter:
    """At most `per_minute` requests per client address in any sliding minute (one process)."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen[client]
            while seen and now - seen[0] > 60:
                seen.popleft()
            if len(seen) >= self._per_minute:
                return False
            seen.append(now)
            return True


def limit_public(request: Request) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many requests; try again in a minute",
            headers={"Retry-After": "60"},
        )


PublicLimit = Annotated[None, Depends(limit_public)]
