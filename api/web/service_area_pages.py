"""A partner's service area on its staff page: shown to the company's users, changed by an
admin (as `PUT /api/partners/{id}/service-area`)."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import SessionDep
from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.refusals import (
    FormErrors,
    Loc,
    PostedForm,
    context,
    refusals,
    sorted_out,
    status_of,
    text,
)
from api.web.session import CsrfChecked, WebStaff
from api.web.templating import page
from api.web.views import flashed
from partnerflow import service_areas
from partnerflow.callers import Caller
from partnerflow.models import Partner
from partnerflow.refusals import Refused, forbidden, not_found
from partnerflow.service_areas import COUNTRIES, ServiceAreaUpdate

router = APIRouter(include_in_schema=False)

# Fixed texts: a flash is chosen by key, never taken from the address.
FLASHES = {"area_saved": N_("Service area saved.")}
COUNTRY_CHOICES = [
    ("DE", N_("Germany (5 digits)")),
    ("AT", N_("Austria (4 digits)")),
    ("CH", N_("Switzerland (4 digits)")),
]
assert [code for code, _label in COUNTRY_CHOICES] == list(COUNTRIES)

# Patterns are typed one per line, or separated by commas, semicolons or spaces.
_BETWEEN = re.compile(r"[\s,;]+")


@dataclass
class AreaForm:
    """The editor's inputs as typed, so a refused form shows them again."""

    postal_codes: str = ""
    country: str = "DE"

    @classmethod
    def of(cls, area: service_areas.ServiceAreaPublic) -> "AreaForm":
        return cls("\n".join(area.postal_codes), area.country)

    def update(self) -> ServiceAreaUpdate:
        typed = [pattern for pattern in _BETWEEN.split(self.postal_codes) if pattern]
        return ServiceAreaUpdate.model_validate({"postal_codes": typed, "country": self.country})


def flash(key: str | None) -> str | None:
    """The partner page's flash about its area, in the reader's language."""
    return flashed(FLASHES, key)


def area_context(
    session: Session,
    caller: Caller,
    partner_id: uuid.UUID,
    form: AreaForm | None = None,
) -> dict[str, Any]:
    """What the partner page shows of the area: the patterns, and for an admin the editor."""
    area = service_areas.of_partner(session, partner_id)
    return {
        "area": area,
        "area_form": form or AreaForm.of(area),
        "area_editable": caller.is_admin,
        "area_action": f"/partners/{partner_id}/service-area",
        "country_choices": [(code, _(label)) for code, label in COUNTRY_CHOICES],
    }


@router.post("/partners/{partner_id}/service-area", dependencies=[CsrfChecked])
def save_service_area(
    request: Request,
    partner_id: uuid.UUID,
    session: SessionDep,
    caller: WebStaff,
    posted: PostedForm,
) -> Response:
    if not caller.is_admin:
        raise forbidden("only an admin changes a partner's service area")
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise not_found("partner")
    form = AreaForm(text(posted, "postal_codes"), text(posted, "country") or "DE")
    try:
        service_areas.replace(session, partner_id, form.update())
    except Refused as error:
        found, code = refusals(error), status_of(error)
    except ValidationError as error:  # more patterns than allowed
        found, code = refusals(error), status_of(error)
    else:
        return RedirectResponse(f"/partners/{partner_id}?flash=area_saved", status_code=303)
    errors = sorted_out(found, _input_for)
    return _refused_page(request, session, caller, partner, form, errors, code)


def _input_for(loc: Loc) -> str | None:
    """The input a refusal is shown beside: `postal_codes[i]` beside the patterns."""
    return str(loc[0]) if loc[:1] in (("postal_codes",), ("country",)) else None


def _refused_page(
    request: Request,
    session: Session,
    caller: Caller,
    partner: Partner,
    form: AreaForm,
    errors: FormErrors,
    status_code: int,
) -> HTMLResponse:
    return page(
        request,
        "service_area.html",
        status_code,
        caller=caller,
        section="partners",
        partner=partner,
        **area_context(session, caller, partner.id, form),
        **context(errors),
    )
