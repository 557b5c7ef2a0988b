"""How a run's cost grows with the target's size: discovery, and discovery plus a quick run, at 1,000 / 10,000 /
100,000 nodes (issue 14: it grew with the square of the node count).

python benchmarks/discovery.py [--nodes 1000 10000 100000] [--repeat 3] [--smoke] [--output FILE]

For each size, an inventory of 10 pools (half cloudServiceConfiguration, half virtualMachineConfiguration;
live-length node IDs; idle, running, starting and offline nodes) is served by `batch-conformance emulator` in
its own process, which pages List Pools and List Nodes by 1,000 as the service does. Measured:
- discovery: `discover_inventory` in this process (every page followed): seconds, pages, and the peak of
  Python memory (tracemalloc, one extra run);
- discovery + quick run: `batch-conformance run --profile quick --target URL` as a user types it (a fresh
  interpreter, no inventory file): wall seconds and the process's peak resident memory (wait4).
Then, per figure, the cost per extra node between sizes: a linear cost keeps it flat, a quadratic one
multiplies it by ten from one size to the next.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/discovery.py` from anywhere: the repo's benchmarks package

from benchmarks.emulator_process import emulator_process  # noqa: E402
from benchmarks.run import ForeignLoad, machine  # noqa: E402
from conformance.run.discovery import discover_inventory  # noqa: E402
from conformance.spec import default_version  # noqa: E402
from conformance.targets.http import HttpTarget  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "discovery.json"
SIZES = (1_000, 10_000, 100_000)
POOLS = 10
STATES = ("idle", "running", "starting", "offline")


def inventory(nodes: int) -> dict[str, Any]:
    """`nodes` nodes over POOLS pools, IDs as long as live ones (tvmps_<64 hex>_d)."""
    per = nodes // POOLS
    return {"pools": [{"id": f"pool-{p}", "configuration": ("cloudServiceConfiguration" if p % 2 == 0
                                                            else "virtualMachineConfiguration"),
                       "nodes": [{"id": f"tvmps_{p * per + i:064x}_d", "state": STATES[i % len(STATES)]}
                                 for i in range(per)]} for p in range(POOLS)]}


def time_discovery(url: str) -> tuple[float, int, int]:
    """Seconds, requests and nodes of one discovery."""
    target = HttpTarget(url)
    started = time.perf_counter()
    found = discover_inventory(target, default_version())
    seconds = time.perf_counter() - started
    target.close()
    return seconds, target.sent, sum(len(p.nodes) for p in found.pools)


def discovery_peak(url: str) -> int:
    """Peak bytes of Python memory one discovery holds (tracemalloc)."""
    tracemalloc.start()
    time_discovery(url)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def quick_run(url: str) -> tuple[float, int, int]:
    """Wall seconds, peak resident bytes and exit code of `batch-conformance run --profile quick` (discovery)."""
    binary = Path(sys.executable).parent / "batch-conformance"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "conformance.cli"]
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        proc = subprocess.Popen([*command, "run", "-q", "--profile", "quick", "--target", url,
                                 "--report-dir", reports], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def median(samples: list[float]) -> dict[str, Any]:
    """Median, min, max of the samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}


def measure(nodes: int, repeat: int, log: Any) -> dict[str, Any]:
    """Every figure for one size."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.json"
        path.write_text(json.dumps(inventory(nodes)))
        with emulator_process("--inventory", str(path)) as url:
            time_discovery(url)  # warm: the emulator's first pages and our imports are not charged
            found = [time_discovery(url) for _ in range(repeat)]
            peak = discovery_peak(url)
            runs = [quick_run(url) for _ in range(repeat)]
    bad = [code for _, _, code in runs if code not in (0, 3)]  # 3: incomplete (discovered nodes are not expendable)
    if bad or found[0][2] != nodes:
        raise RuntimeError(f"{nodes} nodes: discovered {found[0][2]}, run exit codes {[c for _, _, c in runs]}")
    row = {"nodes": nodes, "pages": found[0][1], "discovery_s": median([s for s, _, _ in found]),
           "discovery_peak_mib": peak / 2**20, "run_s": median([s for s, _, _ in runs]),
           "run_peak_rss_mib": median([r / 2**20 for _, r, _ in runs])}
    log(f"{nodes:>7,} nodes: discovery {row['discovery_s']['median']:.2f} s ({row['pages']} requests, peak "
        f"{row['discovery_peak_mib']:.0f} MiB); discovery + quick run {row['run_s']['median']:.1f} s, "
        f"{row['run_peak_rss_mib']['median']:.0f} MiB resident")
    return row


def per_node(rows: list[dict[str, Any]], key: str) -> list[float]:
    """Microseconds (or KiB) per extra node between consecutive sizes: flat when the cost is linear."""
    out = []
    for small, big in itertools.pairwise(rows):
        a = small[key]["median"] if isinstance(small[key], dict) else small[key]
        b = big[key]["median"] if isinstance(big[key], dict) else big[key]
        scale = 1e6 if key.endswith("_s") else 1024
        out.append((b - a) * scale / (big["nodes"] - small["nodes"]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=list(SIZES), help="sizes to measure")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measurement (default 3)")
    parser.add_argument("--smoke", action="store_true", help="100 and 1,000 nodes, once (checks the script works)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)
    sizes, repeat = ([100, 1_000], 1) if args.smoke else (sorted(args.nodes), max(args.repeat, 1))
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)
    facts, foreign = machine(), ForeignLoad()
    rows = [measure(n, repeat, log) for n in sizes]
    facts["foreign_cpu_share"] = foreign.share()
    growth = {key: per_node(rows, key) for key in ("discovery_s", "run_s", "discovery_peak_mib",
                                                      "run_peak_rss_mib")}
    print(f"{'nodes':>8} {'pages':>6} {'discovery s':>12} {'peak MiB':>9} {'run s':>7} {'RSS MiB':>8}")
    for r in rows:
        print(f"{r['nodes']:>8,} {r['pages']:>6} {r['discovery_s']['median']:>12.3f} {r['discovery_peak_mib']:>9.1f} "
              f"{r['run_s']['median']:>7.2f} {r['run_peak_rss_mib']['median']:>8.0f}")
    print("per extra node between sizes (flat = linear): " + "; ".join(
        f"{k} {', '.join(f'{v:.1f}' for v in vs)}" for k, vs in growth.items()))
    print(f"other processes used {100 * facts['foreign_cpu_share']:.0f} % of the machine's CPU")
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "smoke": args.smoke, "repeat": repeat,
              "machine": facts, "rows": rows, "per_extra_node": growth,
              "units": {"discovery_s": "us/node", "run_s": "us/node", "discovery_peak_mib": "KiB/node",
                        "run_peak_rss_mib": "KiB/node"}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
