"""Recorded workflow histories: written by chosen tests on demand, replayed by the suite.

`make histories` runs those tests with PARTNERFLOW_RECORD_HISTORIES=1; each writes its
workflow's history to tests/histories/<name>.json. tests/test_replay.py replays every one
with the current workflow code, so a change that is not replay-safe fails the build.
"""

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

FOLDER = Path(__file__).parent / "histories"


async def record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    if os.environ.get("PARTNERFLOW_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    FOLDER.mkdir(exist_ok=True)
    (FOLDER / f"{name}.json").write_text(history.to_json())
