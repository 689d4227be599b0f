"""Opportunities: the customer cases processes run on, and their customer's erasure."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import select

from api.deps import AdminCaller, PageDep, SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.idempotent import IdempotencyKey, once
from api.listing import Page, fetch_page
from partnerflow import opportunities
from partnerflow.automation_runs import start_runs
from partnerflow.erasure import erase_customer
from partnerflow.models import Opportunity
from partnerflow.storage import DocumentStorage

router = APIRouter(prefix="/api/opportunities", tags=["opportunities"])


class Address(BaseModel):
    street: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=100)
    country: str = Field(default="DE", max_length=2)


class Customer(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=50)
    address: Address | None = None


class OpportunityCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    customer: Customer
    product: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    test: bool = False


class OpportunityPublic(OpportunityCreate):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    # set once the customer's personal data was erased (POST /api/opportunities/{id}/erase)
    erased_at: datetime | None = None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OpportunityPublic)
async def create_opportunity(
    body: OpportunityCreate,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Creates the opportunity, then starts what automations ask for (`opportunity.created`).
    The opportunity, the automation runs it sets off and the answer to the `Idempotency-Key`
    commit together: a retry with the same key gets the first opportunity (and starts the
    processes a crash may have left unstarted), never a second one."""

    async def create() -> OpportunityPublic:
        opportunity = opportunities.create(session, body.model_dump(mode="json"))
        return OpportunityPublic.model_validate(opportunity.model_dump())

    async def start_processes(answer: dict[str, Any]) -> None:
        await start_runs(session, temporal, settings, uuid.UUID(answer["id"]))

    return await once(
        session, caller, idempotency_key, "POST /api/opportunities", 201, create, start_processes
    )


@router.get("")
def list_opportunities(
    session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[OpportunityPublic]:
    statement = select(Opportunity).order_by(Opportunity.created_at.desc())  # type: ignore[attr-defined]
    rows, count = fetch_page(session, statement, page)
    return Page(data=[OpportunityPublic.model_validate(o.model_dump()) for o in rows], count=count)


@router.get("/{opportunity_id}")
def get_opportunity(
    opportunity_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> OpportunityPublic:
    opportunity = opportunities.get(session, opportunity_id)
    return OpportunityPublic.model_validate(opportunity.model_dump())


class OpportunityUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    customer: Customer | None = None
    product: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None
    test: bool | None = None


@router.patch("/{opportunity_id}")
async def update_opportunity(
    opportunity_id: uuid.UUID,
    body: OpportunityUpdate,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    _: StaffCaller,
) -> OpportunityPublic:
    """Changes the given fields; automations on `opportunity.updated` fire only when a field
    they filter on actually changed."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    opportunity = await opportunities.update(session, temporal, settings, opportunity_id, changes)
    return OpportunityPublic.model_validate(opportunity.model_dump())


class ErasurePublic(BaseModel):
    """What the erasure did, in ids and counts (docs/security.md, "When a customer asks for
    erasure")."""

    opportunity_id: uuid.UUID
    erased_at: datetime
    processes: list[uuid.UUID]
    cancelled: list[uuid.UUID]
    documents_deleted: int
    comments_erased: int
    notes_erased: int
    emails_redacted: int
    stored_answers_deleted: int


@router.post("/{opportunity_id}/erase")
async def erase_opportunity_customer(
    opportunity_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: AdminCaller,
    cancel: bool = False,
) -> ErasurePublic:
    """Erase the customer's personal data: from the opportunity, its processes' documents,
    comments, reasons and e-mails. A running process is a 409 unless `cancel=true`, which
    cancels it first. Asking again is harmless."""
    erasure = await erase_customer(
        session, temporal, DocumentStorage(settings.storage_dir), opportunity_id,
        caller.actor(), cancel=cancel,
    )  # fmt: skip
    return ErasurePublic.model_validate(erasure, from_attributes=True)
