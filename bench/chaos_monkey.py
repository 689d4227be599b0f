"""The chaos itself: rounds of `kill -9` of the worker, Temporal and an API process, each at a
random moment, each started again after a random pause; and a keeper that starts again any
part that died on its own (and notes it).

Moments are drawn in terms of the run's progress (calls done out of all calls), not of
seconds: round r of R kills each part once while the progress is between r/R and (r+1)/R
(of the first 95%, so the last kills still meet load), so the kills spread over the load
whatever the machine's speed.
"""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.chaos_parts import Part

# A restart that fails (e.g. the worker while Temporal is down) is tried again this long.
RESTART_WAIT = 180.0
# How long a killed part stays down: a crash loop's back-off, or an operator's reaction.
DOWNTIME = (0.2, 3.0)
# The share of the calls over which the rounds spread.
SPREAD = 0.95


@dataclass
class Mayhem:
    """What the monkey and the keeper did."""

    kills: Counter[str] = field(default_factory=Counter)
    # a part that exited without being killed, or failed to start (and was tried again)
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    failed_starts: Counter[str] = field(default_factory=Counter)
    rounds_done: int = 0
    events: list[str] = field(default_factory=list)


class Monkey:
    def __init__(
        self,
        worker: Part,
        server: Part,
        apis: Sequence[Part],
        progress: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._worker = worker
        self._server = server
        self._apis = list(apis)
        self._progress = progress
        self._rng = rng
        self._began = time.monotonic()
        # parts being killed and started by the monkey: the keeper leaves them alone
        self._busy: set[int] = set()
        self._stopping = False
        self.mayhem = Mayhem()

    def _note(self, what: str) -> None:
        self.mayhem.events.append(f"{time.monotonic() - self._began:8.1f}s  {what}")

    async def rounds(self, count: int) -> None:
        """`count` rounds; returns when they are done, or after `stop()` once every part it
        killed is up again."""
        for number in range(count):
            low, high = SPREAD * number / count, SPREAD * (number + 1) / count
            targets = [self._worker, self._server, self._rng.choice(self._apis)]
            killed = await asyncio.gather(
                *(self._kill_at(part, self._rng.uniform(low, high)) for part in targets)
            )
            if not all(killed):
                return
            self.mayhem.rounds_done += 1

    def stop(self) -> None:
        """No more kills: the load is over (a kill already made still ends in a start)."""
        self._stopping = True

    async def _kill_at(self, part: Part, progress: float) -> bool:
        # the progress is a count the client bumps: polled, it needs no hook in the client
        while self._progress() < progress:
            if self._stopping:
                return False
            await asyncio.sleep(0.05)
        self._busy.add(id(part))
        try:
            await part.kill()
            self.mayhem.kills[part.name] += 1
            self._note(f"killed {part.name} at {self._progress():.0%} of the calls")
            await asyncio.sleep(self._rng.uniform(*DOWNTIME))
            await self._start(part)
        finally:
            self._busy.discard(id(part))
        return True

    async def _start(self, part: Part) -> None:
        deadline = time.monotonic() + RESTART_WAIT
        while True:
            try:
                await part.start()
                self._note(f"started {part.name} again")
                return
            except RuntimeError as error:
                self.mayhem.failed_starts[part.name] += 1
                self._note(f"{part.name} did not start: {str(error).splitlines()[0]}")
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)

    async def keep(self) -> None:
        """Starts again any part that died on its own; runs until cancelled."""
        while True:
            await asyncio.sleep(0.5)
            for part in [self._server, self._worker, *self._apis]:
                if id(part) in self._busy or part.alive or part.process is None:
                    continue
                code = part.process.returncode
                self.mayhem.unplanned_exits[part.name] += 1
                self._note(f"{part.name} exited on its own ({code})")
                self._busy.add(id(part))
                try:
                    await self._start(part)
                finally:
                    self._busy.discard(id(part))
