"""Each assignee kind in one place: said in words, encoded in the step editor's inputs, and the
partners and users a template names checked (an offer's shape too: partners or the pool, its
durations).

Every function matches over the kinds and ends in `assert_never`, so a new kind in the schema
(`AnyAssignee`, `AssigneeKind`) makes mypy name each one that must learn it.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, assert_never
from uuid import UUID

from sqlmodel import Session, col, select

from partnerflow.models import Partner, User
from partnerflow.partner_status import refusal
from partnerflow.refusals import invalid
from partnerflow.spec import (
    AnyAssignee,
    AssigneeKind,
    ContactAssignee,
    OfferAssignee,
    PartnerAssignee,
    PartnerSlotAssignee,
    StepSpec,
    UserAssignee,
    parse_duration,
    shift,
)
from partnerflow.wording import N_, _
from workflows.messages import ResolvedAssignee

# The step editor's input for each field of an assignee (a refusal naming the field is shown
# beside it).
FORM_INPUTS = {
    "slot": "slot",
    "partner_id": "partner_id",
    "user_id": "user_id",
    "partners": "offer_partners",
    "pool": "offer_source",
    "mode": "offer_mode",
    "wait": "offer_wait",
    "expires": "offer_expires",
}
# The editor's "offered to" select: the partners checked, or the pool.
OFFER_SOURCES = [
    ("partners", N_("The partners checked below")),
    ("service_area", N_("The active partners serving the customer's postal code")),
]
OFFER_MODES = [
    ("first_accept", N_("To all at once: the first to accept gets it")),
    ("ranked", N_("To one at a time, in the order shown, each for its turn")),
]


class FormInputs(TypedDict):
    """The step editor's inputs for an assignee: its kind and the inputs naming who (an
    offer's durations as ISO 8601: the editor shows them as a number and a unit)."""

    assignee_type: AssigneeKind
    slot: NotRequired[str]
    partner_id: NotRequired[str]
    user_id: NotRequired[str]
    offer_source: NotRequired[str]
    offer_partners: NotRequired[list[str]]
    offer_mode: NotRequired[str]
    offer_wait: NotRequired[str]
    offer_expires: NotRequired[str]


def kind_in_words(kind: AssigneeKind) -> str:
    """An option of the step editor's "Assigned to" select, in the reader's language."""
    match kind:
        case "contact":
            return _("The contact person")
        case "partner_slot":
            return _("A partner slot (the partner is chosen when the process starts)")
        case "partner":
            return _("A specific partner")
        case "user":
            return _("A company user")
        case "offer":
            return _("Offered to partners (the first to accept gets it)")
        case _:
            assert_never(kind)


# The select's options, the contact person first (a new step's); labels in English, said in the
# reader's language by `kind_in_words` where shown.
_SELECT_ORDER: tuple[AssigneeKind, ...] = ("contact", "partner_slot", "partner", "user", "offer")
FORM_KINDS = [(kind, kind_in_words(kind)) for kind in _SELECT_ORDER]


def names_of(session: Session, partner_ids: set[UUID], user_ids: set[UUID]) -> dict[UUID, str]:
    """Partners' and users' names by id, in one query each."""
    names: dict[UUID, str] = {}
    if partner_ids:
        partners = session.exec(select(Partner).where(col(Partner.id).in_(partner_ids)))
        names.update({partner.id: partner.name for partner in partners})
    if user_ids:
        users = session.exec(select(User).where(col(User.id).in_(user_ids)))
        names.update({user.id: user.name for user in users})
    return names


def named_ids(assignees: Iterable[AnyAssignee]) -> tuple[set[UUID], set[UUID]]:
    """The partners and the users the assignees name."""
    partner_ids: set[UUID] = set()
    user_ids: set[UUID] = set()
    for assignee in assignees:
        match assignee:
            case PartnerAssignee(partner_id=partner_id):
                partner_ids.add(partner_id)
            case UserAssignee(user_id=user_id):
                user_ids.add(user_id)
            case OfferAssignee(partners=partners):
                partner_ids.update(partners or [])
            case PartnerSlotAssignee() | ContactAssignee():
                pass
            case _:
                assert_never(assignee)
    return partner_ids, user_ids


def in_words(assignee: AnyAssignee, names: dict[UUID, str]) -> str:
    """Who does a template's step, as the builder says it (`names` from `names_of`)."""
    match assignee:
        case PartnerSlotAssignee(slot=slot):
            return _("partner slot “%(slot)s”") % {"slot": slot}
        case PartnerAssignee(partner_id=partner_id):
            return names.get(partner_id) or _("an unknown partner")
        case UserAssignee(user_id=user_id):
            return names.get(user_id) or _("an unknown user")
        case ContactAssignee():
            return _("the contact person")
        case OfferAssignee(partners=None, mode=mode):
            if mode == "ranked":
                return _("offered to the partners serving the customer's area, closest first")
            return _("offered to the partners serving the customer's area, the first to accept")
        case OfferAssignee(partners=partners, mode=mode):
            named = [names.get(p) or _("an unknown partner") for p in partners or []]
            if mode == "ranked":
                then = _(", then ")
                return _("offered to %(partners)s, one at a time") % {"partners": then.join(named)}
            return _("offered to %(partners)s, the first to accept") % {
                "partners": ", ".join(named)
            }
        case _:
            assert_never(assignee)


def assignee_names(session: Session, assignees: list[dict[str, Any]]) -> list[str]:
    """Each running step's assignee in words: the partner's or user's name, or 'contact person'."""
    resolved = [ResolvedAssignee.model_validate(assignee) for assignee in assignees]
    known = names_of(
        session,
        {a.partner_id for a in resolved if a.type == "partner" and a.partner_id},
        {a.user_id for a in resolved if a.type == "user" and a.user_id},
    )
    names = []
    for assignee in resolved:
        match assignee.type:
            case "partner":
                name = known.get(assignee.partner_id) if assignee.partner_id else None
                names.append(name or _("a partner"))
            case "user":
                name = known.get(assignee.user_id) if assignee.user_id else None
                names.append(name or _("a user"))
            case "partner_slot":
                names.append(_("partner (%(slot)s)") % {"slot": assignee.slot})
            case "contact":
                names.append(_("contact person"))
            case "offer":
                names.append(_("offered to partners"))
            case _:
                assert_never(assignee.type)
    return names


def form_inputs(assignee: AnyAssignee) -> FormInputs:
    """The step editor's inputs for a step's assignee."""
    match assignee:
        case PartnerSlotAssignee(slot=slot):
            return {"assignee_type": "partner_slot", "slot": slot}
        case PartnerAssignee(partner_id=partner_id):
            return {"assignee_type": "partner", "partner_id": str(partner_id)}
        case UserAssignee(user_id=user_id):
            return {"assignee_type": "user", "user_id": str(user_id)}
        case ContactAssignee():
            return {"assignee_type": "contact"}
        case OfferAssignee(partners=partners, pool=pool, mode=mode, wait=wait, expires=expires):
            return {
                "assignee_type": "offer",
                "offer_source": "service_area" if pool else "partners",
                "offer_partners": [str(p) for p in partners or []],
                "offer_mode": mode,
                "offer_wait": wait,
                "offer_expires": expires,
            }
        case _:
            assert_never(assignee)


def handover_choice(assignee: AnyAssignee | None) -> str:
    """The escalation's "hand over to" select value for an assignee ("" for nobody)."""
    match assignee:
        case None:
            return ""
        case PartnerSlotAssignee(slot=slot):
            return f"slot:{slot}"
        case PartnerAssignee(partner_id=partner_id):
            return f"partner:{partner_id}"
        case UserAssignee(user_id=user_id):
            return f"user:{user_id}"
        case ContactAssignee():
            return "contact"
        case OfferAssignee():
            return ""  # an escalation hands a step to someone, never offers it
        case _:
            assert_never(assignee)


def from_form(kind: str, inputs: Mapping[str, str | list[str]]) -> dict[str, Any] | None:
    """The assignee the step editor chose: its kind and the inputs naming who (`form_inputs`
    reversed; an offer's durations as ISO 8601, absent for the default); None for a kind
    there is not."""

    def one(name: str) -> str:
        value = inputs.get(name, "")
        return value if isinstance(value, str) else ""

    match kind:
        case "partner_slot":
            return {"type": kind, "slot": one("slot")}
        case "partner":
            return {"type": kind, "partner_id": one("partner_id")}
        case "user":
            return {"type": kind, "user_id": one("user_id")}
        case "contact":
            return {"type": kind}
        case "offer":
            source = one("offer_source")
            checked = inputs.get("offer_partners", [])
            offer: dict[str, Any] = {
                "type": kind,
                "partners": list(checked) if source == "partners" else None,
                "pool": "service_area" if source == "service_area" else None,
                "mode": one("offer_mode") or "first_accept",
            }
            for field in ("wait", "expires"):
                if one(f"offer_{field}"):
                    offer[field] = one(f"offer_{field}")
            return offer
        case _:
            return None


def from_handover_choice(choice: str) -> dict[str, Any] | None:
    """The assignee a "hand over to" value names (`handover_choice` reversed); None for
    nobody, or for a value no choice has."""
    kind, _colon, value = choice.partition(":")
    match kind:
        case "slot":
            return from_form("partner_slot", {"slot": value})
        case "partner" | "user":
            return from_form(kind, {f"{kind}_id": value})
        case "contact":
            return from_form(kind, {})
        case _:
            return None


def handover_choices(
    slots: list[str], partners: list[tuple[str, str]], users: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """What the escalation's "hand over to" select offers, by `handover_choice` values."""
    return [
        ("", _("Nobody: the assignee keeps the step")),
        ("contact", _("The contact person")),
        *((f"slot:{slot}", _("Partner slot “%(slot)s”") % {"slot": slot}) for slot in slots),
        *((f"partner:{value}", label) for value, label in partners),
        *((f"user:{value}", label) for value, label in users),
    ]


def check_references(session: Session, steps: list[StepSpec]) -> None:
    """Refuse a step given to a partner that is unknown or not active, or to an unknown
    company user, naming the step and the field (`Refused`, kind "invalid")."""
    named: list[tuple[int, list[str], AnyAssignee]] = [
        (index, ["assignee"], step.assignee) for index, step in enumerate(steps)
    ] + [
        (index, ["escalation", "reassign_to"], step.escalation.reassign_to)
        for index, step in enumerate(steps)
        if step.escalation and step.escalation.reassign_to
    ]
    partner_ids, user_ids = named_ids(assignee for _, _, assignee in named)
    partners = (
        {p.id: p for p in session.exec(select(Partner).where(col(Partner.id).in_(partner_ids)))}
        if partner_ids
        else {}
    )
    known_users = (
        set(
            session.exec(
                select(User.id).where(col(User.id).in_(user_ids), col(User.partner_id).is_(None))
            )
        )
        if user_ids
        else set()
    )
    for index, path, assignee in named:
        lead_in = f"step '{steps[index].key}', {'.'.join(path)}"
        match assignee:
            case PartnerAssignee(partner_id=partner_id):
                partner = partners.get(partner_id)
                # Only an active partner may be given a step: the template is refused, when
                # saved and when published, while it names one that is not (or no longer) active.
                problem = refusal(partner) if partner else f"unknown partner {partner_id}"
                if problem:
                    raise invalid(["steps", index, *path, "partner_id"], f"{lead_in}: {problem}")
            case UserAssignee(user_id=user_id):
                if user_id not in known_users:
                    raise invalid(
                        ["steps", index, *path, "user_id"], f"{lead_in}: unknown user {user_id}"
                    )
            case OfferAssignee(partners=offered):
                for position, partner_id in enumerate(offered or []):
                    partner = partners.get(partner_id)
                    problem = refusal(partner) if partner else f"unknown partner {partner_id}"
                    if problem:
                        raise invalid(
                            ["steps", index, *path, "partners", position],
                            f"{lead_in}.partners[{position}]: {problem}",
                        )
            case PartnerSlotAssignee() | ContactAssignee():
                pass
            case _:
                assert_never(assignee)


# offers -----------------------------------------------------------------------------------

# Durations are compared from a fixed moment: a month is as long as that month, which is fine
# for "is the turn longer than the whole offer".
_COMPARED_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def check_offers(steps: list[StepSpec]) -> None:
    """Refuse an offer that cannot be made, naming the field (`steps[i].assignee.<field>`):
    neither partners nor the pool, both, no partner, a partner twice, a duration that is
    none or zero, a ranked turn (`wait`) longer than the whole offer (`expires`); and an
    offer as an escalation's target (an overdue step is handed to someone, never offered)."""
    for index, step in enumerate(steps):
        escalation = step.escalation
        if escalation is not None and isinstance(escalation.reassign_to, OfferAssignee):
            raise invalid(
                ["steps", index, "escalation", "reassign_to"],
                f"step '{step.key}', escalation.reassign_to: an overdue step is handed to "
                "someone, it cannot be offered",
            )
        if isinstance(step.assignee, OfferAssignee):
            _check_offer(index, step.key, step.assignee)


def _check_offer(index: int, key: str, offer: OfferAssignee) -> None:
    where: list[str | int] = ["steps", index, "assignee"]
    lead_in = f"step '{key}', assignee"
    if offer.partners is not None and offer.pool is not None:
        raise invalid(
            [*where, "pool"],
            f"{lead_in}.pool: offer it to the partners named or to the pool, not both",
        )
    if offer.partners is None and offer.pool is None:
        raise invalid(
            [*where, "partners"],
            f"{lead_in}.partners: name the partners to offer it to, or choose the pool "
            '"service_area"',
        )
    if offer.partners is not None and not offer.partners:
        raise invalid([*where, "partners"], f"{lead_in}.partners: name at least one partner")
    for position, partner_id in enumerate(offer.partners or []):
        if partner_id in (offer.partners or [])[:position]:
            raise invalid(
                [*where, "partners", position],
                f"{lead_in}.partners[{position}]: partner {partner_id} is named twice",
            )
    lengths = {}
    for field, text in (("wait", offer.wait), ("expires", offer.expires)):
        try:
            duration = parse_duration(text)
        except ValueError as error:
            raise invalid([*where, field], f"{lead_in}.{field}: {error}") from error
        lengths[field] = shift(_COMPARED_FROM, duration, "UTC") - _COMPARED_FROM
        if lengths[field].total_seconds() <= 0:
            raise invalid([*where, field], f"{lead_in}.{field}: must be longer than no time")
    if offer.mode == "ranked" and lengths["wait"] > lengths["expires"]:
        raise invalid(
            [*where, "wait"],
            f"{lead_in}.wait: each partner's turn ({offer.wait}) is longer than the whole offer "
            f"({offer.expires}): only the first would ever see it",
        )
