"""Recorded workflow histories: written by chosen tests on demand, replayed by the suite.

`make histories` runs those tests with PARTNERFLOW_RECORD_HISTORIES=1; each writes its
workflow's history to tests/histories/v<N>/<name>.json, N being the workflow code's version
(workflows/versions.py: one more with each `workflow.patched` change). A recording never
replaces another version's: histories accumulate, and tests/test_replay.py replays every one
with the current workflow code, so a change that is not replay-safe fails the build. The files
directly in tests/histories/ are version 1's, recorded before the versions were kept apart.
"""

import os
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from workflows.versions import CODE_VERSION

FOLDER = Path(__file__).parent / "histories"
CURRENT = FOLDER / f"v{CODE_VERSION}"


def recorded() -> dict[str, Path]:
    """Every recorded history by name: "installation_scenario" (version 1), "v3/cancel"…"""
    return {
        path.relative_to(FOLDER).with_suffix("").as_posix(): path
        for path in sorted(FOLDER.rglob("*.json"))
    }


async def record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Keep the history of the handle's run (its latest, for a handle without a run id)."""
    if os.environ.get("PARTNERFLOW_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    CURRENT.mkdir(parents=True, exist_ok=True)
    (CURRENT / f"{name}.json").write_text(history.to_json())
