"""What a person does on a step page, done through the same code as the JSON API.

The pages call the API's route functions, so a browser gets exactly the API's checks:
visibility, permissions, the workflow's validators, upload checks.
"""

import re
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, UploadFile, status
from sqlmodel import Session
from temporalio.client import Client

from api.deps import Caller
from api.errors import invalid
from api.process_view import visible_process
from api.routes import steps
from api.web.views import step_specs, timezone_of
from partnerflow.settings import Settings
from workflows.messages import FieldSpec


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

    async def set_deadline(self, value: str) -> None:
        """A date picker's value (`2026-12-11T14:00`, local time of the process) or a date."""
        value = value.strip()
        if not value:
            invalid("appointment", "choose the date and time of the appointment")
        await steps.set_deadline(
            self.process_id, self.step_key, steps.DeadlineSet(due_at=value),
            self.session, self.temporal, self.settings, self.caller,
        )  # fmt: skip

    async def upload(self, file: UploadFile, document_type: str) -> None:
        if not file.filename:
            invalid("file", "choose a file to upload")
        if not re.fullmatch(steps.DOCUMENT_TYPE_PATTERN, document_type):
            invalid("type", "choose what the document is")
        await steps.upload_document(
            self.process_id, self.step_key, self.session, self.temporal, self.settings,
            self.caller, file, document_type,
        )  # fmt: skip

    async def complete(self, entered: dict[str, str]) -> None:
        """Finish the step with the values of its fields, typed as the template says."""
        process = visible_process(self.session, self.caller, self.process_id)
        spec = step_specs(self.session, process).get(self.step_key)
        timezone = ZoneInfo(timezone_of(self.session, process))
        fields = {
            field.key: value
            for field in (spec.fields if spec else [])
            if (value := _typed(field, entered.get(f"field:{field.key}", ""), timezone)) is not None
        }
        response = await steps.complete_step(
            self.process_id, self.step_key, steps.StepComplete(fields=fields),
            self.session, self.temporal, self.settings, self.caller,
        )  # fmt: skip
        if response.status_code >= 400:  # an answer replayed by Idempotency-Key
            raise HTTPException(response.status_code, "the step could not be finished")

    async def comment(self, body: str) -> None:
        add_comment(self.session, self.caller, self.process_id, self.step_key, body)


def add_comment(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str, body: str
) -> None:
    if not body.strip():
        invalid("body", "write something first")
    steps.add_comment(process_id, step_key, steps.CommentCreate(body=body), session, caller)


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
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field.label}: '{raw}' is not a {field.type}"
        ) from error
    return raw
