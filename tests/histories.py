"""Recorded workflow histories: written by chosen tests on demand, replayed by the suite.

`make histories` runs those tests with PARTNERFLOW_RECORD_HISTORIES=1; each writes its
workflow's history to tests/histories/v<N>/<name>.json, N being the workflow code's version
(workflows/versions.py: one more with each `workflow.patched` change). A recording never
replaces an existing file, not even the current version's: a released version's histories are
what running processes replay, so they stay as recorded. Histories accumulate, and
tests/workflows/test_replay.py replays every one with the current workflow code, so a change
that is not replay-safe fails the build. To record a path again, delete its file by hand, and
only for a version that was never released. The files directly in tests/histories/ are version 1's,
recorded before the versions were kept apart.
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
    path = CURRENT / f"{name}.json"
    try:
        with path.open("x") as file:  # never replaces a recording
            file.write(history.to_json())
    except FileExistsError:
        raise FileExistsError(
            f"{path} is recorded already and is kept as it is. Delete it deliberately, and "
            f"only if version {CODE_VERSION} was never released; a new `workflow.patched` "
            "change (workflows/versions.py) records into a new version's folder."
        ) from None
