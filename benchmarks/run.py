"""How fast a certification run is, against the physical limits and against plain Schemathesis.

python benchmarks/run.py [--repeat N] [--smoke] [--output FILE] [--no-faults]
Prints a table of medians and spreads plus ratios, and writes benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/run.py` from anywhere: the repo's benchmarks package

from benchmarks import limits, parallel, schemathesis_baseline, suite_runs  # noqa: E402
from benchmarks.emulator_process import emulator_process  # noqa: E402
from benchmarks.limits import Timed  # noqa: E402
from conformance.emulator import EmbeddedEmulator  # noqa: E402
from conformance.emulator.faults import catalogue as faults  # noqa: E402
from conformance.inventory import default_inventory  # noqa: E402
from conformance.run.parallel import cores  # noqa: E402
from conformance.spec import default_version  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "latest.json"
PACKAGES = ("batch-conformance", "hypothesis", "schemathesis", "pytest", "pytest-html", "requests", "urllib3",
            "uvicorn", "httptools")


@dataclass(frozen=True)
class Sizes:
    """How much each measurement does (full run, or --smoke)."""

    profiles: tuple[str, ...]
    suite_args: tuple[str, ...]  # added to every in-process suite run
    warm_up: bool
    thorough_repeat: int
    cli_args: tuple[str, ...]
    generate: int
    pregenerate: int
    send_rounds: int
    emulator_requests: int
    st_api_per_mode: int
    st_cli_examples: int
    faults: int | None  # None: every fault of the catalogue
    parallel_args: tuple[str, ...] = ()  # the run measured serial and on one worker per core, from the CLI
    thorough_args: tuple[str, ...] | None = None  # the run measured serial and on two workers (None: not measured)
    st_best_examples: int = 0  # `st run -n` for Schemathesis's CLI on one worker per core


FULL = Sizes(("quick", "standard", "thorough"), (), True, 1, ("--profile", "standard"), 1000, 1000, 3, 3000, 150,
             100, None, ("--profile", "standard"), ("--profile", "thorough"), 1000)
SMOKE = Sizes(("quick",), ("--only", "SEM-ACCEPT", "--only", "ERR-BODY-SCHEMA"), False, 1,
              ("--profile", "quick", "--only", "SEM-ACCEPT"), 30, 30, 1, 60, 4, 2, 2,
              ("--profile", "quick", "--only", "SEM-ACCEPT", "--only", "SEM-BAD-BODY", "--no-schemathesis"), None, 2)


# --- statistics ----------------------------------------------------------------------------------------
def figure(samples: list[float], unit: str, *, count: int | None = None, note: str = "") -> dict[str, Any]:
    """Median, min, max and relative spread ((max - min) / median) of the samples."""
    med = statistics.median(samples)
    out: dict[str, Any] = {"unit": unit, "median": med, "min": min(samples), "max": max(samples),
                           "spread": (max(samples) - min(samples)) / med if med else 0.0, "samples": samples}
    if count is not None:
        out["count"] = count
    if note:
        out["note"] = note
    return out


def rates(runs: list[Timed], unit: str, note: str = "") -> dict[str, Any]:
    """A per-second figure from timed runs (count is the median count per run)."""
    return figure([r.rate for r in runs], unit, count=int(statistics.median(r.count for r in runs)), note=note)


def repeat(n: int, fn: Callable[[], Timed]) -> list[Timed]:
    """Run fn n times."""
    return [fn() for _ in range(n)]


# --- machine -------------------------------------------------------------------------------------------
def _cpuinfo(key: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    """Where the figures came from."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0") if Path("/proc/meminfo").exists() else "0"
    return {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "cpu_model": _cpuinfo("model name"), "cpu_mhz": _cpuinfo("cpu MHz"),
            "memory_gib": round(int(mem) / 2**20, 1), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(),
            "loadavg_at_start": list(os.getloadavg()), "packages": versions,
            "git_commit": _git("rev-parse", "HEAD"), "git_dirty": bool(_git("status", "--porcelain", "conformance"))}


def _busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (from /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class ForeignLoad:
    """How much of the machine other processes used while we measured (a busy machine skews every figure)."""

    def __init__(self) -> None:
        self.started, self.busy, self.own = time.perf_counter(), _busy_seconds(), _own_seconds()

    def share(self) -> float:
        """Other processes' CPU time as a share of all CPUs over the run (0 = a quiet machine)."""
        wall = time.perf_counter() - self.started
        foreign = (_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        return max(foreign, 0.0) / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0


# --- the measurements ----------------------------------------------------------------------------------
def measure_suite(sizes: Sizes, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """(a) our suite's requests/s per profile, in-process `batch-conformance run`, counted at the target."""
    if sizes.warm_up:  # imports and the first pytest start-up are paid once, not by the first profile measured
        suite_runs.run_in_process(["--profile", "quick", "--only", "SEM-ACCEPT"])
    out: dict[str, Any] = {}
    for profile in sizes.profiles:
        reps = sizes.thorough_repeat if profile == "thorough" else n
        runs = [suite_runs.run_in_process(["--profile", profile, *sizes.suite_args]) for _ in range(reps)]
        bad = [r for r in runs if r.verdict != "pass"]
        if bad:
            raise RuntimeError(f"--profile {profile} against the correct emulator: verdict {bad[0].verdict}")
        out[f"suite.{profile}"] = rates([r.timed for r in runs], "requests/s",
                                        note="in-process batch-conformance run (pytest, spec-driven layer, reports)")
        out[f"suite.{profile}.seconds"] = figure([r.timed.seconds for r in runs], "s", count=runs[0].timed.count)
        log(f"suite --profile {profile}: {out[f'suite.{profile}']['median']:.0f} requests/s")
    profile = reference_profile(sizes)
    out["breakdown"] = suite_runs.breakdown(["--profile", profile, *sizes.suite_args]) | {"profile": profile}
    return out


def reference_profile(sizes: Sizes) -> str:
    """The profile the ratios and the breakdown are about: standard, or the only one measured."""
    return "standard" if "standard" in sizes.profiles else sizes.profiles[0]


def measure_limits(sizes: Sizes, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """(b) Schemathesis, (c) raw limits and (d) the emulator alone, all against one embedded emulator."""
    inventory, version = default_inventory(), default_version()
    out: dict[str, Any] = {}
    mix = limits.pregenerate(inventory, version, sizes.pregenerate)
    wire = mix * sizes.send_rounds
    small = [r for r in mix if len(r.body or b"") <= 65536]
    small = (small * (sizes.emulator_requests // max(len(small), 1) + 1))[:sizes.emulator_requests]
    out["mix"] = limits.body_sizes(mix) | {"requests": len(mix)}
    with EmbeddedEmulator(inventory=inventory) as emulator:
        url = emulator.url
        out["schemathesis.python_api"] = rates(repeat(n, lambda: schemathesis_baseline.python_api(
            url, version, sizes.st_api_per_mode)), "cases/s", note="case.call + validate_response, default checks")
        log(f"schemathesis python api: {out['schemathesis.python_api']['median']:.0f} cases/s")
        cli_runs = [schemathesis_baseline.cli(url, version, sizes.st_cli_examples) for _ in range(n)]
        out["schemathesis.cli"] = rates([t for t, _ in cli_runs], "cases/s",
                                        note=f"st run -n {sizes.st_cli_examples}, wall time incl. start-up")
        out["schemathesis.cli"]["last_line"] = cli_runs[-1][1]["last_line"]
        log(f"schemathesis cli: {out['schemathesis.cli']['median']:.0f} cases/s")
        out["limit.generate_only"] = rates(repeat(n, lambda: limits.generate_only(
            inventory, version, sizes.generate)), "draws/s", note="@given(reimage_requests), empty body")
        out["limit.send.http_client"] = rates(repeat(n, lambda: limits.send_http_client(url, wire)), "requests/s")
        out["limit.send.requests"] = rates(repeat(n, lambda: limits.send_requests(url, wire)), "requests/s")
        out["limit.generate_send_validate"] = rates(repeat(n, lambda: limits.generate_send_validate(
            url, inventory, version, sizes.generate)), "cases/s",
            note=f"draw, send (requests), oracle + checks {', '.join(limits.LOOP_CHECKS)}")
        log(f"limits: generate {out['limit.generate_only']['median']:.0f}/s, send "
            f"{out['limit.send.http_client']['median']:.0f}/s, "
            f"g+s+v {out['limit.generate_send_validate']['median']:.0f}/s")
        for threads in (1, 2):
            out[f"emulator.embedded.{threads}_threads"] = rates(
                [limits.send_http_client(url, small, threads=threads) for _ in range(n)], "requests/s",
                note="client threads in the emulator's process (one GIL)")
        workers = cores()
        st_best = [schemathesis_baseline.cli(url, version, sizes.st_best_examples, workers=workers)
                   for _ in range(n)]
        out["schemathesis.cli.workers"] = rates(
            [t for t, _ in st_best], "cases/s",
            note=f"st run -n {sizes.st_best_examples} --workers {workers} (one per core), wall time incl. start-up")
        log(f"schemathesis cli, {workers} workers: {out['schemathesis.cli.workers']['median']:.0f} cases/s")
    with emulator_process() as url:
        for threads in (1, 2):
            out[f"emulator.process.{threads}_threads"] = rates(
                [limits.send_http_client(url, small, threads=threads) for _ in range(n)], "requests/s",
                note="batch-conformance emulator in its own process")
    log(f"emulator: {out['emulator.process.1_threads']['median']:.0f} requests/s in its own process")
    return out


def measure_cli_and_faults(sizes: Sizes, n: int, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Any]]:
    """(e) the full CLI's wall time, and per fault the time to its first failure (quick, --only what it breaks)."""
    walls = [suite_runs.run_subprocess(list(sizes.cli_args))[0] for _ in range(n)]
    out = {"cli.run": figure(walls, "s", note="batch-conformance run " + " ".join(sizes.cli_args)
                             + " as typed (subprocess; --workers auto: one per core for standard and thorough)")}
    log(f"batch-conformance run {' '.join(sizes.cli_args)}: {out['cli.run']['median']:.1f} s")
    rows = []
    # a fault observable only through an SDK release (fault.through) needs that SDK's target: its tests
    # (tests/test_sdk_process.py) catch it; an embedded run here could only report it missed
    embedded = [fault for fault in faults() if fault.through is None]
    for fault in embedded[:sizes.faults]:
        reps = [suite_runs.fault_run(fault, "quick") for _ in range(n)]
        firsts = [r["first_failure_s"] for r in reps if r["first_failure_s"] is not None]
        row = reps[-1] | {"caught": all(r["caught"] for r in reps),
                          "first_failure": figure(firsts, "s") if firsts else None,
                          "run": figure([r["run_s"] for r in reps], "s")}
        for key in ("first_failure_s", "run_s"):
            row.pop(key)
        rows.append(row)
    caught = sum(1 for r in rows if r["caught"])
    sdk_only = [fault.name for fault in faults() if fault.through is not None]
    log(f"faults: {caught}/{len(rows)} caught (left out, observable only through an SDK target: "
        f"{', '.join(sdk_only) or 'none'})")
    return out, rows


def measure_parallel(sizes: Sizes, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """(f) what a user waits for at the command line: --help, the first request, a run serial and on one worker
    per core (requests counted by results.json in every worker), thorough serial and on two workers."""
    workers = cores()
    out: dict[str, Any] = {"cli.help": figure([parallel.help_wall() for _ in range(max(n, 3))], "s",
                                              note="batch-conformance --help")}
    out["cli.first_request"] = figure([parallel.first_request([*sizes.cli_args, "--workers", "1"]) for _ in range(n)],
                                      "s", note="from starting batch-conformance run to its first request (serial)")
    log(f"--help {out['cli.help']['median']:.2f} s; first request after {out['cli.first_request']['median']:.2f} s")
    for label, count in (("serial", 1), ("workers", workers)):
        runs = [parallel.run_cli([*sizes.parallel_args, "--workers", str(count)]) for _ in range(n)]
        note = f"batch-conformance run {' '.join(sizes.parallel_args)} --workers {count} (CLI, wall incl. start-up)"
        out[f"cli.{label}"] = rates([t for t, _ in runs], "requests/s", note=note)
        out[f"cli.{label}.seconds"] = figure([t.seconds for t, _ in runs], "s", count=runs[0][0].count)
        log(f"{note}: {out[f'cli.{label}.seconds']['median']:.1f} s")
    if sizes.thorough_args is not None:
        for label, count in (("serial", 1), ("workers_2", 2)):
            timed, _ = parallel.run_cli([*sizes.thorough_args, "--workers", str(count)])
            out[f"thorough.{label}"] = figure([timed.seconds], "s", count=timed.count,
                                              note=f"batch-conformance run {' '.join(sizes.thorough_args)} "
                                                   f"--workers {count} (CLI, once)")
            log(f"thorough --workers {count}: {timed.seconds:.1f} s")
    return out


# --- ratios, table -------------------------------------------------------------------------------------
def ratios(figures: dict[str, Any], profile: str) -> dict[str, Any]:
    """Ours (the reference profile) against Schemathesis and against each limit, from medians."""
    ours = figures[f"suite.{profile}"]["median"]

    def over(key: str) -> float:
        return ours / figures[key]["median"] if figures[key]["median"] else 0.0
    best = {}
    if "cli.workers" in figures and figures["schemathesis.cli.workers"]["median"]:
        best["ours_workers_over_schemathesis_cli_workers"] = (figures["cli.workers"]["median"]
                                                              / figures["schemathesis.cli.workers"]["median"])
        best["cli_workers_over_serial_wall"] = (figures["cli.workers.seconds"]["median"]
                                                / figures["cli.serial.seconds"]["median"])
    if "thorough.workers_2" in figures:
        best["thorough_workers_2_over_serial_wall"] = (figures["thorough.workers_2"]["median"]
                                                       / figures["thorough.serial"]["median"])
    return {"reference_profile": profile, **best,
            "ours_over_schemathesis_api": over("schemathesis.python_api"),
            "ours_over_schemathesis_cli": over("schemathesis.cli"),
            "ours_over_generate_send_validate": over("limit.generate_send_validate"),
            "ours_over_generate_only": over("limit.generate_only"),
            "ours_over_send_requests": over("limit.send.requests"),
            "ours_over_send_http_client": over("limit.send.http_client")}


def targets(figures: dict[str, Any], ratio: dict[str, Any]) -> dict[str, Any]:
    """The goals: issue 8's (>= 10x Schemathesis's Python API, >= 60% of the hand-written loop, standard run
    < 30 s) and issue 17's (>= 10x Schemathesis's CLI with both on one worker per core, thorough on two workers at
    most 0.6x the serial wall time, `batch-conformance run` (standard) at most 5 s from the command line)."""
    wall = figures.get("cli.run", {}).get("median")
    best = ratio.get("ours_workers_over_schemathesis_cli_workers")
    thorough = ratio.get("thorough_workers_2_over_serial_wall")
    return {"ten_times_schemathesis": ratio["ours_over_schemathesis_api"] >= 10,
            "sixty_percent_of_generate_send_validate": ratio["ours_over_generate_send_validate"] >= 0.6,
            "standard_under_30s": wall is not None and wall < 30,
            "ten_times_schemathesis_cli_both_on_workers": best is not None and best >= 10,
            "thorough_two_workers_at_most_0_6_serial": thorough is not None and thorough <= 0.6,
            "cli_standard_at_most_5s": wall is not None and wall <= 5}


def table(figures: dict[str, Any], ratio: dict[str, Any], fault_rows: list[Any]) -> str:
    """The printed report."""
    lines = [f"{'figure':<34} {'unit':<11} {'median':>9} {'min':>9} {'max':>9} {'spread':>7} {'n':>3} {'count':>7}"]
    for key, f in figures.items():
        if not isinstance(f, dict) or "median" not in f:
            continue
        lines.append(f"{key:<34} {f['unit']:<11} {f['median']:>9.1f} {f['min']:>9.1f} {f['max']:>9.1f} "
                     f"{100 * f['spread']:>6.0f}% {len(f['samples']):>3} {f.get('count', ''):>7}")
    parts = figures.get("breakdown")
    if parts:
        total = parts["seconds"]["total"]
        lines += ["", f"where --profile {parts['profile']} spends its {total:.1f} s ({parts['requests']} requests, "
                      f"{parts['check_calls']} check calls; one run, timing wrappers):"]
        lines += [f"  {k:<56} {v:>6.2f} s {100 * v / total:>5.1f} %" for k, v in parts["seconds"].items()
                  if k != "total"]
    lines.append("")
    lines += [f"{k:<34} {v:>9.2f}" for k, v in ratio.items() if isinstance(v, float)]
    if fault_rows:
        lines += ["", f"{'fault (quick, --only its IDs)':<40} {'caught':<6} {'first fail s':>12} {'reqs':>5} "
                      f"{'run s':>6}"]
        for r in fault_rows:
            first = r["first_failure"]["median"] if r["first_failure"] else float("nan")
            lines.append(f"{r['fault']:<40} {'yes' if r['caught'] else 'NO':<6} {first:>12.3f} "
                         f"{r['requests_to_first_failure'] or '-':>5} {r['run']['median']:>6.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure everything, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measurement (default 3)")
    parser.add_argument("--smoke", action="store_true", help="1 repetition, tiny sizes (checks the script works)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    parser.add_argument("--no-faults", action="store_true", help="skip the time-to-first-failure runs")
    args = parser.parse_args(argv)
    # Schemathesis sends some requests uvicorn cannot parse; its per-request warning is noise here
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    sizes, n = (SMOKE, 1) if args.smoke else (FULL, max(args.repeat, 1))
    if args.no_faults:
        sizes = Sizes(**{**sizes.__dict__, "faults": 0})
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)
    facts = machine()
    foreign = ForeignLoad()
    log(f"{facts['cpu_model']}, {facts['nproc']} CPUs, Python {facts['python']}")
    figures = measure_suite(sizes, n, log)
    figures |= measure_limits(sizes, n, log)
    cli_figures, fault_rows = measure_cli_and_faults(sizes, n, log)
    figures |= cli_figures
    figures |= measure_parallel(sizes, n, log)
    ratio = ratios(figures, reference_profile(sizes))
    facts["loadavg_at_end"] = list(os.getloadavg())
    facts["foreign_cpu_share"] = foreign.share()
    log(f"other processes used {100 * facts['foreign_cpu_share']:.0f} % of the machine's CPU during the run")
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "smoke": args.smoke, "repeat": n,
              "duration_s": time.perf_counter() - started, "machine": facts, "sizes": sizes.__dict__,
              "figures": figures, "ratios": ratio, "targets": targets(figures, ratio), "faults": fault_rows}
    print(table(figures, ratio, fault_rows))
    print(f"\ntargets: {result['targets']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
