"""Conditions on a step (`when`): what they may name (`check_when`, when a template is saved),
whether they hold, and how they read (`in_words`).

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

import math
import re
from datetime import date, datetime
from typing import Any, assert_never, get_args

from partnerflow.refusals import invalid
from partnerflow.spec import Condition, ConditionOp, FieldType, StepSpec, When
from partnerflow.wording import N_, _

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


# save checks -------------------------------------------------------------------------------

# What each kind of value may be asked: a yes/no or a choice has no order.
_ALL_OPS: tuple[ConditionOp, ...] = get_args(ConditionOp)
_ORDERED_OPS: tuple[ConditionOp, ...] = ("gt", "gte", "lt", "lte")
_LIST_OPS: tuple[ConditionOp, ...] = ("any_of", "none_of")
_NO_VALUE_OPS: tuple[ConditionOp, ...] = ("is_empty", "is_not_empty")
# The value's kind a condition compares with: a field's type, or None for an attribute
# (whatever the opportunity holds: its type is not known when the template is saved).
ValueKind = FieldType | None
_OPPORTUNITY_KINDS: dict[str, ValueKind] = {
    "opportunity.product": "text",
    "opportunity.test": "boolean",
    "opportunity.customer.address.postal_code": "text",
}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_VALUES = 100
MAX_VALUE_TEXT = 1000


def ops_for(kind: ValueKind) -> tuple[ConditionOp, ...]:
    """The operators a condition on a value of this kind may use (the builder offers these)."""
    if kind == "boolean":
        return ("equals", "not_equals", "is_empty", "is_not_empty")
    if kind == "choice":
        return tuple(op for op in _ALL_OPS if op not in _ORDERED_OPS)
    return _ALL_OPS


def steps_before(key: str, steps: list[StepSpec]) -> set[str]:
    """Every step that must finish before `key` opens: its requirements, transitively
    (`steps` with their requirements resolved)."""
    requires = {step.key: list(step.requires or []) for step in steps}
    seen: set[str] = set()
    stack = list(requires.get(key, []))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(requires.get(current, []))
    return seen


def check_when(index: int, step: StepSpec, steps: list[StepSpec]) -> None:
    """Refuse (`Refused`, kind "invalid", `loc` the path into the template's body) a
    condition that names what it may not, or a value its field can never have. `steps` have
    their requirements resolved (spec.resolve_requires) and are known to be acyclic."""
    when = step.when
    if when is None:
        return
    where: list[str | int] = ["steps", index, "when"]
    if (when.all is None) == (when.any is None):
        raise invalid(
            where,
            f"step '{step.key}', when: give either all or any (a list of conditions), "
            + ("not both" if when.all is not None else "one of them"),
        )
    group = "all" if when.all is not None else "any"
    for c_index, condition in enumerate(when.conditions):
        loc = [*where, group, c_index]
        lead_in = f"step '{step.key}', when.{group}[{c_index}]"
        kind, options = _named_value(loc, lead_in, condition.field, step, steps)
        _check_value(loc, lead_in, condition, kind, options)


def _named_value(
    loc: list[str | int], lead_in: str, field: str, step: StepSpec, steps: list[StepSpec]
) -> tuple[ValueKind, list[str] | None]:
    """The kind of value a condition's field names (and a choice's options); refused when
    it names nothing a condition may name."""
    at = [*loc, "field"]
    said = f"{lead_in}.field"
    if field in _OPPORTUNITY_KINDS:
        return _OPPORTUNITY_KINDS[field], None
    if field.startswith(ATTRIBUTE_PREFIX) and field != ATTRIBUTE_PREFIX:
        return None, None
    if field == "opportunity.customer" or field.startswith("opportunity.customer."):
        raise invalid(
            at,
            f"{said}: '{field}' is the customer's personal data; a condition may name only "
            "the customer's postal code (opportunity.customer.address.postal_code)",
        )
    parts = field.split(".")
    if parts[0] == "fields" and len(parts) == 3 and all(parts[1:]):
        _prefix, source_key, name = parts
        source = next((s for s in steps if s.key == source_key), None)
        if source is None:
            raise invalid(at, f"{said}: no step '{source_key}' in this template")
        if source_key not in steps_before(step.key, steps):
            raise invalid(
                at,
                f"{said}: step '{source_key}' does not finish before this one (name it in "
                "requires)",
            )
        spec = next((f for f in source.fields if f.key == name), None)
        if spec is None:
            raise invalid(at, f"{said}: step '{source_key}' has no field '{name}'")
        return spec.type, spec.options
    raise invalid(
        at,
        f"{said}: unknown field '{field}' (a condition names opportunity.product, "
        "opportunity.test, opportunity.attributes.<name>, "
        "opportunity.customer.address.postal_code or fields.<step>.<field>)",
    )


def _check_value(
    loc: list[str | int],
    lead_in: str,
    condition: Condition,
    kind: ValueKind,
    options: list[str] | None,
) -> None:
    op, value = condition.op, condition.value
    if op not in ops_for(kind):
        raise invalid(
            [*loc, "op"],
            f"{lead_in}.op: '{op}' does not apply to {_kind_in_words(kind)} (use one of "
            f"{', '.join(ops_for(kind))})",
        )
    at, said = [*loc, "value"], f"{lead_in}.value"
    if op in _NO_VALUE_OPS:
        if value is not None:
            raise invalid(at, f"{said}: '{op}' takes no value")
        return
    if op in _LIST_OPS:
        if not isinstance(value, list) or not value:
            raise invalid(at, f"{said}: '{op}' needs a list of values")
        if len(value) > MAX_VALUES:
            raise invalid(at, f"{said}: more than {MAX_VALUES} values")
        values = value
    elif value is None or isinstance(value, list):
        raise invalid(
            at, f"{said}: '{op}' needs one value, not {'a list' if value is not None else 'none'}"
        )
    else:
        values = [value]
    for item in values:
        long = isinstance(item, str) and len(item) > MAX_VALUE_TEXT
        problem = (
            f"longer than {MAX_VALUE_TEXT} characters"
            if long
            else _value_problem(item, kind, options, ordered=op in _ORDERED_OPS)
        )
        if problem:
            shown = f" ({_value_in_words(item)})" if len(values) > 1 else ""
            raise invalid(at, f"{said}{shown}: {problem}")


def _value_problem(
    value: Any, kind: ValueKind, options: list[str] | None, *, ordered: bool
) -> str | None:
    """Why `value` is not one a value of this kind can equal (or be compared with)."""
    if kind is None:  # an attribute: any number or text, and a yes/no where it has no order
        if isinstance(value, bool):
            return (
                "a yes/no value has no order: compare a number, a date or text" if ordered else None
            )
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        return None
    match kind:
        case "text":
            return None if isinstance(value, str) else "must be text (the field is text)"
        case "number":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            ok = number and math.isfinite(value)
            return None if ok else "must be a number (the field is a number)"
        case "boolean":
            return (
                None if isinstance(value, bool) else "must be true or false (the field is yes/no)"
            )
        case "choice":
            if value in (options or []):
                return None
            return f"must be one of the field's options: {', '.join(options or [])}"
        case "date":
            if isinstance(value, str) and _DAY.fullmatch(value) and _parsed(date, value):
                return None
            return "must be a date, YYYY-MM-DD (the field is a date)"
        case "datetime":
            moment = (
                _parsed(datetime, value) if isinstance(value, str) and len(value) > 10 else None
            )
            if isinstance(moment, datetime) and moment.tzinfo is not None:
                return None
            return (
                "must be a date and time with its offset, e.g. 2025-03-01T09:00:00+01:00 "
                "(the field is a date and time)"
            )
        case _:
            assert_never(kind)


def _parsed(kind: type[date] | type[datetime], text: str) -> date | None:
    try:
        return kind.fromisoformat(text)
    except ValueError:
        return None


def _kind_in_words(kind: ValueKind) -> str:
    match kind:
        case None:
            return "an attribute"
        case "boolean":
            return "a yes/no value"
        case "choice":
            return "a choice"
        case "text":
            return "text"
        case "date" | "datetime" | "number":
            return f"a {kind}"
        case _:
            assert_never(kind)


# in words ----------------------------------------------------------------------------------

_OP_WORDS: dict[ConditionOp, str] = {
    "equals": N_("is"),
    "not_equals": N_("is not"),
    "any_of": N_("is one of"),
    "none_of": N_("is none of"),
    "is_empty": N_("is empty"),
    "is_not_empty": N_("is not empty"),
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
}
# A value longer than this is cut: the words go on a diagram's arrow.
_VALUE_WORDS = 40


def in_words(when: When) -> str:
    """The step's condition as the builder, the process page and the diagram write it:
    "power_kw > 12 and survey: scaffold_needed is yes". Only what the template says, never
    an opportunity's values."""
    joiner = _("and") if when.all is not None else _("or")
    joiner = f" {joiner} "
    return joiner.join(in_words_condition(condition) for condition in when.conditions)


def in_words_condition(condition: Condition) -> str:
    """One condition: "product is one of heat pump, boiler", "postal code is empty"."""
    words = f"{field_in_words(condition.field)} {_(_OP_WORDS[condition.op])}"
    if condition.op in ("is_empty", "is_not_empty"):
        return words
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    said = [_said(value) for value in values]
    return f"{words} {', '.join(said)}"


def _said(value: Any) -> str:
    """A value in a condition's words: yes and no in the reader's language."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return _value_in_words(value)


def field_in_words(field: str) -> str:
    """What a condition names, short: "product", "power_kw", "survey: scaffold_needed"."""
    if field == "opportunity.customer.address.postal_code":
        return _("postal code")
    if field == "opportunity.product":
        return _("product")
    if field == "opportunity.test":
        return _("test")
    if field.startswith(ATTRIBUTE_PREFIX):
        return field.removeprefix(ATTRIBUTE_PREFIX)
    if field.startswith(FIELDS_PREFIX) and field.count(".") >= 2:
        _prefix, step, name = field.split(".", 2)
        return f"{step}: {name}"
    return field.removeprefix("opportunity.")


def _value_in_words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if len(text) <= _VALUE_WORDS else text[: _VALUE_WORDS - 1] + "…"


def value_of(field: str, known: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> Any:
    """The value a condition names: from the facts, or what a step recorded (None: empty)."""
    if field.startswith(FIELDS_PREFIX):
        _prefix, step, name = field.split(".", 2)
        return recorded.get(step, {}).get(name)
    return known.get(field)


def holds(when: When, known: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> bool:
    """Whether the step applies: all (or any) of its conditions hold."""
    results = (_holds(c, value_of(c.field, known, recorded)) for c in when.conditions)
    return all(results) if when.all is not None else any(results)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Both as numbers, both as moments (datetimes with their offsets), or both as text; None
    when they cannot be compared."""
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    numbers = _number(left), _number(right)
    if numbers[0] is not None and numbers[1] is not None:
        return numbers
    if isinstance(left, str) and isinstance(right, str):
        moments = _moment(left), _moment(right)
        if moments[0] is not None and moments[1] is not None:
            return moments
        return left, right
    return None


def _moment(value: str) -> datetime | None:
    """An ISO datetime with an offset ("2026-12-01T10:00:00+01:00"); a bare date stays text."""
    if len(value) <= 10:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


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
