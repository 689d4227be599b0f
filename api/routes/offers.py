"""Offers of steps to partners: a partner's open offers, accept (the first wins), decline."""

import uuid
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentCaller, PageDep, SessionDep, SettingsDep, TemporalDep
from api.idempotent import IdempotencyKey, once
from api.listing import Page
from partnerflow import offers
from partnerflow.models import ProcessOffer
from partnerflow.offers import OfferPublic
from partnerflow.processes import ProcessDetail

router = APIRouter(prefix="/api", tags=["offers"])


class OfferDecline(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=offers.MAX_REASON,
        description="why the offer is turned down; the contact person reads it",
    )


@router.get("/my/offers")
def my_offers(
    session: SessionDep, caller: CurrentCaller, page: PageDep, test: bool = False
) -> Page[OfferPublic]:
    """The offers the caller's partner may still accept, soonest expiry first: the step,
    its process and template, and where the job is (postal code and city; who the customer
    is shows once the step is the partner's). 403 for the company's own users."""
    found, count = offers.pending(session, caller, test=test, limit=page.limit, offset=page.offset)
    return Page(data=found, count=count)


@router.post("/offers/{offer_id}/accept", response_model=ProcessDetail)
async def accept_offer(
    offer_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Take the offered step: the first partner to accept gets it (hand-over e-mail), the
    others' offers are withdrawn. Answers the process as the partner now sees it. 404 for
    an offer made to another partner; 409 once the offer is taken, withdrawn, declined or
    expired."""
    return await _once_per_key(
        session, caller, idempotency_key, offer_id, "accept",
        lambda offer, update_id: offers.accept(
            session, temporal, settings, caller, offer, update_id
        ),
    )  # fmt: skip


@router.post("/offers/{offer_id}/decline", response_model=OfferPublic)
async def decline_offer(
    offer_id: uuid.UUID,
    body: OfferDecline,
    session: SessionDep,
    temporal: TemporalDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Turn the offer down with a reason: the step is offered on (ranked) or waits for the
    others (first_accept). Answers the offer, now `declined`. 409 when it is no longer
    pending."""
    return await _once_per_key(
        session, caller, idempotency_key, offer_id, "decline",
        lambda offer, update_id: offers.decline(
            session, temporal, caller, offer, body.reason, update_id
        ),
    )  # fmt: skip


async def _once_per_key(
    session: SessionDep,
    caller: CurrentCaller,
    idempotency_key: str | None,
    offer_id: uuid.UUID,
    action: str,
    answer: Callable[[ProcessOffer, str | None], Awaitable[BaseModel]],
) -> JSONResponse:
    """An answer that an Idempotency-Key makes safe to retry: the first response is kept for
    the key, and the workflow update gets an id from it (a retry joins the first)."""
    request = f"POST /api/offers/{offer_id}/{action}"
    update_id = (
        f"{action}_offer:{offer_id}:{caller.user.id}:{idempotency_key}"
        if (idempotency_key)
        else None
    )

    async def run() -> BaseModel:
        return await answer(offers.offer_of(session, caller, offer_id), update_id)

    return await once(session, caller, idempotency_key, request, 200, run)
