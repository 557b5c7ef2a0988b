"""How long certification takes against an emulator whose reimage takes time (issue 13's bounds).

python benchmarks/reimage_time.py [--repeat N] [--smoke] [--output FILE]

Starts the project's emulator in its own process (`batch-conformance emulator --port 0 --reimage-seconds S`), then
times `batch-conformance run --target URL --disposable --profile standard` as a user types it (a fresh interpreter,
the inventory discovered), for S = 0 and 0.3 (N times each) and S = 5 (once). Bounds: the run at 0.3 s takes at
most 2x the run at 0 s; the run at 5 s at most 10 minutes. Writes benchmarks/results/reimage-time.json.
--smoke: the quick profile, S = 0 and 0.3 once (checks the script works; its figures mean little).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/reimage_time.py` from anywhere: the repo's benchmarks package

from benchmarks.emulator_process import emulator_process  # noqa: E402
from benchmarks.run import ForeignLoad, machine  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "reimage-time.json"
RATIO_BOUND, SLOW_BOUND_S = 2.0, 600.0


def one_run(reimage_seconds: float, profile: str) -> dict[str, Any]:
    """One `batch-conformance run --disposable` against a fresh emulator: wall time, verdict, reimages."""
    binary = Path(sys.executable).parent / "batch-conformance"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "conformance.cli"]
    with tempfile.TemporaryDirectory() as tmp, emulator_process("--reimage-seconds", str(reimage_seconds)) as url:
        started = time.perf_counter()
        done = subprocess.run([*command, "run", "-q", "--target", url, "--disposable", "--profile", profile,
                               "--report-dir", tmp], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        results = json.loads((Path(tmp) / "results.json").read_text())
    reimages = results.get("reimages", {})
    spans = [high for entry in reimages.values() for _, high in entry["seconds"] if high is not None]
    return {"reimage_seconds": reimage_seconds, "wall_s": round(wall, 2), "exit": done.returncode,
            "verdict": results["verdict"], "reimages": sum(e["reimages"] for e in reimages.values()),
            "nodes": len(reimages), "measured_at_most_median_s": round(statistics.median(spans), 3) if spans else None,
            "undecided": [rid for rid, r in results["requirements"].items() if r["status"] == "undecided"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    profile, repeat = ("quick", 1) if args.smoke else ("standard", args.repeat)
    plan = [(0.0, repeat), (0.3, repeat)] + ([] if args.smoke else [(5.0, 1)])
    facts, foreign = machine(), ForeignLoad()
    runs: list[dict[str, Any]] = []
    for seconds, n in plan:
        for i in range(n):
            runs.append(one_run(seconds, profile))
            row = runs[-1]
            print(f"--reimage-seconds {seconds:g} #{i + 1}: {row['wall_s']} s, verdict {row['verdict']}, "
                  f"{row['reimages']} reimages on {row['nodes']} nodes", file=sys.stderr, flush=True)
    median = {s: statistics.median(r["wall_s"] for r in runs if r["reimage_seconds"] == s) for s, _ in plan}
    ratio = median[0.3] / median[0.0]
    bounds = {"ratio_0.3_over_0": round(ratio, 2), "ratio_within_2x": ratio <= RATIO_BOUND}
    if 5.0 in median:
        bounds |= {"wall_5s_s": median[5.0], "within_10_minutes": median[5.0] <= SLOW_BOUND_S}
    facts["foreign_cpu_share"] = foreign.share()
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "smoke": args.smoke, "profile": profile,
              "machine": facts, "runs": runs, "median_wall_s": {str(k): v for k, v in median.items()},
              "bounds": bounds}
    for seconds, value in median.items():
        print(f"--reimage-seconds {seconds:<4g} median {value:7.2f} s")
    print(json.dumps(bounds))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
