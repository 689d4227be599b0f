"""What a person does on a step page: the form's text made into what the services take, so a
browser gets exactly the API's checks (visibility, permissions, the workflow's validators,
upload checks)."""

import re
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, UploadFile, status
from sqlmodel import Session
from temporalio.client import Client

from api.web.refusals import refusals
from api.web.views import step_specs, timezone_of
from partnerflow import steps, uploads
from partnerflow.callers import Caller
from partnerflow.refusals import Refused, invalid
from partnerflow.settings import Settings
from partnerflow.spec import FieldSpec
from partnerflow.storage import UnsupportedFile
from workflows.messages import ReviewDecision

DECISIONS: dict[str, ReviewDecision] = {"approve": "approve", "request_changes": "request_changes"}


class StepWork:
    def __init__(
        self,
        session: Session,
        temporal: Client,
        settings: Settings,
        caller: Caller,
        process_id: uuid.UUID,
        step_key: str,
    ) -> None:
        self.session = session
        self.temporal = temporal
        self.settings = settings
        self.caller = caller
        self.process_id = process_id
        self.step_key = step_key

    def _step(self) -> steps.StepRef:
        return steps.step_of(self.session, self.caller, self.process_id, self.step_key)

    async def set_deadline(self, value: str) -> None:
        """A date picker's value (`2026-12-11T14:00`, local time of the process) or a date."""
        value = value.strip()
        if not value:
            raise invalid("appointment", "choose the date and time of the appointment")
        await steps.set_deadline(
            self.session, self.temporal, self.settings, self.caller, self._step(), value
        )

    async def upload(self, file: UploadFile, document_type: str) -> None:
        if not file.filename:
            raise invalid("file", "choose a file to upload")
        if not re.fullmatch(uploads.DOCUMENT_TYPE_PATTERN, document_type):
            raise invalid("type", "choose what the document is")
        data = await file.read(self.settings.max_upload_bytes + 1)
        try:
            await uploads.upload(
                self.session, self.temporal, self.settings, self.caller,
                self.process_id, self.step_key,
                data=data, filename=file.filename, document_type=document_type,
            )  # fmt: skip
        except UnsupportedFile as error:  # answered as the API does
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"file: {error}") from error

    async def complete(self, entered: dict[str, str]) -> str | None:
        """Finish the step with the values of its fields, typed as the template says; the
        step's status after it (`in_review` where someone checks it first)."""
        step = self._step()
        spec = step_specs(self.session, step.process).get(self.step_key)
        timezone = ZoneInfo(timezone_of(self.session, step.process))
        fields = {
            field.key: value
            for field in (spec.fields if spec else [])
            if (value := _typed(field, entered.get(f"field:{field.key}", ""), timezone)) is not None
        }
        detail = await steps.complete(
            self.session, self.temporal, self.settings, self.caller, step, fields
        )
        return next((s.status for s in detail.steps if s.key == self.step_key), None)

    async def review(self, decision: str, reason: str, due: str) -> None:
        """The reviewer's answer: approve, or request changes with a reason and, if given, a
        new deadline (a date picker's value, local time of the process)."""
        chosen = DECISIONS.get(decision)
        if chosen is None:
            raise invalid("decision", "choose to approve the step or to request changes")
        await steps.review(
            self.session, self.temporal, self.settings, self.caller, self._step(),
            chosen, reason, due.strip() or None,
        )  # fmt: skip

    async def decline(self, reason: str) -> None:
        """Hand the step back to the contact person, saying why."""
        await steps.decline(
            self.session, self.temporal, self.settings, self.caller, self._step(), reason
        )

    async def comment(self, body: str) -> None:
        add_comment(self.session, self.caller, self.process_id, self.step_key, body)


def add_comment(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str, body: str
) -> None:
    if not body.strip():
        raise invalid("body", "write something first")
    steps.add_comment(session, caller, process_id, step_key, body)


def problem(error: Refused | HTTPException) -> str:
    """A refusal as the sentence shown above a step's forms."""
    return " ".join(refusal.sentence for refusal in refusals(error))


def _typed(field: FieldSpec, raw: str, timezone: ZoneInfo) -> Any:
    """A form's text as the field's type; None when left empty (the workflow checks required)."""
    raw = raw.strip()
    if field.type == "boolean":
        return raw in ("on", "true", "1")
    if not raw:
        return None
    try:
        if field.type == "number":
            number = float(raw.replace(",", "."))
            return int(number) if number.is_integer() else number
        if field.type == "date":
            return date.fromisoformat(raw).isoformat()
        if field.type == "datetime":  # a date picker's local time, in the process's zone
            moment = datetime.fromisoformat(raw)
            return (moment if moment.tzinfo else moment.replace(tzinfo=timezone)).isoformat()
    except ValueError as error:
        raise invalid(
            f"field:{field.key}", f"{field.label}: '{raw}' is not a {field.type}"
        ) from error
    return raw
