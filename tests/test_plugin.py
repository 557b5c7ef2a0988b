"""The pytest plugin as other people's pytest runs see it: namespaced options, the suite by --pyargs."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.run.command import add_arguments, pytest_args
from conformance.run.plugin import OPTIONS


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a fresh interpreter in a directory of its own: the plugin is loaded by its pytest11 entry point, as in
    # any project where the package is installed
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def _group_options(help_text: str, group: str) -> set[str]:
    """The flags listed under one option group of `pytest --help`."""
    lines = help_text.splitlines()
    start = lines.index(f"{group}:") + 1
    flags: set[str] = set()
    for line in lines[start:]:
        if not line.strip():
            break
        match = re.match(r"^  (-\S.*?)(?:  |$)", line)  # an option line; help continuations are indented more
        if match:
            flags |= {flag.split("=")[0] for flag in match.group(1).split(", ")}
    return flags


def test_plugin_options_in_pytest_help_all_carry_the_bc_prefix(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    flags = _group_options(done.stdout, "batch-conformance")
    assert flags == {option.pytest_flag for option in OPTIONS}
    assert all(flag.startswith("--bc-") for flag in flags)


def test_run_command_flags_keep_their_short_names() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--target", "http://x", "--profile", "quick", "--only", "SEM-ACCEPT",
                              "--no-schemathesis", "--bc-config", "bc.toml"])
    assert (args.bc_target, args.bc_profile, args.bc_only) == ("http://x", "quick", ["SEM-ACCEPT"])
    assert args.bc_no_schemathesis and args.bc_config == "bc.toml"
    with pytest.raises(SystemExit):  # unrecognised arguments: the namespaced names belong to pytest
        parser.parse_args(["--bc-target", "http://x"])


def test_run_command_translates_its_flags_into_the_plugin_flags(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--target", "http://x", "--only", "A", "--only", "B", "--no-schemathesis", "-q"])
    argv = pytest_args(args, tmp_path)
    assert argv[argv.index("--bc-target") + 1] == "http://x" and "--bc-no-schemathesis" in argv
    assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bc-only"] == ["A", "B"]
    assert not {"--target", "--only", "--no-schemathesis"} & set(argv)


def test_plugin_quick_profile_only_one_requirement_writes_results(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = _pytest(tmp_path, "-q", "--bc-profile", "quick", "--bc-only", "SEM-ACCEPT", "--bc-report-dir",
                   str(reports), "--pyargs", "conformance.suite")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((reports / "results.json").read_text())
    assert results["verdict"] == "pass" and results["profile"] == "quick"
    assert results["requirements"]["SEM-ACCEPT"]["status"] == "pass"


def test_plugin_unknown_emulator_fault_exits_2_before_anything_runs(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = _pytest(tmp_path, "-q", "--bc-emulator-fault", "nosuch", "--bc-report-dir", str(reports),
                   "--pyargs", "conformance.suite")
    assert done.returncode == 2
    assert "--emulator-fault 'nosuch' is not a fault of the emulator" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr and not reports.exists()
