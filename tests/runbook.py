"""The runbook's commands as docs/operations.md writes them, run against a test's servers.

Each shell block of the runbook starts with `# runbook: <name>`; `Runbook.run(name, …)` fills
its `<placeholders>` and runs it with bash, with the environment the runbook tells operators
to set (TEMPORAL_ADDRESS, the worker's PARTNERFLOW_* settings, PARTNERFLOW_URL and _TOKEN for
curl). The doc and the tests cannot drift: a test runs the doc's text, not a copy of it.
"""

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tests.conftest import Stack, free_port

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
_BLOCK = re.compile(r"^(?P<indent>[ \t]*)```sh\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
_MARKER = re.compile(r"^# runbook: (?P<name>[a-z-]+)\n")
_PLACEHOLDER = re.compile(r"<[a-z]+(?:-[a-z]+)*>")
BIN = Path(sys.executable).parent


def runbook_sections() -> str:
    """The part of the doc from its "## Runbook" heading to the next top-level heading."""
    text = DOC.read_text()
    start = text.index("\n## Runbook\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks() -> list[str]:
    """Every shell block of the runbook, its indentation removed."""
    return [textwrap.dedent(match["body"]) for match in _BLOCK.finditer(runbook_sections())]


def commands() -> dict[str, str]:
    """Each named block's commands: name -> the lines after its marker."""
    named: dict[str, str] = {}
    for block in blocks():
        marker = _MARKER.match(block)
        assert marker, f"a runbook block names no test:\n{block}"
        assert marker["name"] not in named, f"two runbook blocks named {marker['name']}"
        named[marker["name"]] = block[marker.end() :]
    return named


@dataclass
class Ran:
    command: str
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> "Ran":
        assert self.returncode == 0, f"{self.command}\n-> {self.returncode}\n{self.stderr}"
        return self


@dataclass
class Runbook:
    """Runs the doc's blocks against one test's Temporal server, database and API."""

    stack: Stack
    folder: Path
    api_url: str = "http://127.0.0.1:9"  # set by `served` for the blocks that call the API
    env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        settings = self.stack.settings
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # no CLI config file of the machine's user: only what the runbook says to set
            "HOME": str(self.folder),
            "TEMPORAL_ADDRESS": self.stack.env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "PARTNERFLOW_DATABASE_URL": settings.database_url,
            "PARTNERFLOW_TEMPORAL_ADDRESS": self.stack.env.client.service_client.config.target_host,
            "PARTNERFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "PARTNERFLOW_TASK_QUEUE": settings.task_queue,
            "PARTNERFLOW_URL": self.api_url,
            "PARTNERFLOW_TOKEN": self.stack.admin["Authorization"].removeprefix("Bearer "),
            **self.env,
        }

    def command(self, name: str, **values: str) -> str:
        """The block's text with `<process-id>` etc. filled from `process_id=` etc."""
        text = commands()[name]
        for key, value in values.items():
            placeholder = f"<{key.replace('_', '-')}>"
            assert placeholder in text, f"runbook block {name} has no {placeholder}"
            text = text.replace(placeholder, value)
        left = _PLACEHOLDER.findall(text)
        assert not left, f"runbook block {name}: fill {left}"
        return text

    async def run(self, name: str, **values: str) -> Ran:
        """Run the block with bash (the event loop goes on: the worker answers queries)."""
        text = self.command(name, **values)
        process = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", text,
            cwd=self.folder, env=self.environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return Ran(text, process.returncode, stdout.decode(), stderr.decode())

    async def temporal(self, *args: str) -> Ran:
        """A `temporal` command that is not the runbook's (what it warns against)."""
        process = await asyncio.create_subprocess_exec(
            str(BIN / "temporal"), *args,
            cwd=self.folder, env=self.environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return Ran(" ".join(args), process.returncode, stdout.decode(), stderr.decode())


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app (its lifespan already running) on a free port, for curl; answers its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
