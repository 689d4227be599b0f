"""`python -m bench.profile OUT.json worker|api [uvicorn args]`: a component under cProfile.

Every Python thread gets a profiler of its own measuring CPU time (`time.thread_time`), so
time spent waiting (locks, polls) does not count and the thread pools that run activities,
workflow tasks and FastAPI's sync dependencies are included. SIGUSR1 marks the start of the
window that counts (after start-up and warm-up); on exit (SIGINT) what each function used
since the mark goes to OUT.json, which `summarize` turns into where the CPU time went.
"""

import cProfile
import json
import runpy
import signal
import sys
import threading
import time
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
# function -> [calls, own seconds, total seconds, own seconds of the built-ins it called]
Entries = dict[str, list[float]]
_mark: Entries = {}


def _profile_every_thread() -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def _label(code: CodeType | str) -> str:
    if isinstance(code, str):
        return code  # a built-in: "<built-in method …>"
    return f"{code.co_filename}:{code.co_firstlineno} {code.co_name}"


def _collect() -> Entries:
    entries: Entries = {}
    with _lock:
        profiles = list(_profiles)
    for profile in profiles:
        for entry in profile.getstats():
            values = entries.setdefault(_label(entry.code), [0, 0.0, 0.0, 0.0])
            values[0] += entry.callcount
            values[1] += entry.inlinetime
            values[2] += entry.totaltime
            if not isinstance(entry.code, str):
                values[3] += sum(
                    call.inlinetime
                    for call in entry.calls or ()
                    if isinstance(call.code, str) and _area(call.code) == "builtins (C)"
                )
    return entries


def _on_mark(_signum: int, _frame: FrameType | None) -> None:
    main = _profiles[0]  # this (the main) thread's: not while it counts the others
    main.disable()
    _mark.clear()
    _mark.update(_collect())
    main.enable()


def _dump(out: Path) -> None:
    final = _collect()
    window = {}
    for key, values in final.items():
        before = _mark.get(key, [0, 0.0, 0.0, 0.0])
        delta = [now - then for now, then in zip(values, before, strict=True)]
        if delta[0] or delta[1] > 0:
            window[key] = delta
    out.write_text(json.dumps(window))


# Where a function's own CPU time is booked: the first matching fragment of its file name.
AREAS: list[tuple[str, str]] = [
    ("<frozen importlib", "imports (the sandbox's, and lazy ones)"),
    ("marshal.loads", "imports (the sandbox's, and lazy ones)"),
    ("/workflow_sandbox/", "Temporal SDK: workflow sandbox"),
    ("/temporalio/contrib/pydantic", "pydantic (Temporal payloads)"),
    ("/temporalio/converter", "Temporal SDK: payload conversion"),
    ("/temporalio/", "Temporal SDK: other (Python side)"),
    ("/pydantic_core/", "pydantic"),
    ("/pydantic/", "pydantic"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/sqlmodel/", "SQLAlchemy"),
    ("sqlite3", "sqlite3 (C)"),
    ("/jinja2/", "Jinja2 (e-mail rendering)"),
    ("/markupsafe/", "Jinja2 (e-mail rendering)"),
    ("/babel/", "Babel (dates in e-mails)"),
    ("/fastapi/", "FastAPI / Starlette / uvicorn"),
    ("/starlette/", "FastAPI / Starlette / uvicorn"),
    ("/uvicorn/", "FastAPI / Starlette / uvicorn"),
    ("/h11/", "FastAPI / Starlette / uvicorn"),
    ("/httptools/", "FastAPI / Starlette / uvicorn"),
    ("/anyio/", "FastAPI / Starlette / uvicorn"),
    ("/prometheus_client/", "metrics"),
    ("/google/protobuf/", "protobuf"),
    ("/asyncio/", "asyncio"),
    ("/concurrent/", "threads and queues"),
    ("/threading.py", "threads and queues"),
    ("/queue.py", "threads and queues"),
    ("/work/main/workflows/", "Partnerflow: workflows/"),
    ("/work/main/activities/", "Partnerflow: activities/"),
    ("/work/main/api/", "Partnerflow: api/"),
    ("/work/main/partnerflow/", "Partnerflow: partnerflow/"),
    ("/json/", "json"),
    ("/copy.py", "copy (deep copies)"),
    ("/logging/", "logging"),
    ("/typing.py", "typing"),
    ("/site-packages/", "other packages"),
    ("/lib/python3", "Python standard library (other)"),
]


def _area(label: str) -> str:
    for fragment, area in AREAS:
        if fragment in label:
            return area
    if label.startswith("<"):
        return "builtins (C)"
    return "other Python"


def _short(label: str) -> str:
    return label.split("site-packages/")[-1].replace("/work/main/", "")


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """CPU seconds by area (own time), and the functions with the most own and total time."""
    entries: Entries = {
        label: values
        for label, values in json.loads(path.read_text()).items()
        if "_lsprof" not in label and "bench/profile.py" not in label
    }
    total = sum(values[1] for values in entries.values()) or 1.0
    # A built-in's time goes to the area of the function that called it (isinstance called
    # by SQLAlchemy is SQLAlchemy's); what C code called stays with the built-ins.
    areas: dict[str, float] = {}
    for label, (_calls, own, _total, builtins) in entries.items():
        area = _area(label)
        if area == "builtins (C)":
            continue
        areas[area] = areas.get(area, 0.0) + own + builtins
        areas["builtins (C)"] = areas.get("builtins (C)", 0.0) - builtins
    areas["builtins (C)"] = areas.get("builtins (C)", 0.0) + sum(
        values[1] for label, values in entries.items() if _area(label) == "builtins (C)"
    )
    stdlib: dict[str, float] = {}
    for label, values in entries.items():
        if _area(label) == "Python standard library (other)":
            module = _short(label.split(":")[0]).rpartition("/lib/")[2]
            stdlib[module] = stdlib.get(module, 0.0) + values[1] + values[3]
    by_own = sorted(entries.items(), key=lambda item: item[1][1], reverse=True)[:top]
    ours = [
        item
        for item in entries.items()
        if any(f"/work/main/{d}/" in item[0] for d in ("workflows", "activities", "api"))
    ]
    cumulative = sorted(ours, key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "cpu_s": round(total, 2),
        "areas": {
            area: round(seconds / total * 100, 1)
            for area, seconds in sorted(areas.items(), key=lambda kv: kv[1], reverse=True)
        },
        "stdlib_other": {
            module: round(seconds / total * 100, 1)
            for module, seconds in sorted(stdlib.items(), key=lambda kv: kv[1], reverse=True)[:8]
        },
        "top_own": [(_short(k), round(v[1], 3)) for k, v in by_own],
        "top_cumulative_partnerflow": [(_short(k), round(v[2], 3)) for k, v in cumulative],
    }


def main() -> None:
    out, component, *rest = sys.argv[1:]
    root = Path(__file__).resolve().parent.parent
    profile = cProfile.Profile(time.thread_time)
    _profiles.append(profile)
    _profile_every_thread()
    signal.signal(signal.SIGUSR1, _on_mark)
    profile.enable()
    try:
        if component == "worker":
            sys.argv = [str(root / "worker.py")]
            runpy.run_path(str(root / "worker.py"), run_name="__main__")
        else:
            sys.argv = ["uvicorn", *rest]
            runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profile.disable()
        _dump(Path(out))


if __name__ == "__main__":
    main()
