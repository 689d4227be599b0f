"""Logging for the API and the worker: plain text or one JSON object per line, never a secret.

A line logged inside a workflow or activity carries the process id. Invitation and sign-in
tokens travel in URL paths, so access-log lines have them masked.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# `/sign-in/` also covers `/portal/sign-in/` (a partner's link) and a staff welcome link.
_TOKEN_IN_PATH = re.compile(r"(/invitations/|/sign-in/)[^/\s?\"]+")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def mask(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1***", text)


def _process_id(record: logging.LogRecord) -> str | None:
    for name in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, name, None)
        if isinstance(details, dict):
            workflow_id = str(details.get("workflow_id", ""))
            if workflow_id.startswith("process-"):
                return workflow_id.removeprefix("process-")
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        process_id = _process_id(record)
        if process_id:
            entry["process_id"] = process_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("temporal_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class MaskSecrets(logging.Filter):
    """Rewrites access-log arguments so an invitation token never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask(a) if isinstance(a, str) else a for a in record.args)
        record.msg = mask(str(record.msg))
        return True


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(MaskSecrets())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # httpx writes a line for every request it sends, at INFO, with the whole URL: a webhook
    # receiver's URL may carry its secret (the delivery log keeps each attempt, for staff).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.addFilter(MaskSecrets())
