"""The search attributes every process carries in Temporal: ids and step keys, no personal data."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from workflows.messages import ProcessState

PF_TEMPLATE = SearchAttributeKey.for_keyword("PfTemplate")
PF_OPPORTUNITY = SearchAttributeKey.for_keyword("PfOpportunity")
PF_STATUS = SearchAttributeKey.for_keyword("PfStatus")
PF_PARTNERS = SearchAttributeKey.for_keyword_list("PfPartners")
PF_ACTIVE_STEPS = SearchAttributeKey.for_keyword_list("PfActiveSteps")
PF_NEXT_DUE = SearchAttributeKey.for_datetime("PfNextDue")
PF_TEST = SearchAttributeKey.for_bool("PfTest")
# True once something failed for good (an e-mail, a write): `PfAttention = true` lists them.
PF_ATTENTION = SearchAttributeKey.for_bool("PfAttention")
# The keys of the steps offered now, waiting for a partner to accept: `PfOffered = 'install'`.
PF_OFFERED = SearchAttributeKey.for_keyword_list("PfOffered")

_KINDS: dict[SearchAttributeKey[Any], str] = {
    PF_TEMPLATE: "Keyword",
    PF_OPPORTUNITY: "Keyword",
    PF_STATUS: "Keyword",
    PF_PARTNERS: "KeywordList",
    PF_ACTIVE_STEPS: "KeywordList",
    PF_NEXT_DUE: "Datetime",
    PF_TEST: "Bool",
    PF_ATTENTION: "Bool",
    PF_OFFERED: "KeywordList",
}


ALL: list[SearchAttributeKey[Any]] = list(_KINDS)


def dev_server_args() -> list[str]:
    """`temporal server start-dev` arguments that register every attribute."""
    args: list[str] = []
    for key, kind in _KINDS.items():
        args += ["--search-attribute", f"{key.name}={kind}"]
    return args


def at_start(
    *, template_id: str, opportunity_id: str, partner_ids: list[str], test: bool
) -> TypedSearchAttributes:
    """What a process carries from its first moment: Temporal's list can filter on it at once."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(PF_TEMPLATE, template_id),
            SearchAttributePair(PF_OPPORTUNITY, opportunity_id),
            SearchAttributePair(PF_STATUS, "running"),
            SearchAttributePair(PF_PARTNERS, partner_ids),
            SearchAttributePair(PF_ACTIVE_STEPS, []),
            SearchAttributePair(PF_TEST, test),
            SearchAttributePair(PF_ATTENTION, False),
        ]
    )


def of_state(
    state: ProcessState, may_be_offered: Iterable[UUID] = ()
) -> list[SearchAttributeUpdate[Any]]:
    """What a transition sets: the status, the active (and offered) steps, the partners, the
    next deadline; the offered steps once a step has had offers (a process without any, and
    every run recorded before offers, upserts what it always did).

    `PfPartners` is every partner bound (`partner_ids`) and then those a step may be offered
    to (`may_be_offered`: named, or from the pool found at the start): revoking a partner finds
    the process by it before the offer is made. A revoked partner stays listed, as it stays
    in `partner_ids`. A process without offers lists what it always did."""
    next_due = state.next_due_at
    partners = [str(p) for p in state.partner_ids]
    bound = set(state.partner_ids)
    partners += [str(p) for p in may_be_offered if p not in bound]
    updates: list[SearchAttributeUpdate[Any]] = [
        PF_STATUS.value_set(state.status),
        PF_ACTIVE_STEPS.value_set(
            [s.key for s in state.steps if s.status in ("active", "offered")]
        ),
        PF_PARTNERS.value_set(partners),
        PF_NEXT_DUE.value_set(next_due) if next_due else PF_NEXT_DUE.value_unset(),
    ]
    if any(s.offers for s in state.steps):
        updates.append(PF_OFFERED.value_set([s.key for s in state.steps if s.status == "offered"]))
    return updates


def changed(
    updates: list[SearchAttributeUpdate[Any]], current: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """The updates whose value differs from what the workflow carries now."""
    return [update for update in updates if current.get(update.key) != update.value]
