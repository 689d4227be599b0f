"""The search attributes every process carries in Temporal: ids and step keys, no personal data."""

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PF_TEMPLATE = SearchAttributeKey.for_keyword("PfTemplate")
PF_OPPORTUNITY = SearchAttributeKey.for_keyword("PfOpportunity")
PF_STATUS = SearchAttributeKey.for_keyword("PfStatus")
PF_PARTNERS = SearchAttributeKey.for_keyword_list("PfPartners")
PF_ACTIVE_STEPS = SearchAttributeKey.for_keyword_list("PfActiveSteps")
PF_NEXT_DUE = SearchAttributeKey.for_datetime("PfNextDue")
PF_TEST = SearchAttributeKey.for_bool("PfTest")
# True once something failed for good (an e-mail, a write): `PfAttention = true` lists them.
PF_ATTENTION = SearchAttributeKey.for_bool("PfAttention")

_KINDS: dict[SearchAttributeKey[Any], str] = {
    PF_TEMPLATE: "Keyword",
    PF_OPPORTUNITY: "Keyword",
    PF_STATUS: "Keyword",
    PF_PARTNERS: "KeywordList",
    PF_ACTIVE_STEPS: "KeywordList",
    PF_NEXT_DUE: "Datetime",
    PF_TEST: "Bool",
    PF_ATTENTION: "Bool",
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
