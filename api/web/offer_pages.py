"""The partner portal's offers: the jobs offered to the partner, each to accept or decline
with a reason, on a phone as on a desk."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.refusals import status_of
from api.web.session import CsrfChecked, WebPartner
from api.web.templating import page
from api.web.views import timezones_of
from api.web.work import problem
from partnerflow import offers
from partnerflow.callers import Caller
from partnerflow.refusals import Refused

router = APIRouter(prefix="/portal", include_in_schema=False)

FLASHES = {
    "declined": N_("Declined: the offer is closed for you; the contact person reads your reason."),
}


def _offers_page(
    request: Request,
    session: SessionDep,
    caller: Caller,
    *,
    status_code: int = 200,
    trouble: str | None = None,
    flash: str | None = None,
    declining: uuid.UUID | None = None,
    reason: str = "",
) -> HTMLResponse:
    """The open offers; after a refused answer, with why (and the decline's text kept)."""
    session.expire_all()
    listed, count = offers.pending(session, caller, limit=200)
    return page(
        request, "portal_offers.html", status_code,
        caller=caller, section="offers", offers=listed, count=count,
        zones=timezones_of(session, {offer.process_id for offer in listed}),
        problem=trouble, flash=_(FLASHES[flash]) if flash in FLASHES else None,
        declining=declining, reason=reason,
    )  # fmt: skip


@router.get("/offers")
def my_offers(
    request: Request, session: SessionDep, caller: WebPartner, flash: str | None = None
) -> HTMLResponse:
    return _offers_page(request, session, caller, flash=flash)


@router.post("/offers/{offer_id}/accept", dependencies=[CsrfChecked])
async def accept(
    request: Request,
    offer_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    caller: WebPartner,
) -> Response:
    """Taken: on to the step, now the partner's. Too late (another took it): the list again,
    saying so."""
    offer = offers.offer_of(session, caller, offer_id)
    process_id, step_key = offer.process_id, offer.step_key
    try:
        await offers.accept(session, temporal, settings, caller, offer)
    except Refused as error:
        if error.kind == "not_found":
            raise
        return _offers_page(
            request, session, caller, status_code=status_of(error), trouble=problem(error)
        )
    return RedirectResponse(
        f"/portal/processes/{process_id}/steps/{step_key}?flash=accepted", status_code=303
    )


@router.post("/offers/{offer_id}/decline", dependencies=[CsrfChecked])
async def decline(
    request: Request,
    offer_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    caller: WebPartner,
    reason: Annotated[str, Form(max_length=offers.MAX_REASON)] = "",
) -> Response:
    offer = offers.offer_of(session, caller, offer_id)
    try:
        await offers.decline(session, temporal, caller, offer, reason)
    except Refused as error:
        if error.kind == "not_found":
            raise
        return _offers_page(
            request, session, caller, status_code=status_of(error), trouble=problem(error),
            declining=offer_id, reason=reason,
        )  # fmt: skip
    return RedirectResponse("/portal/offers?flash=declined", status_code=303)
