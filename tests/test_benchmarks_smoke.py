"""The benchmark script runs end to end (tiny sizes) and writes the figures a reader of its JSON relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # every benchmark at tiny sizes in a subprocess: about 7 s
def test_benchmark_smoke_run_writes_every_figure_and_machine_fact(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--output", str(output)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(output.read_text())
    assert result["smoke"] is True
    assert {"nproc", "cpu_model", "python", "packages"} <= set(result["machine"])
    figures = result["figures"]
    for key in ("suite.quick", "schemathesis.python_api", "schemathesis.cli", "limit.generate_only",
                "limit.send.http_client", "limit.send.requests", "limit.generate_send_validate",
                "emulator.embedded.1_threads", "emulator.embedded.2_threads", "emulator.process.1_threads",
                "emulator.process.2_threads", "schemathesis.cli.workers", "cli.serial", "cli.workers"):
        assert figures[key]["median"] > 0 and figures[key]["count"] > 0, key
    for key in ("cli.run", "cli.help", "cli.first_request", "cli.serial.seconds", "cli.workers.seconds"):
        assert figures[key]["unit"] == "s" and figures[key]["median"] > 0, key
    assert {"ours_workers_over_schemathesis_cli_workers", "cli_workers_over_serial_wall"} <= set(result["ratios"])
    assert {"ten_times_schemathesis_cli_both_on_workers", "cli_standard_at_most_5s"} <= set(result["targets"])
    assert set(result["ratios"]) >= {"ours_over_schemathesis_api", "ours_over_generate_send_validate",
                                     "ours_over_send_http_client", "ours_over_generate_only"}
    assert result["faults"] and all(row["caught"] and row["first_failure"] for row in result["faults"])
    assert "suite.quick" in done.stdout and "ours_over_schemathesis_api" in done.stdout


@pytest.mark.slow  # emulators in their own processes and quick runs at 100 and 1,000 nodes: about 10 s
def test_discovery_benchmark_smoke_run_writes_rows_per_size(tmp_path: Path) -> None:
    output = tmp_path / "discovery.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "discovery.py"), "--smoke", "--output",
                           str(output)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(output.read_text())
    assert [r["nodes"] for r in result["rows"]] == [100, 1000]
    assert all(r["pages"] >= 11 and r["run_s"]["median"] > 0 and r["run_peak_rss_mib"]["median"] > 0
               for r in result["rows"])
    assert set(result["per_extra_node"]) == {"discovery_s", "run_s", "discovery_peak_mib", "run_peak_rss_mib"}


@pytest.mark.slow  # two runs of the suite as typed against the emulator in its own process: about 10 s
def test_reimage_time_benchmark_smoke_run_writes_each_run_and_the_bounds(tmp_path: Path) -> None:
    output = tmp_path / "reimage.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reimage_time.py"), "--smoke", "--output",
                           str(output)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(output.read_text())
    assert [run["reimage_seconds"] for run in result["runs"]] == [0.0, 0.3]
    assert all(run["reimages"] > 0 and run["wall_s"] > 0 for run in result["runs"])
    assert {"ratio_0.3_over_0", "ratio_within_2x"} <= set(result["bounds"]) and "foreign_cpu_share" in result["machine"]
