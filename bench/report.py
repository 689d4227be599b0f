"""The results: one table (stdout and latest.md), the targets, and latest.json."""

import json
import sys
from pathlib import Path
from typing import Any

from bench.drive import Run

NOTES = Path(__file__).resolve().parent / "NOTES.md"
MODES = ("a", "b", "c")


def ratios(runs: list[Run]) -> dict[str, float]:
    """b/a and c/a of processes/s, and c/a of the completion p50, per concurrency."""
    by = {(r.mode, r.concurrency): r.summary() for r in runs}
    out: dict[str, float] = {}
    for concurrency in sorted({r.concurrency for r in runs}):
        a = by.get(("a", concurrency))
        if not a or not a["processes_per_s"]:
            continue
        for mode in ("b", "c"):
            other = by.get((mode, concurrency))
            if other:
                out[f"{mode}/a processes_per_s c{concurrency}"] = round(
                    other["processes_per_s"] / a["processes_per_s"], 3
                )
                if a["complete_p50_ms"]:
                    out[f"{mode}/a complete_p50 c{concurrency}"] = round(
                        other["complete_p50_ms"] / a["complete_p50_ms"], 3
                    )
    return out


def _run(result: dict[str, Any], mode: str, concurrency: int) -> dict[str, Any]:
    for run in result["runs"]:
        if run["mode"] == mode and run["concurrency"] == concurrency:
            found: dict[str, Any] = run
            return found
    return {}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it was met."""
    r = result["ratios"]
    rows: list[dict[str, Any]] = []

    def add(
        key: str, name: str, measured: float | None, limit: float, higher_is_better: bool
    ) -> None:
        met = None
        if measured is not None:
            met = measured >= limit if higher_is_better else measured <= limit
        rows.append({"id": key, "target": name, "measured": measured, "limit": limit, "met": met})

    add(
        "b/a",
        "b/a processes/s at concurrency 20 ≥ 0.7",
        r.get("b/a processes_per_s c20"),
        0.7,
        True,
    )
    add(
        "c/a",
        "c/a processes/s at concurrency 20 ≥ 0.5",
        r.get("c/a processes_per_s c20"),
        0.5,
        True,
    )
    for concurrency in (1, 20):
        add(
            f"p50 c{concurrency}",
            f"API completion p50 ≤ 2× bare update p50 (concurrency {concurrency}; ratio)",
            r.get(f"c/a complete_p50 c{concurrency}"),
            2.0,
            False,
        )
    scale = result.get("scale")
    n = scale["open_processes"] if scale else 0
    add(
        "rss",
        f"worker peak RSS ≤ 400 MB at {n:,} open processes (MB)",
        scale["worker_peak_rss_mb"] if scale else None,
        400,
        False,
    )
    add(
        "my_tasks",
        f"GET /api/my/tasks p95 ≤ 50 ms, partner with {scale['my_tasks_count'] if scale else 0:,}"
        " open steps (ms)",
        scale["my_tasks_p95_ms"] if scale else None,
        50,
        False,
    )
    return rows


def _mark(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**missed**")


def markdown_table(result: dict[str, Any]) -> str:
    """The one table: throughput and latency of (a), (b), (c), then scale (d), with targets."""
    r = result["ratios"]
    t = {row["id"]: row for row in result.get("targets", [])}
    lines = [
        "| measurement | (a) bare Temporal | (b) workflow via client | (c) product via HTTP "
        "| target | met |",
        "|---|---:|---:|---:|---|---|",
    ]

    def row(name: str, cells: list[str], target: str = "", met: str = "") -> None:
        lines.append(f"| {name} | {' | '.join(cells)} | {target} | {met} |")

    for concurrency in (1, 20):
        runs = [_run(result, m, concurrency) for m in MODES]
        if not all(runs):
            continue
        cells = [f"{runs[0]['processes_per_s']:.1f}"]
        for mode, run in zip(("b", "c"), runs[1:], strict=True):
            ratio = r.get(f"{mode}/a processes_per_s c{concurrency}", 0)
            cells.append(f"{run['processes_per_s']:.1f} ({ratio:.2f}× a)")
        if concurrency == 20:
            met = f"b/a {_mark(t['b/a']['met'])}, c/a {_mark(t['c/a']['met'])}"
            row(
                f"processes/s, concurrency 20 ({runs[0]['processes']} each)",
                cells,
                "b/a ≥ 0.7, c/a ≥ 0.5",
                met,
            )
        else:
            row(f"processes/s, concurrency 1 ({runs[0]['processes']} each)", cells)
        row(
            f"start p50 ms, concurrency {concurrency}",
            [f"{run['start_p50_ms']:.1f}" for run in runs],
        )
        p50 = t.get(f"p50 c{concurrency}")
        row(
            f"completion p50 / p95 ms, concurrency {concurrency}",
            [f"{run['complete_p50_ms']:.1f} / {run['complete_p95_ms']:.1f}" for run in runs],
            "c p50 ≤ 2× a p50",
            f"{_mark(p50['met'])} ({p50['measured']}×)" if p50 else "",
        )
        row(
            f"CPU ms per process, concurrency {concurrency} (Temporal + worker [+ API])",
            [_cpu(run) for run in runs],
        )
    scale = result.get("scale")
    args = result["setup"]["args"]
    if scale:
        n = f"{scale['open_processes']:,}"
        rss = t.get("rss")
        row(
            f"worker peak RSS at {n} open processes (after: now)",
            ["", "", f"{scale['worker_peak_rss_mb']:.0f} MB ({scale['worker_rss_mb_after']:.0f})"],
            "≤ 400 MB",
            _mark(rss["met"]) if rss else "",
        )
        tasks = t.get("my_tasks")
        row(
            f"GET /api/my/tasks p50 / p95 ms, {scale['my_tasks_count']:,} open steps",
            ["", "", f"{scale['my_tasks_p50_ms']:.1f} / {scale['my_tasks_p95_ms']:.1f}"],
            "p95 ≤ 50 ms",
            _mark(tasks["met"]) if tasks else "",
        )
        row(
            f"visibility list p50 / p95 ms ({scale['visibility_rows']:,} rows)",
            [
                f"{scale['visibility_list_p50_ms']:.1f} / {scale['visibility_list_p95_ms']:.1f}",
                "",
                "",
            ],
        )
        row(
            "visibility count p50 / p95 ms",
            [
                f"{scale['visibility_count_p50_ms']:.1f} / {scale['visibility_count_p95_ms']:.1f}",
                "",
                "",
            ],
        )
        row(
            f"opening {n} processes (client, concurrency {args['scale_concurrency']})",
            ["", f"{scale['create_per_s']:.1f}/s ({scale['create_s']:.0f} s)", ""],
        )
    return "\n".join(lines)


def _cpu(run: dict[str, Any]) -> str:
    cpu = run["cpu_ms_per_process"]
    parts = [f"{cpu['temporal']:.0f}", f"{cpu['worker']:.0f}"]
    if "api" in cpu:
        parts.append(f"{cpu['api']:.0f}")
    return " + ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    setup = result["setup"]
    scale = result.get("scale")
    lines = [
        "# Partnerflow benchmark: latest run",
        "",
        f"- date: {result['date']}, runtime {result['runtime_s']:.0f} s",
        f"- command: `{result['command']}`",
        f"- machine: {machine['nproc']} CPUs, {machine['memory_gb']} GB, Python "
        f"{machine['python']}, temporalio {machine['temporalio']}, {machine['platform']}; "
        f"load average (1 min) at start / end: {machine['load_average_start_end']}",
        f"- Temporal: dev server, {setup['temporal_dev_server']}; database: {setup['database']}",
        f"- API: {setup['api']}; workers: {setup['workers']}; driver: {setup['driver']}",
        "- (a) `bench/bare.py`: update-with-start + 3 `complete` updates, one `record` activity "
        "per transition, the product's e-mail and notice activities as no-op `side` activities "
        "(same count, same order); (b) `PartnerProcessWorkflow`, three-step template "
        "(contact, partner, contact), driven by the client with `await_recorded` + 3 "
        "`complete_step` updates; (c) `POST /api/processes` + 3 "
        "`POST …/steps/{key}/complete` (the partner's with the partner's token). A process "
        "counts as done when its workflow has closed (all its e-mails are in the outbox).",
        "",
        markdown_table(result),
        "",
        "CPU ms per process: CPU time the Temporal dev server and the worker (and the API) "
        "used during the run, divided by the processes; the driver's own is in latest.json.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---:|---|",
    ]
    for row in result["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {_mark(row['met'])} |")
    lines += ["", "## Histories per process", ""]
    for key, shape in result["histories"].items():
        lines.append(
            f"- ({key}) {shape['events']} events, {shape['workflow_tasks']} workflow tasks, "
            f"activities {shape['activities']}"
        )
    emails = result["api_emails_in_outbox"]
    lines.append(
        f"- e-mails in the outbox for the {emails['processes']} processes started through the "
        f"API: {emails['emails']}"
    )
    if scale:
        lines += [
            "",
            "## Scale",
            "",
            f"- {scale['open_processes']:,} open processes (one partner step each, deadline "
            f"P30D: a durable timer), {scale['partner_open_steps']:,} of them one partner's",
            f"- visibility query: `{scale['visibility_query']}`; visible "
            f"{scale['visibility_lag_s']} s after the e-mails were out",
        ]
    lines += ["", "## Where the time goes", ""]
    lines += _breakdown(result)
    lines += _gaps(result)
    lines += _requests(result)
    if result.get("ablations"):
        lines += _ablations(result)
    if result.get("profile"):
        lines += _profile(result["profile"])
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"


def _breakdown(result: dict[str, Any]) -> list[str]:
    """From this run's numbers: what (b) adds to (a), and what (c) adds to (b)."""
    lines = []
    for concurrency in (1, 20):
        a, b, c = (_run(result, m, concurrency) for m in MODES)
        if not (a and b and c):
            continue
        lines.append(
            f"- concurrency {concurrency}: a completion takes {a['complete_p50_ms']} ms (p50) "
            f"bare; the workflow adds {b['complete_p50_ms'] - a['complete_p50_ms']:.1f} ms, "
            f"the API {c['complete_p50_ms'] - b['complete_p50_ms']:.1f} ms. CPU per process: "
            f"Temporal {a['cpu_ms_per_process']['temporal']} → "
            f"{b['cpu_ms_per_process']['temporal']} → {c['cpu_ms_per_process']['temporal']} ms, "
            f"worker {a['cpu_ms_per_process']['worker']} → "
            f"{b['cpu_ms_per_process']['worker']} → {c['cpu_ms_per_process']['worker']} ms, "
            f"API {c['cpu_ms_per_process'].get('api', 0)} ms, driver "
            f"{a['cpu_ms_per_process']['driver']} → {b['cpu_ms_per_process']['driver']} → "
            f"{c['cpu_ms_per_process']['driver']} ms."
        )
    return lines


def _gaps(result: dict[str, Any]) -> list[str]:
    gaps = result.get("gaps") or []
    if not gaps:
        return []
    a, b, c = (_run(result, m, 1) for m in MODES)
    lines = [
        "",
        "### A completion's latency and the pause before it (concurrency 1, p50 / p95 ms)",
        "",
        "| pause before each completion | (a) bare update | (b) workflow update | (c) API |",
        "|---|---:|---:|---:|",
        f"| none (the main runs; the API's own work before its update is a few ms) | "
        f"{a['complete_p50_ms']} / {a['complete_p95_ms']} | "
        f"{b['complete_p50_ms']} / {b['complete_p95_ms']} | "
        f"{c['complete_p50_ms']} / {c['complete_p95_ms']} |",
    ]
    by_pause: dict[str, dict[str, str]] = {}
    for run in gaps:
        mode, _, pause = run["mode"].partition(", ")
        by_pause.setdefault(pause.split(" before")[0], {})[mode] = (
            f"{run['complete_p50_ms']} / {run['complete_p95_ms']}"
        )
    for pause, cells in by_pause.items():
        lines.append(f"| {pause} | {cells.get('a', '')} | {cells.get('b', '')} | |")
    return lines


def _requests(result: dict[str, Any], top: int = 14) -> list[str]:
    """What the Temporal server did per process at concurrency 20: the largest differences."""
    runs = [_run(result, m, 20) for m in MODES]
    if not all(runs):
        return []
    counts = [run.get("temporal_requests_per_process", {}) for run in runs]
    keys = set().union(*counts)
    ranked = sorted(
        keys,
        key=lambda k: max(abs(c.get(k, 0) - counts[0].get(k, 0)) for c in counts[1:]),
        reverse=True,
    )[:top]
    lines = [
        "",
        "### Temporal server requests per process, concurrency 20 (largest differences to (a))",
        "",
        "| request (rpc = API call, db = persistence call; service, operation) | (a) | (b) | (c) |",
        "|---|---:|---:|---:|",
    ]
    for key in ranked:
        lines.append(f"| {key} | " + " | ".join(f"{c.get(key, 0):.2f}" for c in counts) + " |")
    totals = [sum(v for k, v in c.items() if k.startswith("db ")) for c in counts]
    lines.append("| all persistence calls | " + " | ".join(f"{t:.1f}" for t in totals) + " |")
    return lines


def _ablations(result: dict[str, Any]) -> list[str]:
    a, b = _run(result, "a", 20), _run(result, "b", 20)
    lines = [
        "",
        "### Ablation: (a) plus what the product asks of Temporal (concurrency 20)",
        "",
        "| run | processes/s | CPU ms per process: Temporal + worker |",
        "|---|---:|---:|",
    ]
    for run in [a, *result["ablations"], b]:
        cpu = run["cpu_ms_per_process"]
        name = {"a": "(a) bare", "b": "(b) PartnerProcessWorkflow"}.get(run["mode"], run["mode"])
        per_s = run["processes_per_s"]
        lines.append(f"| {name} | {per_s:.1f} | {cpu['temporal']:.0f} + {cpu['worker']:.0f} |")
    return lines


def _profile(profile: dict[str, Any]) -> list[str]:
    run = profile["run"]
    lines = [
        "",
        f"### Profile: (c) once more, {run['processes']} processes at concurrency 20, worker "
        "and API under cProfile (CPU time of every Python thread)",
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
