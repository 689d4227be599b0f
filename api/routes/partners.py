"""Partner organisations and their users."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, EmailStr, Field

from api.csv_download import csv_response
from api.deps import (
    AdminCaller,
    CurrentCaller,
    MailerDep,
    PageDep,
    SessionDep,
    SettingsDep,
    StaffCaller,
    TemporalDep,
)
from api.listing import Page, fetch_page
from api.routes.users import UserInvited
from partnerflow import exports, partners, scorecards, service_areas
from partnerflow.db import utcnow
from partnerflow.models import Partner, PartnerStatus
from partnerflow.partners import Permission
from partnerflow.scorecards import Scorecard
from partnerflow.service_areas import ServiceAreaPublic, ServiceAreaUpdate
from partnerflow.spec import Language

router = APIRouter(prefix="/api/partners", tags=["partners"])


class PartnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    # the language of the invitation e-mail
    language: Language = "de"


class InviteAgain(BaseModel):
    language: Language = "de"


class PartnerPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    status: str
    permissions: list[str]
    created_at: datetime
    # the postal codes the partner serves (`PUT /api/partners/{id}/service-area`)
    service_area: ServiceAreaPublic = Field(default_factory=ServiceAreaPublic)
    # the invitation e-mail's delivery, when this call sent one
    invitation: str | None = None


class PartnerUserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


@router.post("", status_code=status.HTTP_201_CREATED)
def create_partner(
    body: PartnerCreate,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    caller: AdminCaller,
) -> PartnerPublic:
    """The partner starts `invited`: the invitation e-mail carries a single-use link."""
    partner, delivery = partners.create(
        session, mailer, settings, caller.user,
        name=body.name, email=body.email, language=body.language,
    )  # fmt: skip
    return _public(session, partner, invitation=delivery)


def _public(session: SessionDep, partner: Partner, **more: Any) -> PartnerPublic:
    area = service_areas.of_partner(session, partner.id)
    return PartnerPublic(**partner.model_dump(), service_area=area, **more)


@router.get("")
def list_partners(
    session: SessionDep,
    _: StaffCaller,
    page: PageDep,
    serves: Annotated[
        str | None,
        Query(
            max_length=16, description="only partners whose service area covers this postal code"
        ),
    ] = None,
    country: Annotated[str, Query(max_length=8, description="the country of `serves`")] = "DE",
    status: PartnerStatus | None = None,
) -> Page[PartnerPublic]:
    statement = partners.listed(serves=serves, country=country, status=status)
    rows, count = fetch_page(session, statement, page)
    areas = service_areas.of_partners(session, [p.id for p in rows])
    data = [
        PartnerPublic(**p.model_dump(), service_area=areas.get(p.id, ServiceAreaPublic()))
        for p in rows
    ]
    return Page(data=data, count=count)


@router.get("/{partner_id}")
def get_partner(partner_id: uuid.UUID, session: SessionDep, caller: CurrentCaller) -> PartnerPublic:
    return _public(session, partners.visible(session, caller, partner_id))


@router.get("/{partner_id}/service-area")
def get_service_area(
    partner_id: uuid.UUID, session: SessionDep, caller: CurrentCaller
) -> ServiceAreaPublic:
    """The postal codes the partner serves: to the company's users and the partner's own."""
    partners.visible(session, caller, partner_id)
    return service_areas.of_partner(session, partner_id)


@router.put("/{partner_id}/service-area")
def set_service_area(
    partner_id: uuid.UUID, body: ServiceAreaUpdate, session: SessionDep, _: AdminCaller
) -> ServiceAreaPublic:
    """Replaces the partner's service area: whole postal codes ("50667") and prefixes
    followed by `*` ("51*"), of one country (DE: 5 digits; AT, CH: 4), at most 500;
    duplicates count once. A step offered to "the partners serving the customer's area" goes
    to the active partners whose area covers the customer's postal code when the process
    starts."""
    return service_areas.replace(session, partner_id, body)


@router.post("/{partner_id}/users", status_code=status.HTTP_201_CREATED)
def create_partner_user(
    partner_id: uuid.UUID,
    body: PartnerUserCreate,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    caller: CurrentCaller,
) -> UserInvited:
    """More users for an active partner: added by an admin, or by one of the partner's own.
    The new user's first sign-in link goes to their own address; nobody else gets a token."""
    user, delivery = partners.add_user(
        session, mailer, settings, caller, partner_id, name=body.name, email=body.email
    )
    return UserInvited(**user.model_dump(), sign_in_link=delivery)


@router.post("/{partner_id}/invite")
def resend_invitation(
    partner_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    caller: AdminCaller,
    body: InviteAgain | None = None,
) -> PartnerPublic:
    """A new link (the old one stops working) for a partner that has not joined."""
    language = body.language if body else "de"
    partner, delivery = partners.invite_again(
        session, mailer, settings, caller.user, partner_id, language
    )
    return _public(session, partner, invitation=delivery)


class PartnerRevoked(PartnerPublic):
    """The partner, revoked, and what became of the running processes it was bound to."""

    handed_back: list[uuid.UUID] = Field(
        description="processes whose open steps of the partner went to their contact person"
    )
    retrying: list[uuid.UUID] = Field(
        description="processes Temporal did not answer for: the reconciler hands their steps "
        "back within minutes (nothing is sent to the partner meanwhile)"
    )


@router.post("/{partner_id}/revoke")
async def revoke_partner(
    partner_id: uuid.UUID, session: SessionDep, temporal: TemporalDep, _: AdminCaller
) -> PartnerRevoked:
    """The partner is cut off at once: its users are refused, and nothing more is sent to
    it. Its open steps in running processes go to each process's contact person, who is told.
    Revoking again tells the processes still holding anything of the partner's."""
    partner, handed = await partners.revoke(session, temporal, partner_id)
    return PartnerRevoked(
        **partner.model_dump(),
        service_area=service_areas.of_partner(session, partner.id),
        handed_back=handed.handed_back,
        retrying=handed.unreached,
    )


class PermissionsUpdate(BaseModel):
    permissions: list[Permission]


@router.put("/{partner_id}/permissions")
def set_permissions(
    partner_id: uuid.UUID, body: PermissionsUpdate, session: SessionDep, _: AdminCaller
) -> PartnerPublic:
    """The partner's rights, granted by the owner; the set given replaces the old one."""
    return _public(session, partners.set_permissions(session, partner_id, body.permissions))


# scorecards -------------------------------------------------------------------------------

From = Annotated[
    date | None,
    Query(alias="from", description="first day (inclusive); default: 1st of `to`'s month - 11"),
]
To = Annotated[date | None, Query(alias="to", description="last day (inclusive); default: today")]


@router.get("/{partner_id}/scorecard")
def get_scorecard(
    partner_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    first: From = None,
    last: To = None,
) -> Scorecard:
    """How reliably the partner finished its steps from `from` to `to` (days in the
    installation's time zone; by default this month and the 11 before), test runs left out.
    Staff see any partner's, a partner's users only their own. A step counts for the partner
    it was assigned to when completed; on time means completed by its deadline, and steps
    without one count for the times only. `declined` and `changes_requested` are always 0:
    steps cannot be handed back or reviewed yet."""
    now = utcnow()
    asked = scorecards.period(first, last, settings.default_timezone, now)
    return scorecards.of_partner(session, caller, partner_id, asked, now)


@router.get(
    "/{partner_id}/scorecard.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the scorecard as CSV"}},
)
def get_scorecard_csv(
    partner_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    first: From = None,
    last: To = None,
) -> Response:
    """The scorecard as CSV: a `total` row, a `step` row per template step, a `month` row
    per month. A cell a spreadsheet would run as a formula starts with `'`."""
    now = utcnow()
    asked = scorecards.period(first, last, settings.default_timezone, now)
    card = scorecards.of_partner(session, caller, partner_id, asked, now)
    return csv_response(exports.scorecard_csv(card), f"scorecard-{partner_id}.csv")
