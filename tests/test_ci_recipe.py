"""The CI recipe works as written: the `run:` steps of examples/github-actions/conformance.yml, executed in order the
way GitHub runs them (bash -eo pipefail, the job's env, later steps skipped after a failure unless `if: always()`),
against the embedded emulator; and the tox environment `gate` runs the same gate."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import __version__
from conformance.emulator.faults import FAULTS
from conformance.reporting.expectations import load_expectations

from conftest import REPO_ROOT

RECIPE = REPO_ROOT / "examples" / "github-actions"
WORKFLOW = yaml.safe_load((RECIPE / "conformance.yml").read_text())
JOB = WORKFLOW["jobs"]["conformance"]
STAND_IN = JOB["env"]["BATCH_CONFORMANCE_EMULATOR_FAULT"]
# The requirements the runs judge: what the stand-in and the new deviation break, and some they leave alone.
JUDGED = ("SEM-ACCEPT", "SEM-NODE-NOT-FOUND", "NO-SERVER-ERROR", "SEM-BAD-BODY", "SEM-UNKNOWN-PROPERTY",
          "RSP-202-REQUEST-ID", "ERR-BODY-SCHEMA")
# What the test changes, and why: the suite is installed already (pip finds it satisfied, and may not fetch
# anything: no network); the quick profile and fewer requirements keep the test short (the recipe is under test
# here, not the suite: the fault matrix proves what each fault breaks).
OVERRIDES = {"BATCH_CONFORMANCE_PACKAGE": f"batch-conformance=={__version__}", "BATCH_CONFORMANCE_PROFILE": "quick",
             "BATCH_CONFORMANCE_ONLY": ",".join(JUDGED), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass(frozen=True)
class Step:
    """One executed `run:` step."""

    name: str
    code: int | None  # None: skipped
    output: str


def _run_steps(workspace: Path, **env: str) -> list[Step]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_CONFORMANCE_", "PIP_"))}
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"  # the suite's interpreter
    base |= {k: str(v) for k, v in JOB["env"].items()} | OVERRIDES | env
    done: list[Step] = []
    failed = False
    for step in JOB["steps"]:
        if "run" not in step:
            continue
        if failed and step.get("if") != "always()":
            done.append(Step(step["name"], None, ""))
            continue
        script = workspace / ".step.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                              env=base | {str(k): str(v) for k, v in step.get("env", {}).items()},
                              capture_output=True, text=True, timeout=300, check=False)
        done.append(Step(step["name"], proc.returncode, proc.stdout + proc.stderr))
        failed = failed or proc.returncode != 0
    return done


def _workspace(folder: Path) -> Path:
    """A checkout of a vendor repository holding the recipe's files."""
    shutil.copytree(RECIPE, folder, dirs_exist_ok=True)
    return folder


def _results(workspace: Path) -> dict[str, Any]:
    return dict(json.loads((workspace / "reports" / "conformance" / "results.json").read_text()))


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Step]]:
    """The recipe as written: its stand-in server's deviations are all in its expectations file."""
    workspace = _workspace(tmp_path_factory.mktemp("ws"))
    return workspace, _run_steps(workspace)


def test_ci_recipe_run_steps_are_plain_shell_with_only_always_conditions() -> None:
    runs = [s for s in JOB["steps"] if "run" in s]
    assert [s["name"] for s in runs] == ["Install the suite", "Conformance, gated on the known deviations",
                                         "Compare with the baseline"]
    assert all("${{" not in s["run"] and s.get("if", "always()") == "always()" for s in runs)
    assert JOB["env"]["BATCH_CONFORMANCE_PACKAGE"] == f"batch-conformance=={__version__}"


def test_ci_recipe_known_deviations_pass_every_step(known: tuple[Path, list[Step]]) -> None:
    workspace, steps = known
    assert [(s.name, s.code) for s in steps] == [("Install the suite", 0),
                                                 ("Conformance, gated on the known deviations", 0),
                                                 ("Compare with the baseline", 0)], steps
    assert "already satisfied" in steps[0].output
    assert "nothing to compare" in steps[2].output
    results = _results(workspace)
    assert results["verdict"] == "fail" and results["expectations"]["verdict"] == "pass"
    assert results["record"]["target"]["emulator_fault"] == STAND_IN
    written = {p.name for p in (workspace / "reports" / "conformance").iterdir()}
    assert {"results.json", "junit.xml", "report.html", "badge.svg"} <= written


def test_ci_recipe_new_deviation_fails_the_gate_and_the_comparison_names_it(
        tmp_path: Path, known: tuple[Path, list[Step]]) -> None:
    workspace = _workspace(tmp_path)
    (workspace / "baseline").mkdir()
    # what the download step fetches: main's results, from the recipe as written
    shutil.copy(known[0] / "reports" / "conformance" / "results.json", workspace / "baseline" / "results.json")
    steps = _run_steps(workspace, BATCH_CONFORMANCE_EMULATOR_FAULT="bad-json-500")  # a regression in the server
    assert [(s.name, s.code) for s in steps] == [("Install the suite", 0),
                                                 ("Conformance, gated on the known deviations", 1),
                                                 ("Compare with the baseline", 1)], steps
    assert "unexpected: SEM-BAD-BODY (MUST) fail; not in the file, counts as fail" in steps[1].output
    assert "REGRESSION new failure: SEM-BAD-BODY (MUST) pass -> fail" in steps[2].output
    assert json.loads((workspace / "reports" / "compare" / "compare.json").read_text())["regressions"] == [
        "SEM-BAD-BODY"]


def test_ci_recipe_expectations_list_every_requirement_its_stand_in_breaks() -> None:
    listed = load_expectations(RECIPE / "conformance-expectations.toml")
    assert set(FAULTS.get(STAND_IN).breaks) <= set(listed)
    assert {e.status for e in listed.values()} == {"fail"} and all(e.expires is None for e in listed.values())


def test_ci_recipe_tox_gate_env_runs_the_same_gate_on_the_same_stand_in() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO_ROOT / "tox.ini")
    env = tox["testenv:gate"]
    gate = next(s["run"] for s in JOB["steps"] if s.get("name") == "Conformance, gated on the known deviations")
    assert env["commands"].split("--report-dir")[0] == gate.split("--report-dir")[0]
    assert (REPO_ROOT / env["changedir"]).resolve() == RECIPE
    assert env["setenv"].split() == ["BATCH_CONFORMANCE_EMULATOR_FAULT", "=", STAND_IN]
    assert "gate" in tox["tox"]["envlist"].replace(",", " ").split()
