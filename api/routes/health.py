"""Liveness and readiness."""

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import text

from api.deps import SessionDep, TemporalDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(session: SessionDep, temporal: TemporalDep) -> dict[str, str]:
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unreachable") from error
    try:
        await temporal.service_client.check_health()
    except Exception as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal unreachable") from error
    return {"status": "ready"}
