"""Partners' service areas: the postal codes each serves, and the partners serving a code.

A pattern is a whole postal code ("80331") or a prefix followed by `*` ("50*": every code
starting 50). A code is covered by a pattern equal to it or by a prefix of it, so the
patterns that can cover a code are few and known in advance: finding who serves a code is
one indexed look-up of those, never a scan of every pattern. The closer a pattern, the
better the partner fits: the code itself, then the longer prefix.

A radius around a base postal code is not offered: no registry package ships the postal
codes' coordinates for these countries (the ones that do fetch them at run time).
"""

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from partnerflow.models import Partner, ServiceArea
from partnerflow.refusals import Refused, conflict, invalid, not_found

Country = Literal["DE", "AT", "CH"]
COUNTRIES: tuple[Country, ...] = get_args(Country)
MAX_PATTERNS = 500
# The most partners one pool offer goes to (the best fits): a "first accept" offer to
# thousands would mail thousands, and every one enters the workflow's input and history.
MAX_POOL = 100


def code_length(country: Country) -> int:
    """How many digits a postal code of the country has."""
    match country:
        case "DE":
            return 5
        case "AT" | "CH":
            return 4


class ServiceAreaUpdate(BaseModel):
    """A partner's whole service area: it replaces what was there."""

    postal_codes: list[str] = Field(
        max_length=MAX_PATTERNS,
        description='whole postal codes ("50667") or prefixes followed by * ("51*")',
    )
    country: str = Field(default="DE", max_length=8, description="ISO 3166 code: DE, AT or CH")


class ServiceAreaPublic(BaseModel):
    country: str = "DE"
    postal_codes: list[str] = Field(default_factory=list)


def checked_country(value: str, loc: str | Sequence[str | int] = "country") -> Country:
    """The country as a supported ISO code, or `invalid` naming `loc`."""
    wanted = value.strip().upper()
    for country in COUNTRIES:
        if country == wanted:
            return country
    raise invalid(loc, f"'{value}' is not a supported country (one of {', '.join(COUNTRIES)})")


def checked_patterns(patterns: Iterable[str], country: Country) -> list[str]:
    """The patterns, each a postal code of the country or a prefix followed by `*`, without
    duplicates, in the order given; `invalid` naming `postal_codes[i]` for one that is not."""
    digits = code_length(country)
    shape = re.compile(rf"[0-9]{{{digits}}}|[0-9]{{1,{digits - 1}}}\*")
    kept: list[str] = []
    for index, typed in enumerate(patterns):
        pattern = typed.strip()
        if not shape.fullmatch(pattern):
            raise invalid(
                ["postal_codes", index],
                f"'{typed[:40]}' is neither a postal code of {country} ({digits} digits) nor "
                f"a prefix of one (1 to {digits - 1} digits, then *)",
            )
        if pattern not in kept:
            kept.append(pattern)
    return kept


def normalized_code(postal_code: str) -> str:
    """A postal code as typed ("50 667", " 50667 ") as it is compared: without any blanks."""
    return "".join(postal_code.split())


def covering(code: str) -> list[str]:
    """Every pattern that covers the code, the closest first: the code, then its prefixes
    from the longest."""
    return [code, *(f"{code[:n]}*" for n in range(len(code) - 1, 0, -1))]


def closeness(pattern: str) -> int:
    """How closely a covering pattern fits: its digits (a whole code has the most)."""
    return len(pattern.rstrip("*"))


# a partner's area -------------------------------------------------------------------------


def of_partner(session: Session, partner_id: uuid.UUID) -> ServiceAreaPublic:
    return of_partners(session, [partner_id]).get(partner_id, ServiceAreaPublic())


def of_partners(
    session: Session, partner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ServiceAreaPublic]:
    """The partners' service areas in one query; a partner serving nothing is left out."""
    if not partner_ids:
        return {}
    rows = session.exec(
        select(ServiceArea)
        .where(col(ServiceArea.partner_id).in_(set(partner_ids)))
        .order_by(col(ServiceArea.country), col(ServiceArea.pattern))
    )
    areas: dict[uuid.UUID, ServiceAreaPublic] = {}
    for row in rows:
        area = areas.setdefault(row.partner_id, ServiceAreaPublic(country=row.country))
        area.postal_codes.append(row.pattern)
    return areas


def replace(session: Session, partner_id: uuid.UUID, body: ServiceAreaUpdate) -> ServiceAreaPublic:
    """The partner serves these patterns (in this country) and no others from now on. The
    partner's row is locked first: two replacements at once end as one of them, not as both
    together (SQLite has one writer at a time anyway)."""
    if session.get(Partner, partner_id) is None:
        raise not_found("partner")
    country = checked_country(body.country)
    patterns = checked_patterns(body.postal_codes, country)
    session.exec(select(Partner.id).where(Partner.id == partner_id).with_for_update()).one()
    session.execute(delete(ServiceArea).where(col(ServiceArea.partner_id) == partner_id))
    session.add_all(
        ServiceArea(partner_id=partner_id, country=country, pattern=pattern) for pattern in patterns
    )
    try:
        session.commit()
    except IntegrityError as error:  # another change of the same area won the race
        session.rollback()
        raise conflict("the service area was changed at the same moment; try again") from error
    return of_partner(session, partner_id)


# who serves a postal code -------------------------------------------------------------------


def serving(
    statement: SelectOfScalar[Partner], postal_code: str, country: str
) -> SelectOfScalar[Partner]:
    """The partners of `statement` whose service area covers the postal code (a query's
    `serves` and `country`: a refusal names them); blanks in the code do not count ("50 667"
    is 50667, as for a customer's address in `ranked`)."""
    try:
        chosen = checked_country(country)
    except Refused as refused:
        raise Refused("invalid", refused.message, "country", where="query") from None
    code = normalized_code(postal_code)
    digits = code_length(chosen)
    if not re.fullmatch(rf"[0-9]{{{digits}}}", code):
        message = f"'{postal_code[:40]}' is not a postal code of {chosen} ({digits} digits)"
        raise Refused("invalid", message, "serves", where="query")
    areas = select(ServiceArea.partner_id).where(
        ServiceArea.country == chosen, col(ServiceArea.pattern).in_(covering(code))
    )
    return statement.where(col(Partner.id).in_(areas))


@dataclass(frozen=True)
class Serving:
    partner_id: uuid.UUID
    name: str
    # the digits of its closest pattern covering the code
    closeness: int


def ranked(session: Session, postal_code: str | None, country: str | None) -> list[uuid.UUID]:
    """The active partners serving the postal code, best fit first: a whole code before a
    prefix, a longer prefix before a shorter, then by name; at most MAX_POOL of them (the
    best fits). Nobody for a code that is missing, malformed, or of a country no area can
    name. The code is read as `serving` reads `?serves=` (`normalized_code`)."""
    wanted = (country or "DE").strip().upper()
    chosen = next((c for c in COUNTRIES if c == wanted), None)
    code = normalized_code(postal_code or "")
    if chosen is None or not re.fullmatch(rf"[0-9]{{{code_length(chosen)}}}", code):
        return []
    rows = session.exec(
        select(ServiceArea.partner_id, ServiceArea.pattern, Partner.name)
        .join(Partner, col(Partner.id) == col(ServiceArea.partner_id))
        .where(
            ServiceArea.country == chosen,
            col(ServiceArea.pattern).in_(covering(code)),
            Partner.status == "active",
        )
    )
    best: dict[uuid.UUID, Serving] = {}
    for partner_id, pattern, name in rows:
        fit = Serving(partner_id, name, closeness(pattern))
        if partner_id not in best or fit.closeness > best[partner_id].closeness:
            best[partner_id] = fit
    order = sorted(
        best.values(), key=lambda s: (-s.closeness, s.name.casefold(), str(s.partner_id))
    )
    return [fit.partner_id for fit in order[:MAX_POOL]]
