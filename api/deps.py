"""What routes depend on: the DB session, the Temporal client, the settings and the caller."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api.errors import forbidden
from partnerflow.auth import TokenRefused, check_token
from partnerflow.callers import Caller, caller_for
from partnerflow.mail import Mailer
from partnerflow.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        yield session


# What needs no database nor file is `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, a hop to a thread and back for each (the session and the caller, which
# query the database, stay there: never blocking the event loop).
async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


SessionDep = Annotated[Session, Depends(get_session)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


_bearer = HTTPBearer(auto_error=False)


def get_caller(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    def unauthorized(detail: str = "missing or invalid bearer token") -> HTTPException:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
        )

    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    checked = check_token(session, credentials.credentials)
    if isinstance(checked, TokenRefused):
        raise unauthorized(checked.detail)
    caller = caller_for(session, checked[1])
    if caller is None:
        raise unauthorized("your organisation's access has ended")
    # End the read, and the token's `last_used_at` write when one was due (the session keeps
    # what it loaded): an async route that awaits before its next query must not hold one
    # of the pool's connections meanwhile. Under more
    # concurrent requests than the pool has connections, such holders starved the requests
    # on the event loop (seen in the chaos test as a pool timeout).
    session.commit()
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_staff(caller: CurrentCaller) -> Caller:
    if not caller.is_staff:
        forbidden("only the company's users may do this")
    return caller


async def get_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_admin:
        forbidden("only an admin may do this")
    return caller


StaffCaller = Annotated[Caller, Depends(get_staff)]
AdminCaller = Annotated[Caller, Depends(get_admin)]


@dataclass
class Pagination:
    limit: int
    offset: int


async def get_pagination(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # bounded: a database integer must hold it
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PageDep = Annotated[Pagination, Depends(get_pagination)]
