"""A render process: `python -m partnerflow.render_child MEMORY_BYTES HARD_SECONDS`.

Started and fed by `partnerflow.render_pool`. Reads jobs on stdin (a 4-byte length, then a
pickle from the parent), renders each in the e-mail sandbox and answers on stdout in frames
(a kind byte, a 4-byte length, the payload): `R` ready, `P` the part it renders now, `A` the
answer as JSON: the e-mail, or the problem. Its address space is capped MEMORY_BYTES above
what it needs once started; it exits when its input closes, when its parent is gone, or
when one render passes HARD_SECONDS (should the parent not have killed it by then).
"""

import json
import os
import pickle
import resource
import sys
import threading
import time
from typing import Any, BinaryIO

from partnerflow import emails


class _Watch:
    rendering_since: float | None = None


def _watchdog(parent: int, hard_seconds: float) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)
        since = _Watch.rendering_since
        if since is not None and time.monotonic() - since > hard_seconds:
            os._exit(3)


def _warm_up() -> None:
    """Load what every render needs (Babel's locale data) before the memory is capped."""
    for language in ("de", "en"):
        emails.render_here(
            "{{ step.due_at | date }}",
            "<p>{{ step.due_at | datetime }}</p>",
            None,
            {"step": {"due_at": "2026-12-11T09:00:00+00:00"}},
            language=language,
        )


def _cap_memory(headroom: int) -> None:
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
    except OSError:  # not Linux: no address space to read, so no cap to set from it
        return
    limit = pages * os.sysconf("SC_PAGE_SIZE") + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _answer(job: dict[str, Any], said: BinaryIO) -> dict[str, Any]:
    def announce(part: str) -> None:
        _frame(said, b"P", part.encode())

    try:
        email = emails.render_here(**job, on_part=announce)
    except emails.TemplateProblem as problem:
        return {
            "problem": {
                "part": problem.part,
                "message": problem.reason,
                "line": problem.line,
                "detail": problem.detail,
            },
            # past its memory cap, a process is best replaced
            "recycle": isinstance(problem.__cause__, MemoryError),
        }
    except MemoryError:
        message = "needs more memory than an e-mail may use"
        return {"problem": {"part": "template", "message": message}, "recycle": True}
    return {"email": {"subject": email.subject, "html": email.html, "text": email.text}}


def _frame(out: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    out.write(kind + len(payload).to_bytes(4, "big") + payload)
    out.flush()


def main(memory_bytes: int, hard_seconds: float) -> None:
    # Answers go to the pipe only; a stray print would break the frames, so it goes to stderr.
    said = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    jobs = sys.stdin.buffer
    _warm_up()
    threading.Thread(target=_watchdog, args=(os.getppid(), hard_seconds), daemon=True).start()
    _cap_memory(memory_bytes)
    _frame(said, b"R")
    while True:
        header = jobs.read(4)
        if len(header) < 4:
            return  # the parent closed our input: done
        job = pickle.loads(jobs.read(int.from_bytes(header, "big")))  # noqa: S301 - our parent
        _Watch.rendering_since = time.monotonic()
        answer = _answer(job, said)
        _Watch.rendering_since = None
        _frame(said, b"A", json.dumps(answer).encode())
        if answer.get("recycle"):
            return


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
