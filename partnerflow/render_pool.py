"""Child processes that render e-mail templates, each render under a hard budget of time.

A template is code a person wrote. Jinja's sandbox keeps it from the machine's files and
internals, but not from spending its CPU and memory: rendered in the API or the worker, a
loop of a billion rounds holds a thread for minutes and a 200 MB string lands in the
server's memory. So it runs in a child process (`partnerflow.render_child`) with its memory
capped (RLIMIT_AS), and the parent stops waiting when the time is up: it kills the child
and answers `OverBudget`. The thread that asked is free again after `render_seconds` (a
setting), never later, whatever the template does.

A few children are kept and reused (a render costs a round trip through a pipe, not a
Python start-up); a killed one is replaced on the next render. Children are started with
`subprocess` (fork+exec), never forked from this multi-threaded process; they end when
their stdin closes, so they do not outlive the process that started them.
"""

import atexit
import contextlib
import json
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from partnerflow.email_budget import (
    RENDER_MEMORY_BYTES,
    RENDER_PROCESSES,
    RENDER_QUEUE_SECONDS,
)
from partnerflow.settings import get_settings

# Starting a child imports Jinja and Babel: quick when warm, seconds on a cold disk.
_START_SECONDS = 30.0
_ROOT = Path(__file__).resolve().parent.parent
_MAX_FRAME = 64 * 1024 * 1024
_PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONDONTWRITEBYTECODE")


class OverBudget(Exception):
    """The render took too long or the child died doing it; `part` is where it was."""

    def __init__(self, part: str, message: str) -> None:
        self.part = part
        super().__init__(message)


class RenderUnavailable(RuntimeError):
    """No child could take the render (all busy, or none would start): try again later."""


class _Died(Exception):
    """The child is gone, or answered what no child of ours says (it is not trusted)."""


class _Child:
    """One render process and the pipes to it: length-prefixed pickle in, frames out."""

    def __init__(self, seconds: float, memory_bytes: int) -> None:
        path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
        # Only what Python needs: no database URL, token or provider key in a process that
        # runs code a person wrote.
        environment = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "partnerflow.render_child",
                str(memory_bytes),
                # the child's own backstop, should this process fail to kill it
                str(seconds * 2 + 1),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env={**environment, "PYTHONPATH": path},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin
        self._stdout = self.process.stdout.fileno()
        # poll, not select: a busy server's descriptors pass select's limit of 1024
        self._readable = select.poll()
        self._readable.register(self._stdout, select.POLLIN)
        try:
            kind, _ = self._frame(time.monotonic() + _START_SECONDS)
        except (_Died, TimeoutError) as error:
            self.kill()
            raise RenderUnavailable("a render process did not start") from error
        if kind != b"R":
            self.kill()
            raise RenderUnavailable("a render process did not start")
        self.pid = self.process.pid

    def ask(self, job: dict[str, Any], seconds: float) -> tuple[dict[str, Any] | None, str]:
        """The child's answer, or None when time ran out; and the part it was rendering."""
        request = pickle.dumps(job)
        unsent = memoryview(len(request).to_bytes(4, "big") + request)
        try:
            while unsent:  # the child reads it all before it renders: this does not block long
                unsent = unsent[os.write(self._stdin.fileno(), unsent) :]
        except OSError as error:  # BrokenPipeError: the child is gone
            raise _Died from error
        deadline = time.monotonic() + seconds
        part = "template"
        while True:
            try:
                kind, payload = self._frame(deadline)
            except TimeoutError:
                return None, part
            if kind == b"P":  # the child says which part it renders now
                part = payload.decode()
                continue
            try:
                answer = json.loads(payload)
            except ValueError as error:
                raise _Died from error
            if not isinstance(answer, dict):
                raise _Died
            return answer, part

    def _frame(self, deadline: float) -> tuple[bytes, bytes]:
        header = self._read(5, deadline)
        size = int.from_bytes(header[1:], "big")
        if size > _MAX_FRAME:  # three parts of MAX_OUTPUT characters never come near
            raise _Died
        return header[:1], self._read(size, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not self._readable.poll(left * 1000):
                raise TimeoutError
            chunk = os.read(self._stdout, size - len(data))
            if not chunk:
                raise _Died
            data += chunk
        return bytes(data)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Let an idle child end on its own: it exits when its input closes."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_stdout()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self._stdin.close()
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


class RenderPool:
    """At most `size` renders at once, each in a child of its own for its duration."""

    def __init__(
        self,
        size: int = RENDER_PROCESSES,
        seconds: float | None = None,
        memory_bytes: int = RENDER_MEMORY_BYTES,
        queue_seconds: float = RENDER_QUEUE_SECONDS,
    ) -> None:
        self._seconds = seconds
        self.memory_bytes = memory_bytes
        self._queue_seconds = queue_seconds
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Child] = []
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        """A render's budget: as made, else the setting (PARTNERFLOW_RENDER_SECONDS)."""
        return self._seconds if self._seconds is not None else get_settings().render_seconds

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """The child's answer to the job; OverBudget when it took too long or died on it."""
        if not self._slots.acquire(timeout=self._queue_seconds):
            raise RenderUnavailable("every render process is busy; try again in a moment")
        try:
            return self._run(job)
        finally:
            self._slots.release()

    def _run(self, job: dict[str, Any]) -> dict[str, Any]:
        # One more try on a fresh child when the first one was found dead: a child killed
        # from outside must not fail a good template. A template that kills two fails.
        for attempt in (1, 2):
            child = self._take()
            try:
                answer, part = child.ask(job, self.seconds)
            except _Died:
                child.kill()
                if attempt == 2:
                    raise OverBudget(
                        "template", "the render process ended while rendering it"
                    ) from None
                continue
            if answer is None:
                child.kill()
                raise OverBudget(
                    part, f"takes longer than {self.seconds:g} s to render; simplify it"
                )
            if answer.get("recycle"):  # it hit its memory limit: start the next one clean
                child.kill()
            else:
                self._give_back(child)
            return answer
        raise AssertionError("unreachable")

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive():
                    return child
                child.kill()
        return _Child(self.seconds, self.memory_bytes)

    def _give_back(self, child: _Child) -> None:
        with self._lock:
            self._idle.append(child)

    def child_pids(self) -> list[int]:
        """The idle children's process ids (to look at their limits)."""
        with self._lock:
            return [child.pid for child in self._idle if child.alive()]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()


POOL = RenderPool()
atexit.register(POOL.close)
