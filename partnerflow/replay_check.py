"""`python -m partnerflow.replay_check HISTORY.json…`: do these histories replay on this code?

Before a workflow change is deployed (a fix behind `workflow.patched`, docs/operations.md),
the histories of the running processes it touches must replay on it, or their workers would
fail them. Save each with `temporal workflow show -w process-<id> -o json > <file>` and pass
the files; the suite replays its own recordings (tests/workflows/test_replay.py) the same
way. Exit 0 when every history replays; 1 naming each one that does not, and why.
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partnerflow.temporal import DATA_CONVERTER, exit_command
from worker import WORKFLOW_RUNNER
from workflows.partner_process import PartnerProcessWorkflow


async def replay(paths: list[Path]) -> dict[Path, str | None]:
    """Each history's replay failure, or None where it replays."""
    replayer = Replayer(
        workflows=[PartnerProcessWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    failures: dict[Path, str | None] = {}
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failures[path] = None if result.replay_failure is None else str(result.replay_failure)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m partnerflow.replay_check",
        description="Replay saved workflow histories on this workflow code.",
    )
    parser.add_argument("histories", nargs="+", type=Path, metavar="HISTORY.json")
    args = parser.parse_args(argv)
    failures = asyncio.run(replay(args.histories))
    for path, failure in failures.items():
        # The operator's terminal: a file name and the SDK's reason.
        sys.stdout.write(f"{path}: {'replays' if failure is None else 'FAILS: ' + failure}\n")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    exit_command(main())
