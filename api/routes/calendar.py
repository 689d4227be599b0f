"""Calendar feeds: a user makes and revokes their own; calendar apps read it by its token."""

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from api.deps import CurrentCaller, SessionDep, SettingsDep
from partnerflow import calendar_feeds

router = APIRouter(tags=["calendar"])


class CalendarFeedPublic(BaseModel):
    # holds the token: shown this once, stored only as a hash
    url: str
    created_at: datetime


@router.post("/api/me/calendar-feed", status_code=status.HTTP_201_CREATED)
def create_calendar_feed(
    session: SessionDep, settings: SettingsDep, caller: CurrentCaller
) -> CalendarFeedPublic:
    """A calendar feed URL (`/calendar/{token}.ics`) of the deadlines and appointments of the
    steps the caller may see; the caller's earlier feed stops working."""
    issued = calendar_feeds.create(session, settings, caller.user)
    return CalendarFeedPublic(url=issued.url, created_at=issued.row.created_at)


@router.delete("/api/me/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
def revoke_calendar_feed(session: SessionDep, caller: CurrentCaller) -> None:
    """The caller's feed stops working: its URL answers 404 from now on."""
    calendar_feeds.revoke(session, caller.user)


# Outside the API's description: calendar apps ask for it, with the token as their only key.
@router.get("/calendar/{token}.ics", include_in_schema=False)
def calendar_feed(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    ics = calendar_feeds.feed_file(session, settings, token)
    session.commit()  # the SEQUENCE of each event that changed since the last read
    return Response(
        ics,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="partnerflow.ics"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
