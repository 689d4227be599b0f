"""Two transactions made to race for certain: a thread stopped before a chosen statement."""

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# A commit sends no statement through a cursor; the commit event stands for it by this name.
COMMIT = re.compile(r"^COMMIT$")


@contextmanager
def held_before(
    engine: Engine, thread: str, statement: re.Pattern[str]
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Stops the thread named `thread` just before its first statement matching `statement`
    (`COMMIT` for its commit), after whatever it did before, until the test releases it."""
    reached, release = threading.Event(), threading.Event()

    def arrived(sent: str) -> None:
        if threading.current_thread().name != thread or reached.is_set():
            return
        if statement.match(sent):
            reached.set()
            release.wait(timeout=60)

    def before_execute(*args: Any) -> None:
        arrived(args[2])

    def before_commit(*args: Any) -> None:
        arrived("COMMIT")

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", before_commit)
    try:
        yield reached, release
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", before_commit)


def in_thread(name: str, work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    """`work` run in a thread of this name; what it raised, for the test to report."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # the test reports it, the thread cannot
            errors.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, errors
