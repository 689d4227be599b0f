"""Which automations an opportunity event sets off (pure): filters and what changed."""

from typing import Any

from partnerflow.models import Automation, Opportunity

TOP_LEVEL_KEYS = ("product", "test", "title")


def filter_key_problem(key: str) -> str | None:
    """Why `key` cannot be filtered on, or None: top-level fields or `attributes.<name>`."""
    if key in TOP_LEVEL_KEYS:
        return None
    if key.startswith("attributes.") and len(key) > len("attributes."):
        return None
    return (
        f"'{key}' is not a filterable field: use {', '.join(TOP_LEVEL_KEYS)} or attributes.<name>"
    )


def value_of(opportunity: Opportunity | dict[str, Any], key: str) -> Any:
    data = opportunity if isinstance(opportunity, dict) else opportunity.model_dump()
    if key.startswith("attributes."):
        return (data.get("attributes") or {}).get(key.removeprefix("attributes."))
    return data.get(key)


def matches(automation: Automation, opportunity: Opportunity) -> bool:
    return all(value_of(opportunity, key) == wanted for key, wanted in automation.filter.items())


def triggered(
    automation: Automation, event: str, opportunity: Opportunity, before: dict[str, Any] | None
) -> bool:
    """Does this event start the automation? An update counts only when a filtered field
    actually changed (so saving an opportunity unchanged starts nothing twice)."""
    if not automation.enabled or automation.event != event or not matches(automation, opportunity):
        return False
    if event == "opportunity.updated":
        assert before is not None
        return any(value_of(before, key) != value_of(opportunity, key) for key in automation.filter)
    return True
