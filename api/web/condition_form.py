"""The step editor's condition (`when`) and review inputs: rows of field, operator and value,
the value typed as the field's kind, and the choices each select offers.

A row's field is a select of what a condition can know (the opportunity's product, test flag,
postal code, an attribute named in the row's own input, the fields of the steps this step
requires); its value is text, made into a number, a yes/no or a list by the field's kind and
the operator, so the template's checks (partnerflow/conditions.py) judge what was meant."""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from api.web.i18n import N_
from api.web.i18n import gettext as _
from api.web.refusals import Loc, checked, text
from partnerflow.conditions import ATTRIBUTE_PREFIX, steps_before
from partnerflow.spec import ConditionOp, StepSpec, When, resolve_requires

MAX_CONDITIONS = 20
ATTRIBUTE = "attribute"  # the field select's value for "an attribute, named beside"

OPPORTUNITY_CHOICES = [
    ("opportunity.product", N_("Opportunity: product")),
    ("opportunity.test", N_("Opportunity: test run (yes/no)")),
    ("opportunity.customer.address.postal_code", N_("Customer: postal code")),
    (ATTRIBUTE, N_("Opportunity: attribute (name it beside)")),
]
_OPPORTUNITY_KINDS = {
    "opportunity.product": "text",
    "opportunity.test": "boolean",
    "opportunity.customer.address.postal_code": "text",
}
OP_CHOICES: list[tuple[ConditionOp, str]] = [
    ("equals", N_("is")),
    ("not_equals", N_("is not")),
    ("any_of", N_("is one of (comma-separated)")),
    ("none_of", N_("is none of (comma-separated)")),
    ("gt", N_("is more than")),
    ("gte", N_("is at least")),
    ("lt", N_("is less than")),
    ("lte", N_("is at most")),
    ("is_empty", N_("is empty")),
    ("is_not_empty", N_("is not empty")),
]
_LIST_OPS = ("any_of", "none_of")
_NO_VALUE_OPS = ("is_empty", "is_not_empty")
_WHOLE = re.compile(r"^[+-]?[0-9]{1,15}$")
_YES = ("yes", "true", "ja", "1")
_NO = ("no", "false", "nein", "0")


@dataclass
class ConditionRow:
    field: str = ""  # a path, or ATTRIBUTE with the name in `attribute`
    attribute: str = ""
    op: str = "equals"
    value: str = ""
    remove: bool = False

    @property
    def blank(self) -> bool:
        return not (self.field or self.attribute.strip() or self.value.strip())

    @property
    def kept(self) -> bool:
        return not self.blank and not self.remove

    @property
    def path(self) -> str:
        if self.field == ATTRIBUTE:
            return ATTRIBUTE_PREFIX + self.attribute.strip()
        return self.field


def rows_of(when: When | None, kinds: Mapping[str, str]) -> tuple[str, list[ConditionRow]]:
    """The mode ("", "all", "any") and rows for a saved condition, with a blank row to add."""
    rows = []
    for condition in when.conditions if when else []:
        field, attribute = condition.field, ""
        if field.startswith(ATTRIBUTE_PREFIX):
            field, attribute = ATTRIBUTE, condition.field.removeprefix(ATTRIBUTE_PREFIX)
        kind = kind_of(condition.field, kinds)
        rows.append(ConditionRow(field, attribute, condition.op, _shown(condition.value, kind)))
    mode = "" if when is None else ("all" if when.all is not None else "any")
    return mode, [*rows, ConditionRow()]


def posted_rows(form: FormData, numbers: range) -> list[ConditionRow]:
    rows = [
        ConditionRow(
            field=text(form, f"when_{n}_field"),
            attribute=text(form, f"when_{n}_attribute"),
            op=text(form, f"when_{n}_op") or "equals",
            value=text(form, f"when_{n}_value"),
            remove=checked(form, f"when_{n}_remove"),
        )
        for n in numbers
    ]
    if not rows or not rows[-1].blank:  # shown again: keep a blank row to add with
        rows.append(ConditionRow())
    return rows


def when_body(
    mode: str, rows: Sequence[ConditionRow], kinds: Mapping[str, str]
) -> dict[str, Any] | None:
    """The step's `when` as the API takes it; None when the step always applies."""
    if not mode:
        return None
    conditions = []
    for row in rows:
        if not row.kept:
            continue
        condition: dict[str, Any] = {"field": row.path, "op": row.op}
        value = typed_value(row.value, row.op, kind_of(row.path, kinds))
        if row.op not in _NO_VALUE_OPS:
            condition["value"] = value
        conditions.append(condition)
    return {mode: conditions}  # a mode there is not: the schema refuses it beside the select


def kind_of(path: str, kinds: Mapping[str, str]) -> str | None:
    """The kind of value a field names: a step field's type, the opportunity's own, or None
    for an attribute (it holds whatever the opportunity says)."""
    return _OPPORTUNITY_KINDS.get(path) or kinds.get(path)


def typed_value(raw: str, op: str, kind: str | None) -> Any:
    """The typed text as the value a condition compares with."""
    if op in _NO_VALUE_OPS:
        return None
    if op in _LIST_OPS:
        return [_typed(item.strip(), kind) for item in raw.split(",") if item.strip()]
    raw = raw.strip()
    return _typed(raw, kind) if raw else None


def _typed(raw: str, kind: str | None) -> Any:
    if kind in ("number", None):
        number = _number(raw)
        if number is not None:
            return number
    if kind == "boolean" and raw.lower() in (*_YES, *_NO):
        return raw.lower() in _YES
    if kind is None and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw  # text, a date, a choice; or what the checks will refuse for its kind


def _number(raw: str) -> int | float | None:
    """A number typed with a decimal point or comma ("12", "12.5", "12,5"); None if not one."""
    if _WHOLE.fullmatch(raw):
        return int(raw)
    candidate = raw.replace(",", ".", 1) if raw.count(",") == 1 and "." not in raw else raw
    try:
        number = float(candidate)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any, kind: str | None) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(item, kind) for item in value)
    if isinstance(value, bool):
        if kind == "boolean":
            return "yes" if value else "no"
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def field_kinds(steps: Sequence[StepSpec]) -> dict[str, str]:
    """Each step field's type, by the path a condition names it with."""
    return {f"fields.{step.key}.{spec.key}": spec.type for step in steps for spec in step.fields}


def field_choices(
    steps: Sequence[StepSpec], position: int, requires: list[str] | None, chosen: list[str]
) -> list[tuple[str, str]]:
    """What a condition of the step at `position` can name: the opportunity's values and the
    fields of the steps it requires (directly or through them, as the form has it now). A
    chosen field no longer offered stays, said to be one."""
    changed = list(steps)
    changed[position] = steps[position].model_copy(update={"requires": requires})
    resolved = resolve_requires(changed)
    before = steps_before(steps[position].key, resolved)
    choices = [("", _("(choose)")), *((value, _(label)) for value, label in OPPORTUNITY_CHOICES)]
    choices += [
        (f"fields.{step.key}.{spec.key}", f"{step.name} › {spec.label}")
        for step in steps
        if step.key in before
        for spec in step.fields
    ]
    offered = dict(choices)
    for value in chosen:
        if value and value not in offered:
            gone = _("%(field)s (not a field of a step this one requires)") % {"field": value}
            choices.append((value, gone))
            offered[value] = value
    return choices


def input_for(loc: Loc, rows: Sequence[ConditionRow]) -> str:
    """The input a refusal at `loc` (a path into `when`) is about."""
    kept = [n for n, row in enumerate(rows, start=1) if row.kept]
    if len(loc) < 2 or not isinstance(loc[1], int) or loc[1] >= len(kept):
        return "when_mode"
    n = kept[loc[1]]
    part = str(loc[2]) if len(loc) > 2 else "field"
    if part == "field" and rows[n - 1].field == ATTRIBUTE:
        return f"when_{n}_attribute"
    return f"when_{n}_{part if part in ('field', 'op', 'value') else 'field'}"
