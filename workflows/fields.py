"""Checks what an assignee records in a step against the step's field specs (pure)."""

import math
import re
from datetime import date, datetime
from typing import Any

from partnerflow.spec import DocumentSpec, FieldSpec
from workflows.messages import DocumentRef

MAX_TEXT = 10_000
# A recorded date may become a deadline: a year far off would overflow the arithmetic.
YEARS = range(1900, 2200)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def field_problems(step_key: str, specs: list[FieldSpec], values: dict[str, Any]) -> list[str]:
    """Every way `values` does not fit the specs, each naming the step and the field."""
    problems: list[str] = []
    known = {spec.key: spec for spec in specs}
    for key in values:
        if key not in known:
            problems.append(f"step '{step_key}', field '{key}': the step has no such field")
    for spec in specs:
        value = values.get(spec.key)
        if value is None or (isinstance(value, str) and spec.type == "text" and not value.strip()):
            if spec.required:
                problems.append(f"step '{step_key}', field '{spec.key}': required")
            continue
        reason = _type_problem(spec, value)
        if reason:
            problems.append(f"step '{step_key}', field '{spec.key}': {reason}")
    return problems


def _type_problem(spec: FieldSpec, value: Any) -> str | None:
    if spec.type == "text":
        if not isinstance(value, str):
            return "must be text"
        return "longer than 10000 characters" if len(value) > MAX_TEXT else None
    if spec.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        # NaN and infinity are no answer, and JSON (Temporal's payloads, the read model) has
        # no way to write them.
        return None if ok and math.isfinite(value) else "must be a number"
    if spec.type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if spec.type == "choice":
        return None if value in (spec.options or []) else f"must be one of {spec.options}"
    if spec.type == "date":
        if not isinstance(value, str) or not _DAY.fullmatch(value):  # not a week date either
            return "must be a date (YYYY-MM-DD)"
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return "must be a date (YYYY-MM-DD)"
        return None if day.year in YEARS else _out_of_range()
    if not isinstance(value, str):
        return "must be a date and time (ISO 8601)"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "must be a date and time (ISO 8601)"
    if parsed.tzinfo is None:
        return "needs a time zone offset"
    return None if parsed.year in YEARS else _out_of_range()


def _out_of_range() -> str:
    return f"must lie between the years {YEARS.start} and {YEARS.stop - 1}"


def document_problems(
    step_key: str, specs: list[DocumentSpec], uploaded: list[DocumentRef]
) -> list[str]:
    """Each required document type with fewer uploads than it needs, naming the type."""
    problems = []
    for spec in specs:
        needed = max(spec.min_count, 1) if spec.required else spec.min_count
        count = sum(1 for doc in uploaded if doc.type == spec.type)
        if count < needed:
            problems.append(
                f"step '{step_key}', document '{spec.type}': {count} of {needed} uploaded"
            )
    return problems
