"""The results of `make bench`: one table per dev server, the targets, latest.{md,json}."""

import json
import sys
from pathlib import Path
from typing import Any

from bench import insight
from bench.drive import Run

NOTES = Path(__file__).resolve().parent / "NOTES.md"
# Issue 17's targets.
THROUGHPUT = 0.7  # product/bare processes/s, at concurrency 20 and 1
LATENCY = 1.5  # product completion p50 / bare update p50, at concurrency 1
EVENTS = 35  # history events per product process


def ratios(runs: list[Run]) -> dict[str, float]:
    """Product (c) over bare (a): processes/s and completion p50, per concurrency."""
    by = {(r.mode, r.concurrency): r.summary() for r in runs}
    out: dict[str, float] = {}
    for concurrency in sorted({r.concurrency for r in runs}):
        a, c = by.get(("a", concurrency)), by.get(("c", concurrency))
        if not a or not c:
            continue
        if a["processes_per_s"]:
            out[f"processes_per_s c{concurrency}"] = round(
                c["processes_per_s"] / a["processes_per_s"], 3
            )
        if a["complete_p50_ms"]:
            out[f"complete_p50 c{concurrency}"] = round(
                c["complete_p50_ms"] / a["complete_p50_ms"], 3
            )
    return out


def _row(
    key: str, target: str, measured: float | None, limit: float, at_least: bool
) -> dict[str, Any]:
    met = margin = None
    if measured is not None:
        met = measured >= limit if at_least else measured <= limit
        margin = round(abs(measured - limit), 3)
    return {
        "id": key,
        "target": target,
        "measured": measured,
        "limit": limit,
        "met": met,
        "by": margin,
    }


def server_targets(server: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's targets on one dev server, each with what was measured and by how much it
    was met or missed."""
    r = server["ratios"]
    product = server["histories"].get("product")
    return [
        _row(
            "throughput c20",
            f"product/bare processes/s, 20 concurrent ≥ {THROUGHPUT}",
            r.get("processes_per_s c20"),
            THROUGHPUT,
            True,
        ),
        _row(
            "throughput c1",
            f"product/bare processes/s, 1 at a time ≥ {THROUGHPUT}",
            r.get("processes_per_s c1"),
            THROUGHPUT,
            True,
        ),
        _row(
            "latency c1",
            f"completion p50 / bare update p50, 1 at a time ≤ {LATENCY}",
            r.get("complete_p50 c1"),
            LATENCY,
            False,
        ),
        _row(
            "events",
            f"history events per product process ≤ {EVENTS}",
            product["events"] if product else None,
            EVENTS,
            False,
        ),
    ]


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"server": name, **row}
        for name, server in result["servers"].items()
        for row in server_targets(server)
    ]


def _mark(row: dict[str, Any] | None) -> str:
    if row is None or row["met"] is None:
        return "–"
    if row["met"]:
        return f"met (by {row['by']:g})"
    return f"**missed** by {row['by']:g}"


def _run(server: dict[str, Any], mode: str, concurrency: int) -> dict[str, Any]:
    for run in server["runs"]:
        if run["mode"] == mode and run["concurrency"] == concurrency:
            found: dict[str, Any] = run
            return found
    return {}


def _spread(values: list[float], digits: int) -> str:
    """ " (low–high)" over the rounds, when there were several."""
    if len(values) < 2:
        return ""
    return f" ({min(values):.{digits}f}–{max(values):.{digits}f})"


def _per_round(server: dict[str, Any], concurrency: int) -> dict[str, list[float]]:
    """processes/s of each system in each round, and their ratio per round."""
    rounds = server.get("rounds", [])
    out: dict[str, list[float]] = {"a": [], "c": [], "ratio": []}
    for number in sorted({run["round"] for run in rounds}):
        pair = {
            run["mode"]: run["processes_per_s"]
            for run in rounds
            if run["round"] == number and run["concurrency"] == concurrency
        }
        if pair.get("a") and "c" in pair:
            out["a"].append(pair["a"])
            out["c"].append(pair["c"])
            out["ratio"].append(pair["c"] / pair["a"])
    return out


def _cpu(run: dict[str, Any]) -> str:
    cpu = run["cpu_ms_per_process"]
    api = f"{cpu['api']:.0f}" if "api" in cpu else "–"
    return f"{cpu['temporal']:.0f} / {cpu['worker']:.0f} / {api}"


def _cpu_total(run: dict[str, Any]) -> float:
    cpu = run["cpu_ms_per_process"]
    return float(cpu["temporal"] + cpu["worker"] + cpu.get("api", 0))


def server_table(server: dict[str, Any]) -> str:
    """One dev server's table: bare, product, their ratio, the target and by how much."""
    t = {row["id"]: row for row in server_targets(server)}
    lines = [
        "| measurement | bare Temporal | product via HTTP | product / bare | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]

    def row(name: str, cells: list[str], target: str = "", met: str = "") -> None:
        lines.append(f"| {name} | {' | '.join(cells)} | {target} | {met} |")

    for concurrency, label in ((20, "20 concurrent"), (1, "1 at a time")):
        a, c = _run(server, "a", concurrency), _run(server, "c", concurrency)
        if not (a and c):
            continue
        spread = _per_round(server, concurrency)
        rounds = len(spread["ratio"])
        ratio = server["ratios"].get(f"processes_per_s c{concurrency}", 0)
        row(
            f"processes/s, {label} ({a['processes']} each"
            + (f", {rounds} rounds)" if rounds > 1 else ")"),
            [
                f"{a['processes_per_s']:.1f}{_spread(spread['a'], 1)}",
                f"{c['processes_per_s']:.1f}{_spread(spread['c'], 1)}",
                f"{ratio:.2f}{_spread(spread['ratio'], 2)}",
            ],
            f"≥ {THROUGHPUT}",
            _mark(t[f"throughput c{concurrency}"]),
        )
    for concurrency, label in ((1, "1 at a time"), (20, "20 concurrent")):
        a, c = _run(server, "a", concurrency), _run(server, "c", concurrency)
        if not (a and c):
            continue
        row(
            f"start p50 ms, {label} (bare: start; product: `POST /api/processes`)",
            [f"{a['start_p50_ms']:.1f}", f"{c['start_p50_ms']:.1f}", ""],
        )
        ratio = server["ratios"].get(f"complete_p50 c{concurrency}", 0)
        row(
            f"completion p50 / p95 ms, {label} (bare: update; product: `POST …/complete`)",
            [
                f"{a['complete_p50_ms']:.1f} / {a['complete_p95_ms']:.1f}",
                f"{c['complete_p50_ms']:.1f} / {c['complete_p95_ms']:.1f}",
                f"{ratio:.2f}× (p50)",
            ],
            f"≤ {LATENCY}×" if concurrency == 1 else "",
            _mark(t["latency c1"]) if concurrency == 1 else "",
        )
    shapes = server["histories"]
    if "bare" in shapes and "product" in shapes:
        bare, product = shapes["bare"]["events"], shapes["product"]["events"]
        row(
            "history events per process",
            [f"{bare:g}", f"{product:g}", f"{product / bare:.2f}×" if bare else ""],
            f"≤ {EVENTS}",
            _mark(t["events"]),
        )
    for concurrency, label in ((20, "20 concurrent"), (1, "1 at a time")):
        a, c = _run(server, "a", concurrency), _run(server, "c", concurrency)
        if not (a and c):
            continue
        total_a = _cpu_total(a)
        row(
            f"CPU ms per process, {label}: Temporal / worker / API",
            [_cpu(a), _cpu(c), f"{_cpu_total(c) / total_a:.2f}× (sum)" if total_a else ""],
        )
    return "\n".join(lines)


def markdown_table(result: dict[str, Any]) -> str:
    """Every server's table (what `make bench` prints)."""
    parts = []
    for server in result["servers"].values():
        parts += [f"### {server['server']} dev server", "", server_table(server), ""]
    return "\n".join(parts).rstrip()


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    setup = result["setup"]
    lines = [
        "# Partnerflow benchmark: latest run",
        "",
        f"- date: {result['date']}, runtime {result['runtime_s']:.0f} s, commit "
        f"{machine.get('commit', '?')}",
        f"- command: `{result['command']}`",
        f"- machine: {machine['nproc']} CPUs, {machine['memory_gb']} GB, Python "
        f"{machine['python']}, temporalio {machine['temporalio']}, {machine['platform']}; "
        f"load average (1 min) at start / end: {machine['load_average_start_end']}",
        f"- Temporal: dev server ({setup['temporal']}), one per server mode, in memory and "
        f"file-backed (`--db-filename`, as `make up`); database: {setup['database']}",
        f"- API: {setup['api']}; workers: {setup['workers']}; driver: {setup['driver']}",
        "- bare Temporal (`bench/bare.py`), issue 17's baseline: a plain start, then three "
        "updates, each running one activity (three activities in all; earlier runs mirrored "
        "the product's ten). product via HTTP: `POST /api/processes` on a three-step template "
        "(contact, partner with hand-over e-mail, contact), then three "
        "`POST …/steps/{key}/complete` (the partner's with the partner's token). A process "
        "counts as done when its workflow has closed. The two alternate within every round, "
        "first at 20 concurrent, then 1 at a time.",
        "- CPU ms per process: CPU time the Temporal dev server, the worker and the API used "
        "during the runs, divided by the processes (the bare baseline has no API; the "
        "driver's own is in latest.json). Ranges in parentheses: the rounds' lowest and "
        "highest.",
        "",
        markdown_table(result),
        "",
        "## Targets",
        "",
        "| server | target | measured | met |",
        "|---|---|---:|---|",
    ]
    for row in result["targets"]:
        lines.append(f"| {row['server']} | {row['target']} | {row['measured']} | {_mark(row)} |")
    if result.get("insight"):
        lines += ["", "## Scorecard (bench/insight.py)", "", insight.table(result["insight"])]
    for server in result["servers"].values():
        lines += ["", f"## {server['server']} dev server: details", ""]
        for key, shape in server["histories"].items():
            lines.append(
                f"- {key}: {shape['events']} events per process "
                f"({shape['events_min_max'][0]}–{shape['events_min_max'][1]} over "
                f"{shape['processes']}), {shape['workflow_tasks']} workflow tasks, "
                f"{shape['bytes']} B, activities {shape['activities']}"
            )
        emails = server["api_emails_in_outbox"]
        lines.append(
            f"- e-mails in the outbox for the {emails['processes']} processes started "
            f"through the API: {emails['emails']}"
        )
        lines += _requests(server)
        if server.get("ablations"):
            lines += _ablations(server)
        if server.get("gaps"):
            lines += _gaps(server)
        if server.get("profile"):
            lines += _profile(server["profile"])
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"


def _requests(server: dict[str, Any], top: int = 14) -> list[str]:
    """What the Temporal server did per process at concurrency 20: the largest differences."""
    a, c = _run(server, "a", 20), _run(server, "c", 20)
    if not (a and c):
        return []
    counts = [
        a.get("temporal_requests_per_process", {}),
        c.get("temporal_requests_per_process", {}),
    ]
    keys = set().union(*counts)
    ranked = sorted(keys, key=lambda k: abs(counts[1].get(k, 0) - counts[0].get(k, 0)))
    lines = [
        "",
        "### Temporal server requests per process, 20 concurrent (largest differences)",
        "",
        "| request (rpc = API call, db = persistence call; service, operation) | bare | product |",
        "|---|---:|---:|",
    ]
    for key in reversed(ranked[-top:]):
        lines.append(f"| {key} | " + " | ".join(f"{n.get(key, 0):.2f}" for n in counts) + " |")
    totals = [sum(v for k, v in n.items() if k.startswith("db ")) for n in counts]
    lines.append("| all persistence calls | " + " | ".join(f"{t:.1f}" for t in totals) + " |")
    return lines


def _ablations(server: dict[str, Any]) -> list[str]:
    a = _run(server, "a", 20)
    lines = [
        "",
        "### Ablation: the baseline plus what the product asks of Temporal (20 concurrent)",
        "",
        "| run | processes/s | CPU ms per process: Temporal + worker |",
        "|---|---:|---:|",
    ]
    for run in [a, *server["ablations"]]:
        cpu = run["cpu_ms_per_process"]
        name = "bare" if run["mode"] == "a" else run["mode"].replace("a + ", "bare + ")
        lines.append(
            f"| {name} | {run['processes_per_s']:.1f} | "
            f"{cpu['temporal']:.0f} + {cpu['worker']:.0f} |"
        )
    return lines


def _gaps(server: dict[str, Any]) -> list[str]:
    a, c = _run(server, "a", 1), _run(server, "c", 1)
    lines = [
        "",
        "### A completion's latency and the pause before it (1 at a time, p50 / p95 ms)",
        "",
        "| pause before each completion | bare update | product via HTTP |",
        "|---|---:|---:|",
        f"| none | {a['complete_p50_ms']} / {a['complete_p95_ms']} | "
        f"{c['complete_p50_ms']} / {c['complete_p95_ms']} |",
    ]
    by_pause: dict[str, dict[str, str]] = {}
    for run in server["gaps"]:
        mode, _, pause = run["mode"].partition(", ")
        by_pause.setdefault(pause.split(" before")[0], {})[mode] = (
            f"{run['complete_p50_ms']} / {run['complete_p95_ms']}"
        )
    for pause, cells in by_pause.items():
        lines.append(f"| {pause} | {cells.get('a', '')} | {cells.get('c', '')} |")
    return lines


def _profile(profile: dict[str, Any]) -> list[str]:
    run = profile["run"]
    lines = [
        "",
        f"### Profile: the product once more, {run['processes']} processes at 20 concurrent, "
        "worker and API under cProfile (CPU time of every Python thread)",
        "",
        f"Under the profiler: {run['processes_per_s']} processes/s, CPU ms per process "
        f"{run['cpu_ms_per_process']}. Own CPU time by area (share of the profiled time; the "
        "Rust core of the Temporal SDK is not in it):",
        "",
    ]
    for component in ("worker", "api"):
        summary = profile[component]
        areas = ", ".join(f"{area} {share}%" for area, share in list(summary["areas"].items())[:10])
        lines.append(f"- {component} ({summary['cpu_s']} s profiled): {areas}")
        if summary.get("stdlib_other"):
            detail = ", ".join(f"{m} {share}%" for m, share in summary["stdlib_other"].items())
            lines.append(f"  - of which standard library (other): {detail}")
    for component in ("worker", "api"):
        summary = profile[component]
        lines += [
            "",
            f"{component}: most own time (s), then most total time in Partnerflow code:",
            "",
        ]
        lines += [f"    {seconds:8.3f}  {name}" for name, seconds in summary["top_own"][:10]]
        lines.append("")
        lines += [
            f"    {seconds:8.3f}  {name}"
            for name, seconds in summary["top_cumulative_partnerflow"][:10]
        ]
    return lines


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (out / "latest.md").write_text(markdown(result))


def main() -> None:
    """`python -m bench.report [DIR]`: latest.md again from latest.json (after editing NOTES.md)."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results"
    result = json.loads((out / "latest.json").read_text())
    (out / "latest.md").write_text(markdown(result))
    print(markdown_table(result))


if __name__ == "__main__":
    main()
