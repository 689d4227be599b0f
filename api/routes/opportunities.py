"""Opportunities: the customer cases processes run on."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import select

from api.deps import PageDep, SessionDep, StaffCaller
from api.errors import not_found
from api.listing import Page, fetch_page
from partnerflow.models import Opportunity

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


@router.post("", status_code=status.HTTP_201_CREATED)
def create_opportunity(
    body: OpportunityCreate, session: SessionDep, _: StaffCaller
) -> OpportunityPublic:
    opportunity = Opportunity(**body.model_dump(mode="json"))
    session.add(opportunity)
    session.commit()
    return OpportunityPublic.model_validate(opportunity.model_dump())


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
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        not_found("opportunity")
    return OpportunityPublic.model_validate(opportunity.model_dump())
