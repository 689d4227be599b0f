"""The step editor's inputs: a step as the form shows it, and the form back to a `StepSpec`.

Input names are plain (`deadline_after`, `field_2_key`); a field, document, reminder or
condition row is numbered from 1, and the blank row at the end adds one. A duration is a
number and a unit (`deadline_after` and `deadline_after_unit`: api/web/duration_inputs.py);
a condition row is a field, an operator and a value (api/web/condition_form.py). Only the
inputs of the chosen kind of assignee and deadline count: the page shows only those. An offer
is the partners checked (in the order shown: a ranked offer's order) or the pool, a mode, and
two durations: each partner's turn (ranked only) and how long the offer stands.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.web import condition_form
from api.web.condition_form import ConditionRow
from api.web.duration_inputs import DurationInput, NotADuration
from api.web.i18n import gettext as _
from api.web.refusals import Loc, Refusal, checked, refusals, text
from partnerflow import assignees
from partnerflow.refusals import invalid
from partnerflow.spec import AfterDeadline, BusinessDaysDeadline, FromFieldDeadline, StepSpec

MAX_ROWS = 100
FIELD_TYPES = ("text", "date", "datetime", "number", "boolean", "choice")
DEADLINE_KINDS: dict[str, type[BaseModel]] = {
    "after": AfterDeadline,
    "business_days": BusinessDaysDeadline,
    "from_field": FromFieldDeadline,
}


@dataclass
class FieldRow:
    key: str = ""
    label: str = ""
    type: str = "text"
    options: str = ""
    required: bool = False
    remove: bool = False

    @property
    def blank(self) -> bool:
        return not (self.key.strip() or self.label.strip() or self.options.strip())


@dataclass
class DocumentRow:
    type: str = ""
    label: str = ""
    min_count: str = "1"
    required: bool = True
    remove: bool = False

    @property
    def blank(self) -> bool:
        return not (self.type.strip() or self.label.strip())


@dataclass
class StepForm:
    """Every input of the step editor, as text, so a refused form shows what was typed."""

    key: str = ""
    name: str = ""
    instructions: str = ""
    assignee_type: str = "contact"
    slot: str = ""
    partner_id: str = ""
    user_id: str = ""
    # an offer (assignees.OFFER_SOURCES, OFFER_MODES); the durations shown for a new one are
    # the schema's defaults (spec.OfferAssignee)
    offer_source: str = "partners"
    offer_partners: list[str] = field(default_factory=list)
    offer_mode: str = "first_accept"
    offer_wait: DurationInput = field(default_factory=lambda: DurationInput("4", "hours"))
    offer_expires: DurationInput = field(default_factory=lambda: DurationInput("2", "days"))
    # "before": the step before (requires=None); "listed": the checked steps, maybe none.
    requires_mode: str = "before"
    requires: list[str] = field(default_factory=list)
    deadline_kind: str = ""
    deadline_after: DurationInput = field(default_factory=DurationInput)
    deadline_from: str = "activation"
    business_days: str = ""
    region: str = "DE"
    date_field: str = ""
    offset: DurationInput = field(default_factory=DurationInput)  # blank: none
    reminders: list[DurationInput] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)
    documents: list[DocumentRow] = field(default_factory=list)
    handover_email: str = ""
    notify_contact: bool = True
    escalation_notify: bool = True
    escalation_to: str = ""
    escalation_grace: DurationInput = field(default_factory=DurationInput)  # blank: at once
    # "": the step always applies; "all"/"any": when all (any) of the conditions hold
    when_mode: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)
    # "": no review; "contact" or "user:<id>" (assignees.handover_choice)
    review_by: str = ""
    review_max_rounds: str = "3"

    @classmethod
    def of(cls, step: StepSpec, kinds: Mapping[str, str] | None = None) -> "StepForm":
        """The inputs for a saved step (`kinds`: the types of the fields a condition may
        name, so a yes/no shows as yes or no)."""
        when_mode, conditions = condition_form.rows_of(step.when, kinds or {})
        form = cls(
            key=step.key,
            name=step.name,
            instructions=step.instructions,
            requires_mode="before" if step.requires is None else "listed",
            requires=list(step.requires or []),
            reminders=[*(DurationInput.of(r) for r in step.reminders), DurationInput()],
            when_mode=when_mode,
            conditions=conditions,
            fields=[
                FieldRow(f.key, f.label, f.type, ", ".join(f.options or []), f.required)
                for f in step.fields
            ],
            documents=[
                DocumentRow(d.type, d.label, str(d.min_count), d.required) for d in step.documents
            ],
            handover_email=str(step.on_activate_email or ""),
            notify_contact=step.notify_contact_on_complete is not False,
            **_assignee_inputs(step),
        )
        form._take_deadline(step)
        if step.escalation is not None:
            form.escalation_notify = step.escalation.notify_contact
            form.escalation_to = assignees.handover_choice(step.escalation.reassign_to)
            form.escalation_grace = DurationInput.of(step.escalation.grace)
        if step.review is not None:
            form.review_by = assignees.handover_choice(step.review.by)
            form.review_max_rounds = str(step.review.max_rounds)
        form.fields.append(FieldRow())
        form.documents.append(DocumentRow())
        return form

    def _take_deadline(self, step: StepSpec) -> None:
        deadline = step.deadline
        if isinstance(deadline, AfterDeadline):
            self.deadline_kind, self.deadline_after = "after", DurationInput.of(deadline.after)
            self.deadline_from = deadline.from_
        elif isinstance(deadline, BusinessDaysDeadline):
            self.deadline_kind, self.business_days = "business_days", str(deadline.business_days)
            self.deadline_from, self.region = deadline.from_, deadline.region
        elif isinstance(deadline, FromFieldDeadline):
            self.deadline_kind = "from_field"
            self.date_field = f"{deadline.from_field.step}.{deadline.from_field.field}"
            self.offset = DurationInput.of(deadline.offset, blank="PT0S")

    @classmethod
    def posted(cls, form: FormData) -> "StepForm":
        fields = [
            FieldRow(
                key=text(form, f"field_{n}_key"),
                label=text(form, f"field_{n}_label"),
                type=text(form, f"field_{n}_type") or "text",
                options=text(form, f"field_{n}_options"),
                required=checked(form, f"field_{n}_required"),
                remove=checked(form, f"field_{n}_remove"),
            )
            for n in _row_numbers(form, "field_rows")
        ]
        documents = [
            DocumentRow(
                type=text(form, f"document_{n}_type"),
                label=text(form, f"document_{n}_label"),
                min_count=text(form, f"document_{n}_min_count"),
                required=checked(form, f"document_{n}_required"),
                remove=checked(form, f"document_{n}_remove"),
            )
            for n in _row_numbers(form, "document_rows")
        ]
        reminders = [_duration(form, f"reminder_{n}") for n in _row_numbers(form, "reminder_rows")]
        # A refused form is shown again: keep a blank row to add with.
        if not fields or not fields[-1].blank:
            fields.append(FieldRow())
        if not documents or not documents[-1].blank:
            documents.append(DocumentRow())
        if not reminders or not reminders[-1].blank:
            reminders.append(DurationInput())
        conditions = condition_form.posted_rows(form, _row_numbers(form, "when_rows"))
        return cls(
            **{name: text(form, name) for name in _TEXT_INPUTS},
            requires=[key for key in form.getlist("requires") if isinstance(key, str)],
            offer_partners=[p for p in form.getlist("offer_partners") if isinstance(p, str)],
            offer_wait=_duration(form, "offer_wait"),
            offer_expires=_duration(form, "offer_expires"),
            deadline_after=_duration(form, "deadline_after"),
            offset=_duration(form, "offset"),
            reminders=reminders,
            escalation_grace=_duration(form, "escalation_grace"),
            fields=fields,
            documents=documents,
            conditions=conditions,
            notify_contact=checked(form, "notify_contact"),
            escalation_notify=checked(form, "escalation_notify"),
        )

    def spec(
        self, where: Loc, description: str = "", kinds: Mapping[str, str] | None = None
    ) -> StepSpec:
        """The step as typed, or an ExceptionGroup of `Refused`, one for each input at fault
        (`where`: the step's path into the template's body; `kinds`: the types of the fields
        a condition may name, by path, so its value is typed as the field is)."""
        found: list[Refusal] = []
        deadline = self._deadline(found)
        # Reminders and escalation count only with a deadline: the page hides them without.
        timed = bool(self.deadline_kind)
        step: dict[str, Any] = {
            "key": self.key.strip(),
            "name": self.name.strip(),
            "description": description,
            "instructions": self.instructions.strip(),
            "assignee": self._assignee(found),
            "requires": self.requires if self.requires_mode == "listed" else None,
            "fields": [_field(row) for row in self.fields if _kept(row)],
            "documents": [_document(row) for row in self.documents if _kept(row)],
            "deadline": deadline,
            "reminders": self._reminders(found) if timed else [],
            "escalation": self._escalation(found) if timed else None,
            "on_activate_email": self.handover_email or None,
            # Unchecked turns the hand-over notice off; checked leaves the default (on).
            "notify_contact_on_complete": None if self.notify_contact else False,
            "when": condition_form.when_body(self.when_mode, self.conditions, kinds or {}),
            "review": self._review(),
        }
        try:
            spec = StepSpec.model_validate(step)
        except ValidationError as error:
            found.extend(refusals(error))
        if found:
            problems = [invalid((*where, *r.loc), r.message) for r in found]
            raise ExceptionGroup("the step form was refused", problems)
        return spec

    def _assignee(self, found: list[Refusal]) -> dict[str, Any]:
        inputs: dict[str, str | list[str]] = {
            "slot": self.slot.strip(),
            "partner_id": self.partner_id,
            "user_id": self.user_id,
            "offer_source": self.offer_source,
            "offer_partners": self.offer_partners,
            "offer_mode": self.offer_mode,
        }
        if self.assignee_type == "offer":
            # A turn counts for a ranked offer only: otherwise a wrong one is not refused
            # (the page hides it), a right one kept.
            turns = found if self.offer_mode == "ranked" else []
            for name, duration, refused in (
                ("wait", self.offer_wait, turns),
                ("expires", self.offer_expires, found),
            ):
                iso = None if duration.blank else _iso(duration, ("assignee", name), refused)
                if iso is not None:
                    inputs[f"offer_{name}"] = iso
        # A kind there is not: the step's check refuses it beside the select.
        return assignees.from_form(self.assignee_type, inputs) or {"type": self.assignee_type}

    def _deadline(self, found: list[Refusal]) -> BaseModel | None:
        model = DEADLINE_KINDS.get(self.deadline_kind)
        if model is None:
            if self.deadline_kind:
                found.append(Refusal(("deadline",), _("Choose one of the options.")))
            return None
        refused_before = len(found)
        if model is AfterDeadline:
            values: dict[str, Any] = {
                "after": _iso(self.deadline_after, ("deadline", "after"), found)
            }
        elif model is BusinessDaysDeadline:
            region = self.region.strip() or "DE"
            values = {"business_days": self.business_days.strip(), "region": region}
        elif not self.date_field:
            found.append(Refusal(("deadline", "from_field"), _("Choose the date field.")))
            return None
        else:
            step, _dot, name = self.date_field.partition(".")
            offset = (
                "PT0S" if self.offset.blank else _iso(self.offset, ("deadline", "offset"), found)
            )
            values = {"from_field": {"step": step, "field": name}, "offset": offset}
        if model is not FromFieldDeadline:
            values["from"] = self.deadline_from
        # A duration refused beside its number: the other inputs are still checked.
        values = {name: "PT0S" if value is None else value for name, value in values.items()}
        try:
            deadline = model.model_validate(values)
        except ValidationError as error:
            found.extend(Refusal(("deadline", *r.loc), r.message) for r in refusals(error))
            return None
        return deadline if len(found) == refused_before else None

    def _reminders(self, found: list[Refusal]) -> list[str]:
        typed = [row for row in self.reminders if not row.blank]
        reminders = [_iso(row, ("reminders", n), found) for n, row in enumerate(typed)]
        return [reminder for reminder in reminders if reminder is not None]

    def _escalation(self, found: list[Refusal]) -> dict[str, Any] | None:
        grace = None
        if not self.escalation_grace.blank:
            grace = _iso(self.escalation_grace, ("escalation", "grace"), found)
        if self.escalation_notify and not self.escalation_to and self.escalation_grace.blank:
            return None  # the default: the contact person is told, nobody takes over
        reassign_to = assignees.from_handover_choice(self.escalation_to)
        escalation = {"notify_contact": self.escalation_notify, "reassign_to": reassign_to}
        return {**escalation, "grace": grace}

    def _review(self) -> dict[str, Any] | None:
        if not self.review_by:
            return None
        # a choice there is not (or a partner): the schema refuses it beside the select
        by = assignees.from_handover_choice(self.review_by) or {"type": self.review_by}
        return {"by": by, "max_rounds": self.review_max_rounds.strip() or "3"}

    def input_for(self, loc: Loc) -> str | None:
        """The input a refusal at `loc` (a path into the step) is about; None: no one input."""
        head, rest = (loc[0], loc[1:]) if loc else (None, ())
        if head in ("key", "name", "instructions", "requires"):
            return str(head)
        if head == "reminders":
            typed = [n for n, row in enumerate(self.reminders, start=1) if not row.blank]
            at = rest[0] if rest and isinstance(rest[0], int) and rest[0] < len(typed) else 0
            return f"reminder_{typed[at] if typed else 1}"
        if head == "when":
            return condition_form.input_for(rest, self.conditions)
        if head == "review":
            return "review_max_rounds" if "max_rounds" in rest else "review_by"
        if head == "assignee":
            inputs = assignees.FORM_INPUTS
            named = [inputs[str(part)] for part in rest if str(part) in inputs]
            return named[0] if named else "assignee_type"
        if head in ("fields", "documents") and rest and isinstance(rest[0], int):
            rows: list[Any] = self.fields if head == "fields" else self.documents
            kept = [n for n, row in enumerate(rows, start=1) if _kept(row)]
            if rest[0] >= len(kept):
                return None
            part = str(rest[1]) if len(rest) > 1 else ""
            parts = ("key", "label", "type", "options", "required", "min_count")
            part = part if part in parts else ("key" if head == "fields" else "type")
            return f"{str(head)[:-1]}_{kept[rest[0]]}_{part}"
        if head == "deadline":
            return _DEADLINE_INPUTS.get(next((p for p in rest if p in _DEADLINE_INPUTS), ""))
        if head == "escalation":
            if "grace" in rest:
                return "escalation_grace"
            return "escalation_to" if "reassign_to" in rest else "escalation_notify"
        if head == "on_activate_email":
            return "handover_email"
        return None


_TEXT_INPUTS = (
    "key", "name", "instructions", "assignee_type", "slot", "partner_id", "user_id",
    "offer_source", "offer_mode",
    "requires_mode", "deadline_kind", "deadline_from", "business_days", "region",
    "date_field", "handover_email", "escalation_to", "when_mode", "review_by",
    "review_max_rounds",
)  # fmt: skip

_DEADLINE_INPUTS = {
    "after": "deadline_after",
    "from": "deadline_from",
    "business_days": "business_days",
    "region": "region",
    "from_field": "date_field",
    "offset": "offset",
    "": "deadline_kind",
}


def _assignee_inputs(step: StepSpec) -> dict[str, Any]:
    """The inputs for the step's assignee; an offer's durations as a number and a unit."""
    inputs: dict[str, Any] = dict(assignees.form_inputs(step.assignee))
    for name in ("offer_wait", "offer_expires"):
        if name in inputs:
            inputs[name] = DurationInput.of(inputs[name])
    return inputs


def _duration(form: FormData, name: str) -> DurationInput:
    return DurationInput(text(form, name), text(form, f"{name}_unit") or "days")


def _iso(duration: DurationInput, loc: Loc, found: list[Refusal]) -> str | None:
    """The duration as ISO 8601, or None with the refusal beside its number."""
    try:
        return duration.iso()
    except NotADuration as error:
        found.append(Refusal(loc, str(error)[:1].upper() + str(error)[1:] + "."))
        return None


def _row_numbers(form: FormData, name: str) -> range:
    count = text(form, name)
    # ASCII digits only: "²" is a digit to Python but not a number to int()
    if not (count.isascii() and count.isdecimal()):
        return range(0)
    return range(1, min(int(count), MAX_ROWS) + 1)


def _kept(row: FieldRow | DocumentRow) -> bool:
    return not row.blank and not row.remove


def _field(row: FieldRow) -> dict[str, Any]:
    options = [option.strip() for option in row.options.split(",") if option.strip()]
    return {
        "key": row.key.strip(),
        "label": row.label.strip(),
        "type": row.type,
        "required": row.required,
        "options": options if row.type == "choice" else None,
    }


def _document(row: DocumentRow) -> dict[str, Any]:
    return {
        "type": row.type.strip(),
        "label": row.label.strip(),
        "required": row.required,
        "min_count": row.min_count.strip() or "1",
    }
