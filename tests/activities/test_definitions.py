"""What every activity the worker runs declares about itself."""

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

from temporalio import activity

import activities


def _activities() -> Iterator[tuple[Callable[..., Any], activity._Definition]]:
    for info in pkgutil.iter_modules(activities.__path__):
        module = importlib.import_module(f"activities.{info.name}")
        for _, value in inspect.getmembers(module):
            if inspect.isclass(value) and value.__module__ == module.__name__:
                functions = [f for _, f in inspect.getmembers(value, inspect.isfunction)]
            elif inspect.isfunction(value) and value.__module__ == module.__name__:
                functions = [value]
            else:
                continue
            for function in functions:
                definition = activity._Definition.from_callable(function)
                if definition is not None:
                    yield function, definition


def test_no_synchronous_activity_is_interrupted_by_a_cancel() -> None:
    """A cancel never raises inside a synchronous activity's thread (activities/__init__.py):
    it would leave a lock held or a write half done."""
    synchronous = {
        function.__qualname__: definition
        for function, definition in _activities()
        if not inspect.iscoroutinefunction(function)
    }
    assert {"EmailActivities.send_email", "ReadModelActivities.record_transition"} <= set(
        synchronous
    )
    assert [
        name
        for name, definition in synchronous.items()
        if not definition.no_thread_cancel_exception
    ] == []
