"""`python -m bench.forecast`: how well the late-step forecast flags steps that end late.

Seeds a history of partners with known behaviour (each partner's time to complete a step is
log-normal around its own median: 1 to 4 days, against a 3-day deadline), then replays
time: every 6 hours each open step is forecast with the product's model (`forecast.choose`
and `forecast.estimate`) from the completions finished before that moment (the newest
`forecast.WINDOW`, the partner's own or everyone's, as the read model would hold them).
A step is flagged when the contact person would be told: a late probability of at least
`forecast.AT_RISK` while its deadline is at least `forecast.TIME_TO_ACT` away. Prints
precision (flagged steps that ended late) and recall (late steps that were flagged).
"""

import argparse
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from partnerflow import forecast

START = datetime(2026, 1, 1, tzinfo=UTC)
DEADLINE = timedelta(days=3)
TICK = timedelta(hours=6)
MEDIAN_DAYS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)  # two partners each
SPREAD = 0.35  # sigma of the log-normal time to complete


@dataclass
class Step:
    partner: int
    opened: datetime
    took: timedelta

    @property
    def done(self) -> datetime:
        return self.opened + self.took

    @property
    def late(self) -> bool:
        return self.done > self.opened + DEADLINE


def seed(rng: random.Random, days: int, per_partner: int) -> list[Step]:
    steps = []
    for partner in range(2 * len(MEDIAN_DAYS)):
        median = MEDIAN_DAYS[partner // 2]
        for _ in range(per_partner):
            opened = START + timedelta(seconds=rng.uniform(0, days * 86400))
            took = median * math.exp(rng.gauss(0, SPREAD))
            steps.append(Step(partner, opened, timedelta(days=took)))
    return sorted(steps, key=lambda s: s.opened)


def flagged(step: Step, history: list[Step]) -> bool:
    """Whether any 6-hourly forecast while the step was open would have told the contact."""
    at = step.opened
    due = step.opened + DEADLINE
    while at < step.done and due - at >= forecast.TIME_TO_ACT:
        finished = [h for h in history if h.done <= at]
        finished.sort(key=lambda h: h.done, reverse=True)
        own = [h.took.total_seconds() for h in finished if h.partner == step.partner]
        everyone = [h.took.total_seconds() for h in finished]
        durations, basis = forecast.choose(own[: forecast.WINDOW], everyone[: forecast.WINDOW])
        if basis != "none":
            late, _ = forecast.estimate(durations, step.opened, due, at)
            if late >= forecast.AT_RISK:
                return True
        at += TICK
    return False


def run(days: int, per_partner: int, seed_value: int) -> dict[str, float]:
    rng = random.Random(seed_value)  # noqa: S311 (a reproducible history, not a secret)
    steps = seed(rng, days, per_partner)
    counts: dict[str, int] = defaultdict(int)
    warm_up = START + timedelta(days=days // 4)  # the first quarter builds the history only
    for n, step in enumerate(steps):
        if step.opened < warm_up:
            continue
        flag = flagged(step, steps[:n])
        counts["steps"] += 1
        counts["late"] += step.late
        counts["flagged"] += flag
        counts["flagged_late"] += flag and step.late
    return {
        **counts,
        "precision": round(counts["flagged_late"] / counts["flagged"], 3)
        if counts["flagged"]
        else 0,
        "recall": round(counts["flagged_late"] / counts["late"], 3) if counts["late"] else 0,
    }


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forecast", description=__doc__)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--per-partner", type=int, default=60)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    result = run(args.days, args.per_partner, args.seed)
    print(
        f"steps forecast {result['steps']}, ended late {result['late']}, flagged "
        f"{result['flagged']}, flagged and late {result['flagged_late']}\n"
        f"precision {result['precision']:.3f} (flagged steps that ended late)\n"
        f"recall    {result['recall']:.3f} (late steps that were flagged)"
    )


if __name__ == "__main__":
    cli()
