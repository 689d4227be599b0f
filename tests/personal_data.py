"""Looking for personal data where it must not be: in a workflow's history (every payload
decoded, every run of it) and in the database (every column of every table)."""

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

# Both patterns start a match only where a run of the characters their first part takes
# begins (or, for an address, right where the last one ended): the matches are the same as
# from anywhere, but a payload's base64 (runs of thousands of such characters) is read once,
# not once from each of its characters (seconds per history).
# Any address of the test data's domains (the worker's identity `pid@host` is not one).
EMAIL_ADDRESS = re.compile(r"(?:(?<![\w.+-])|(?<=example\.com))[\w.+-]+@(?:[\w-]+\.)*example\.com")
# The built-in query behind the UI's "Current Details" and `temporal workflow metadata`.
METADATA_QUERY = "__temporal_workflow_metadata"
# A file's name as people give them: `Rechnung 2026.pdf`, `0.jpg`.
FILE_NAME = re.compile(
    r"(?<![^\s\"'/\\])[^\s\"'/\\]+\.(?:pdf|jpe?g|png|gif|webp|docx?|xlsx?)\b", re.IGNORECASE
)


def _strings(value: Any) -> Iterable[str]:
    """Every string in a JSON value, a payload's data decoded (pydantic's JSON, so its own
    strings are found as written, however the outer JSON escaped them)."""
    if isinstance(value, dict):
        data, metadata = value.get("data"), value.get("metadata")
        if isinstance(data, str) and isinstance(metadata, dict):
            raw = base64.b64decode(data).decode("utf-8", "replace")
            yield raw
            yield from _strings(_json_or_none(raw))
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _json_or_none(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None  # binary/null and other non-JSON payloads: searched as they are


def history_text(history: dict[str, Any]) -> str:
    """A history (its JSON, as `WorkflowHistory.to_json` writes it) as one searchable text."""
    return "\n".join(_strings(history))


async def workflow_text(client: Client, workflow_id: str) -> str:
    """Every run of the workflow, newest back to the first (continue-as-new chains them)."""
    texts: list[str] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        as_json = json.loads(history.to_json())
        texts.append(history_text(as_json))
        started = as_json["events"][0]["workflowExecutionStartedEventAttributes"]
        run_id = started.get("continuedExecutionRunId")
        if not run_id:
            return "\n".join(texts)


async def user_metadata_text(client: Client, workflow_id: str) -> str:
    """What the Temporal UI shows beside the history: the execution's summary and details (its
    latest run's; the history holds the first run's too) and the current details, which only a
    query answers (`temporal workflow metadata`)."""
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return "\n".join(
        [
            await description.static_summary() or "",
            await description.static_details() or "",
            metadata.current_details,
        ]
    )


def database_text(engine: Engine) -> str:
    """Every value of every row of every table, as text."""
    lines: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                lines.append(
                    f"{table.name}: "
                    + json.dumps([v for v in row], default=str, ensure_ascii=False)
                )
    return "\n".join(lines)


def stored_files(storage_dir: str) -> dict[str, bytes]:
    root = Path(storage_dir)
    return {p.name: p.read_bytes() for p in root.iterdir()} if root.exists() else {}


_WORD_CHARACTER = re.compile(r"\w")


def _as_a_word(needle: str, text: str) -> bool:
    r"""Whether the needle occurs with no word character right before or after it (as
    `(?<!\w)needle(?!\w)` would find it; str.find skips ahead far faster than a pattern that
    opens with a look-behind, which is tried at every character)."""
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        before = start > 0 and _WORD_CHARACTER.match(text, start - 1)
        if not before and not _WORD_CHARACTER.match(text, end):
            return True
        start = text.find(needle, start + 1)
    return False


def found(text: str, needles: Iterable[str], patterns: Iterable[re.Pattern[str]] = ()) -> set[str]:
    """Which of the needles (matched as whole words) and patterns occur in the text."""
    hits = {needle for needle in needles if _as_a_word(needle, text)}
    for pattern in patterns:
        hits.update(match.group(0) for match in pattern.finditer(text))
    return hits
