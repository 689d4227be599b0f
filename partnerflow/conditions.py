"""Conditions on a step (`when`): what they may name, and whether they hold.

A condition names an opportunity value (`opportunity.product`, `opportunity.test`,
`opportunity.attributes.<name>`, `opportunity.customer.address.postal_code`) or a field an
earlier step recorded (`fields.<step>.<field>`). The workflow decides it when the step's
requirements are done, from the opportunity values the version's conditions name (`facts`,
bound at start) and what the steps recorded. Pure: the workflow sandbox imports it.

A value that is missing (an optional field left empty, an attribute the opportunity lacks, a
step that did not apply) is empty: `is_empty` holds, `not_equals` and `none_of` hold, the
others do not. Numbers compare as numbers (a number written as text, "14", counts as 14),
dates and datetimes as ISO text of the same shape, other text as text.
"""

from typing import Any

from partnerflow.spec import Condition, When

OPPORTUNITY_FIELDS = (
    "opportunity.product",
    "opportunity.test",
    "opportunity.customer.address.postal_code",
)
ATTRIBUTE_PREFIX = "opportunity.attributes."
FIELDS_PREFIX = "fields."


def is_opportunity_path(field: str) -> bool:
    return field in OPPORTUNITY_FIELDS or field.startswith(ATTRIBUTE_PREFIX)


def opportunity_paths(when_clauses: list[When | None]) -> set[str]:
    """The opportunity values these conditions name: the only ones a process carries."""
    return {
        condition.field
        for when in when_clauses
        if when is not None
        for condition in when.conditions
        if is_opportunity_path(condition.field)
    }


def facts(
    paths: set[str],
    product: str | None,
    test: bool,
    customer: dict[str, Any],
    attributes: dict[str, Any],
) -> dict[str, Any]:
    """The opportunity's values at these paths (absent ones left out)."""
    found: dict[str, Any] = {}
    for path in paths:
        if path == "opportunity.product":
            value: Any = product
        elif path == "opportunity.test":
            value = test
        elif path == "opportunity.customer.address.postal_code":
            address = customer.get("address")
            value = address.get("postal_code") if isinstance(address, dict) else None
        else:
            value = attributes.get(path.removeprefix(ATTRIBUTE_PREFIX))
        if value is not None:
            found[path] = value
    return found


def value_of(field: str, known: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> Any:
    """The value a condition names: from the facts, or what a step recorded (None: empty)."""
    if field.startswith(FIELDS_PREFIX):
        _, step, name = field.split(".", 2)
        return recorded.get(step, {}).get(name)
    return known.get(field)


def holds(when: When, known: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> bool:
    """Whether the step applies: all (or any) of its conditions hold."""
    results = (_holds(c, value_of(c.field, known, recorded)) for c in when.conditions)
    return all(results) if when.all is not None else any(results)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Both as numbers, or both as text; None when they cannot be compared."""
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    numbers = _number(left), _number(right)
    if numbers[0] is not None and numbers[1] is not None:
        return numbers
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _same(left: Any, right: Any) -> bool:
    pair = _comparable(left, right)
    return pair is not None and pair[0] == pair[1]


def _holds(condition: Condition, value: Any) -> bool:
    op, expected = condition.op, condition.value
    if op == "is_empty":
        return _empty(value)
    if op == "is_not_empty":
        return not _empty(value)
    if _empty(value):
        return op in ("not_equals", "none_of")
    if op == "equals":
        return _same(value, expected)
    if op == "not_equals":
        return not _same(value, expected)
    options = expected if isinstance(expected, list) else [expected]
    if op == "any_of":
        return any(_same(value, option) for option in options)
    if op == "none_of":
        return not any(_same(value, option) for option in options)
    pair = _comparable(value, expected)
    if pair is None or isinstance(pair[0], bool):
        return False
    left, right = pair
    match op:
        case "gt":
            return bool(left > right)
        case "gte":
            return bool(left >= right)
        case "lt":
            return bool(left < right)
        case "lte":
            return bool(left <= right)
    return False
