"""The step editor's inputs: a step as the form shows it, and the form back to a `StepSpec`.

Input names are plain (`deadline_after`, `field_2_key`); a field or document row is
numbered from 1, and the blank row at the end adds one.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

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
    # "before": the step before (requires=None); "listed": the checked steps, maybe none.
    requires_mode: str = "before"
    requires: list[str] = field(default_factory=list)
    deadline_kind: str = ""
    deadline_after: str = ""
    deadline_from: str = "activation"
    business_days: str = ""
    region: str = "DE"
    date_field: str = ""
    offset: str = "PT0S"
    reminders: str = ""
    fields: list[FieldRow] = field(default_factory=list)
    documents: list[DocumentRow] = field(default_factory=list)
    handover_email: str = ""
    notify_contact: bool = True
    escalation_notify: bool = True
    escalation_to: str = ""
    escalation_grace: str = ""

    @classmethod
    def of(cls, step: StepSpec) -> "StepForm":
        form = cls(
            key=step.key,
            name=step.name,
            instructions=step.instructions,
            requires_mode="before" if step.requires is None else "listed",
            requires=list(step.requires or []),
            reminders=", ".join(step.reminders),
            fields=[
                FieldRow(f.key, f.label, f.type, ", ".join(f.options or []), f.required)
                for f in step.fields
            ],
            documents=[
                DocumentRow(d.type, d.label, str(d.min_count), d.required) for d in step.documents
            ],
            handover_email=str(step.on_activate_email or ""),
            notify_contact=step.notify_contact_on_complete is not False,
            **assignees.form_inputs(step.assignee),
        )
        form._take_deadline(step)
        if step.escalation is not None:
            form.escalation_notify = step.escalation.notify_contact
            form.escalation_to = assignees.handover_choice(step.escalation.reassign_to)
            form.escalation_grace = step.escalation.grace or ""
        form.fields.append(FieldRow())
        form.documents.append(DocumentRow())
        return form

    def _take_deadline(self, step: StepSpec) -> None:
        deadline = step.deadline
        if isinstance(deadline, AfterDeadline):
            self.deadline_kind, self.deadline_after = "after", deadline.after
            self.deadline_from = deadline.from_
        elif isinstance(deadline, BusinessDaysDeadline):
            self.deadline_kind, self.business_days = "business_days", str(deadline.business_days)
            self.deadline_from, self.region = deadline.from_, deadline.region
        elif isinstance(deadline, FromFieldDeadline):
            self.deadline_kind = "from_field"
            self.date_field = f"{deadline.from_field.step}.{deadline.from_field.field}"
            self.offset = deadline.offset

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
        # A refused form is shown again: keep a blank row to add with.
        if not fields or not fields[-1].blank:
            fields.append(FieldRow())
        if not documents or not documents[-1].blank:
            documents.append(DocumentRow())
        return cls(
            **{name: text(form, name) for name in _TEXT_INPUTS},
            requires=[key for key in form.getlist("requires") if isinstance(key, str)],
            fields=fields,
            documents=documents,
            notify_contact=checked(form, "notify_contact"),
            escalation_notify=checked(form, "escalation_notify"),
        )

    def spec(self, where: Loc, description: str = "") -> StepSpec:
        """The step as typed, or an ExceptionGroup of `Refused`, one for each input at fault
        (`where`: the step's path into the template's body)."""
        found: list[Refusal] = []
        deadline = self._deadline(found)
        step: dict[str, Any] = {
            "key": self.key.strip(),
            "name": self.name.strip(),
            "description": description,
            "instructions": self.instructions.strip(),
            "assignee": self._assignee(),
            "requires": self.requires if self.requires_mode == "listed" else None,
            "fields": [_field(row) for row in self.fields if _kept(row)],
            "documents": [_document(row) for row in self.documents if _kept(row)],
            "deadline": deadline,
            "reminders": [r.strip() for r in self.reminders.split(",") if r.strip()],
            "escalation": self._escalation(),
            "on_activate_email": self.handover_email or None,
            # Unchecked turns the hand-over notice off; checked leaves the default (on).
            "notify_contact_on_complete": None if self.notify_contact else False,
        }
        try:
            spec = StepSpec.model_validate(step)
        except ValidationError as error:
            found.extend(refusals(error))
        if found:
            problems = [invalid((*where, *r.loc), r.message) for r in found]
            raise ExceptionGroup("the step form was refused", problems)
        return spec

    def _assignee(self) -> dict[str, str]:
        inputs = {"slot": self.slot.strip(), "partner_id": self.partner_id, "user_id": self.user_id}
        # A kind there is not: the step's check refuses it beside the select.
        return assignees.from_form(self.assignee_type, inputs) or {"type": self.assignee_type}

    def _deadline(self, found: list[Refusal]) -> BaseModel | None:
        model = DEADLINE_KINDS.get(self.deadline_kind)
        if model is None:
            if self.deadline_kind:
                found.append(Refusal(("deadline",), "Choose one of the options."))
            return None
        if model is AfterDeadline:
            values: dict[str, Any] = {"after": self.deadline_after.strip()}
        elif model is BusinessDaysDeadline:
            region = self.region.strip() or "DE"
            values = {"business_days": self.business_days.strip(), "region": region}
        elif not self.date_field:
            found.append(Refusal(("deadline", "from_field"), "Choose the date field."))
            return None
        else:
            step, _, name = self.date_field.partition(".")
            values = {"from_field": {"step": step, "field": name}, "offset": self.offset.strip()}
        if model is not FromFieldDeadline:
            values["from"] = self.deadline_from
        if values.get("offset") == "":
            values["offset"] = "PT0S"
        try:
            return model.model_validate(values)
        except ValidationError as error:
            found.extend(Refusal(("deadline", *r.loc), r.message) for r in refusals(error))
            return None

    def _escalation(self) -> dict[str, Any] | None:
        grace = self.escalation_grace.strip()
        if self.escalation_notify and not self.escalation_to and not grace:
            return None  # the default: the contact person is told, nobody takes over
        reassign_to = assignees.from_handover_choice(self.escalation_to)
        escalation = {"notify_contact": self.escalation_notify, "reassign_to": reassign_to}
        return {**escalation, "grace": grace or None}

    def input_for(self, loc: Loc) -> str | None:
        """The input a refusal at `loc` (a path into the step) is about; None: no one input."""
        head, rest = (loc[0], loc[1:]) if loc else (None, ())
        if head in ("key", "name", "instructions", "requires", "reminders"):
            return str(head)
        if head == "assignee":
            named = [part for part in rest if part in assignees.FORM_INPUTS]
            return str(named[0]) if named else "assignee_type"
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
    "requires_mode", "deadline_kind", "deadline_after", "deadline_from", "business_days",
    "region", "date_field", "offset", "reminders", "handover_email", "escalation_to",
    "escalation_grace",
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
