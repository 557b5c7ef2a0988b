"""Parallel runs (`run --workers N`, `pytest -n N --pyargs conformance.suite`): the serial run's verdict and statuses,
limits held by all workers together, a stop reaching every worker, one set of reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.config import Settings
from conformance.emulator import EmbeddedEmulator
from conformance.models import UsageError
from conformance.reporting.results import RunResult
from conformance.run import parallel
from conformance.run.session import new_run
from conformance.run.shared import SharedRun

from conftest import REPO_ROOT, read_results
from hostile import HostileServer
from test_safety import EXPENDABLE, Recorder, _could_be_accepted, _inventory

# A few requirements of every kind the merge has to get right: the order-dependent pair (observed effects), the
# spec-driven layer, single-exchange requirements judged on other properties' exchanges, a settled open point.
ONLY = ("SEM-OPTION-EFFECT", "SEM-STATE-AFTER", "SEM-ACCEPT", "SEM-BAD-BODY", "SEM-POOL-NOT-FOUND", "NO-SERVER-ERROR",
        "ERR-REQUEST-ID", "RSP-202-REQUEST-ID", "SEM-CONSISTENT", "SPEC-STATUS-CODE")
FAULTS = ("bad-json-500",  # one cause, several requirements: NO-SERVER-ERROR met on SEM-BAD-BODY's exchanges too
          "option-ignored",  # an order-dependent requirement: the reimage's effect on running tasks
          "flip-flop-null-option")  # a settled open point answered differently later: SEM-CONSISTENT


def _selection(fault: str | None) -> list[str]:
    return [a for rid in ONLY for a in ("--only", rid)] + (["--emulator-fault", fault] if fault else [])


def _serial(report: Path, fault: str | None) -> dict[str, Any]:
    assert main(["run", "-q", "--profile", "quick", "--workers", "1", "--report-dir", str(report),
                 *_selection(fault)]) in (0, 1)
    return read_results(report)


def _workers(report: Path, fault: str | None) -> dict[str, Any]:
    assert main(["run", "-q", "--profile", "quick", "--workers", "2", "--report-dir", str(report),
                 *_selection(fault)]) in (0, 1)
    return read_results(report)


def _xdist(report: Path, fault: str | None) -> dict[str, Any]:
    flags = [("--bc-" + a[2:]) if a.startswith("--") else a for a in _selection(fault)]
    # --assert=plain: pytest would otherwise rewrite Hypothesis and Schemathesis (pytest plugins' packages) from
    # source in all three processes wherever no bytecode is written (PYTHONDONTWRITEBYTECODE): seconds, not ours
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--assert=plain", "-n", "2",
                    "--pyargs",
                    "conformance.suite", "--bc-profile", "quick", "--bc-report-dir", str(report),
                    f"--html={report / 'report.html'}", "--self-contained-html", *flags],
                   cwd=report.parent, capture_output=True, check=False, timeout=120)
    return read_results(report)


def _statuses(results: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return results["verdict"], {rid: r["status"] for rid, r in results["requirements"].items()}


@pytest.mark.parametrize("fault", [None, *(pytest.param(f, marks=pytest.mark.slow) for f in FAULTS)])
def test_parallel_run_same_seed_verdict_and_statuses_equal_serial(tmp_path: Path, fault: str | None) -> None:
    serial = _serial(tmp_path / "serial", fault)
    workers = _workers(tmp_path / "workers", fault)
    xdist = _xdist(tmp_path / "xdist", fault)
    assert serial["config"]["workers"] == 1 and workers["config"]["workers"] == xdist["config"]["workers"] == 2
    assert min(serial["requests"], workers["requests"], xdist["requests"]) > 0  # every worker's requests counted
    assert _statuses(workers) == _statuses(serial) == _statuses(xdist)
    if fault is not None:  # the fault was caught, and by every mode alike
        assert serial["verdict"] == "fail" or any(s == "fail" for s in _statuses(serial)[1].values())
    for results in (workers, xdist):  # one set of reports, none left half-written by a worker
        assert {p.name for p in (tmp_path / ("workers" if results is workers else "xdist")).iterdir()} >= {
            "results.json", "junit.xml", "report.html", "badge.svg"}


def test_parallel_max_reimages_two_across_two_workers_at_most_two_on_the_wire(tmp_path: Path) -> None:
    # the requirements only an accepted reimage decides, and others each worker runs alongside: the reimage plan is
    # sent once (by the worker that claims it, its budget taken before any property spends one), never by both
    inventory = _inventory(EXPENDABLE)
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory.to_json()))
    only = [a for rid in ("SEM-ACCEPT", "SEM-NO-BODY", "SEM-TIMEOUT-VALID", "SEM-POOL-ID-CASE", "RSP-202-REQUEST-ID",
                          "SEM-BAD-BODY", "SEM-POOL-NOT-FOUND") for a in ("--only", rid)]
    runs = {}
    for workers in ("1", "2"):
        report = tmp_path / workers
        with EmbeddedEmulator(inventory=inventory) as emulator:
            proxy = Recorder(upstream=emulator.url).start()
            code = main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--target", proxy.url, "--inventory",
                         str(path), "--allow-destructive", "--max-reimages", "2", "--watch-seconds", "1", "--workers",
                         workers, "--parallel-target", "--report-dir", str(report), *only])
            proxy.stop()
        could_reimage = [s for s in proxy.seen if s.method == "POST" and _could_be_accepted(s, inventory)]
        results = read_results(report)
        assert results["config"]["workers"] == int(workers)
        assert 1 <= len(could_reimage) <= 2 and emulator.app.accepted == len(could_reimage)  # counted on the wire
        runs[workers] = (code, _statuses(results))
    assert runs["1"] == runs["2"] and runs["2"][0] == 0  # the plan decided them all, on two workers too


def test_parallel_rate_holds_across_workers(tmp_path: Path) -> None:
    arrivals: list[float] = []
    with EmbeddedEmulator() as emulator:
        proxy = Recorder(upstream=emulator.url).start()
        forward = proxy.answer
        proxy.answer = lambda seen: (arrivals.append(time.monotonic()), forward(seen))[1]  # type: ignore[method-assign]
        main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--target", proxy.url, "--workers", "2",
              "--parallel-target", "--rate", "40", "--report-dir", str(tmp_path), "--only", "SEM-POOL-NOT-FOUND",
              "--only", "SEM-NODE-NOT-FOUND"])
        proxy.stop()
    assert read_results(tmp_path)["config"]["workers"] == 2 and len(arrivals) >= 20
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / 40 * 0.9  # one rate for both workers, not one each


@pytest.mark.parametrize("pytest_n", [False, True])
def test_parallel_remote_target_without_parallel_target_refused(tmp_path: Path, pytest_n: bool) -> None:
    with EmbeddedEmulator() as emulator:
        proxy = Recorder(upstream=emulator.url).start()
        if pytest_n:
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--assert=plain",
                                   "-n", "2", "--pyargs", "conformance.suite", "--bc-target", proxy.url,
                                   "--bc-report-dir", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120)
            code, out = done.returncode, done.stdout + done.stderr
        else:
            code, out = main(["run", "--workers", "2", "--target", proxy.url, "--report-dir", str(tmp_path)]), ""
        proxy.stop()
    assert code not in (0, 1, 3) and not (tmp_path / "results.json").exists() and proxy.seen == []
    if pytest_n:
        assert "--parallel-target" in out


def _settings(**kw: Any) -> Settings:
    return Settings(**kw)


@pytest.mark.parametrize(("value", "settings", "expected"), [
    (None, _settings(profile="standard"), "cores"),
    ("auto", _settings(profile="quick"), 1),  # starting a worker costs about what a quick run saves
    (None, _settings(profile="standard", only=("SEM-ACCEPT",)), 1),
    (None, _settings(profile="standard", target="http://127.0.0.1:1"), 1),  # a remote target: one worker
    (None, _settings(profile="standard", target="http://127.0.0.1:1", parallel_target=True), "cores"),
    ("3", _settings(profile="quick"), 3),
])
def test_worker_count_value_and_target_gives_processes(value: str | None, settings: Settings,
                                                       expected: int | str) -> None:
    cores = min(parallel.cores(), parallel.AUTO_MAX)
    assert parallel.worker_count(value, settings) == (cores if expected == "cores" else expected)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_worker_count_not_a_count_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="--workers"):
        parallel.worker_count(value, _settings())


def test_worker_count_remote_target_explicit_workers_need_parallel_target() -> None:
    with pytest.raises(UsageError, match="--parallel-target"):
        parallel.worker_count("2", _settings(target="http://127.0.0.1:1"))


def test_shared_run_budget_spent_once_across_openers() -> None:
    shared = SharedRun.create()
    try:
        other = SharedRun(shared.dir)  # another process opens the same directory
        assert shared.take(1, 2) and other.take(1, 2) and not other.take(1, 2) and not shared.take(1, 2)
        assert shared.spent() == other.spent() == 2
    finally:
        shared.remove()
    assert not shared.dir.exists()


def test_shared_run_plan_claimed_once_its_budget_reserved_first_and_what_it_left_given_back() -> None:
    shared = SharedRun.create()
    try:
        other = SharedRun(shared.dir)
        assert shared.claim_plan(2, 3) == 2 and other.claim_plan(2, 3) == -1  # one process sends the plan
        assert other.take(1, 3) and not other.take(1, 3)  # the plan's two were taken before any property's
        shared.release(1)  # the plan sent one of its two
        assert other.spent() == 2 and other.take(1, 3)
    finally:
        shared.remove()


def test_worker_count_disposable_target_one_worker_per_core() -> None:
    disposable = _settings(profile="standard", target="http://127.0.0.1:1", disposable=True)
    assert parallel.worker_count(None, disposable) == min(parallel.cores(), parallel.AUTO_MAX)
    assert parallel.worker_count("2", disposable) == 2


def test_shared_run_lease_first_holder_keeps_the_node() -> None:
    shared = SharedRun.create()
    try:
        assert shared.lease("pool/n1") and shared.lease("pool/n1")
        other = subprocess.run([sys.executable, "-c", "import sys; from conformance.run.shared import SharedRun; "
                                f"sys.exit(0 if SharedRun({str(shared.dir)!r}).lease('pool/n1') else 3)"],
                               check=False, timeout=60)
        assert other.returncode == 3  # another process: not its node
        assert shared.held_by_others() == frozenset()  # this process holds it
    finally:
        shared.remove()


@pytest.mark.parametrize("fault", [None, "no-request-id-202"])
def test_parallel_disposable_url_target_same_verdict_as_serial_without_meeting_a_busy_node(
        tmp_path: Path, fault: str | None) -> None:
    # the emulator as a URL, with its 50 ms reimages: two workers that shared its nodes would meet a node the other
    # is reimaging (a 409 where a 202 is due); each reimages only the nodes it holds
    only = [a for rid in ("SEM-ACCEPT", "SEM-NO-BODY", "SEM-POOL-ID-CASE", "SEM-TIMEOUT-VALID", "RSP-202-REQUEST-ID",
                          "SEM-NODE-STATE", "SEM-BAD-BODY") for a in ("--only", rid)]
    runs = {}
    for workers in ("1", "2"):
        with EmbeddedEmulator(reimage_seconds=0.05, fault=fault) as emulator:
            code = main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--target", emulator.url,
                         "--disposable", "--workers", workers, "--report-dir", str(tmp_path / workers), *only])
        results = read_results(tmp_path / workers)
        assert results["config"]["workers"] == int(workers)
        runs[workers] = (code, _statuses(results)[1])
    failed = {w: {rid for rid, status in statuses.items() if status == "fail"} for w, (_, statuses) in runs.items()}
    # no false failure, and the fault caught by both; a node the other worker holds may leave a requirement
    # undecided where the serial run decided it (README, "Parallel runs"), never failed
    assert failed["1"] == failed["2"] == (set() if fault is None else {"RSP-202-REQUEST-ID"})
    assert runs["1"][0] == (0 if fault is None else 1) and runs["2"][0] in ((0, 3) if fault is None else (1,))


def test_shared_run_slots_interval_apart_across_openers() -> None:
    shared = SharedRun.create()
    try:
        waits = [opener.slot(0.5) for opener in (shared, SharedRun(shared.dir), shared)]
    finally:
        shared.remove()
    assert waits[0] < 0.05 and 0.4 < waits[1] <= 0.5 and 0.9 < waits[2] <= 1.0


def test_shared_run_stop_first_reason_stays_and_every_opener_sees_it() -> None:
    shared = SharedRun.create()
    try:
        other = SharedRun(shared.dir)
        assert other.stopped() == ""
        other.stop("interrupted by SIGTERM")
        shared.stop("the breaker opened")
        assert shared.stopped() == other.stopped() == "interrupted by SIGTERM"
    finally:
        shared.remove()


def _share(steps: list[tuple[int, list[tuple[str, str, list[Any], dict[str, Any]]]]]) -> dict[str, Any]:
    return {"selected": ["SEM-ACCEPT", "NO-SERVER-ERROR"], "durations": {}, "counts": {}, "stopped": "",
            "steps": [{"position": p, "changes": c, "harness_errors": [], "servers": []} for p, c in steps]}


def _failure(name: str) -> dict[str, Any]:
    return {"requirement": "NO-SERVER-ERROR", "message": name}


def test_merge_first_failure_shown_is_the_earliest_in_serial_order() -> None:
    nse = "NO-SERVER-ERROR"
    later = _share([(5, [(nse, "broke", [1], {}), (nse, "fail", [_failure("later")], {"replace": False})])])
    earlier = _share([(2, [(nse, "broke", [1], {}), (nse, "fail", [_failure("earlier")], {"replace": False})])])
    for shares in ([later, earlier], [earlier, later]):  # whichever worker reported first
        run = parallel.merge(shares, Settings())
        result = run.requirements[nse]
        assert (result.status, result.failures, result.first_failure) == ("fail", 2, _failure("earlier"))


def test_merge_own_shrunk_failure_replaces_one_met_elsewhere() -> None:
    nse = "NO-SERVER-ERROR"
    elsewhere = _share([(1, [(nse, "broke", [1], {}), (nse, "fail", [_failure("passive")], {"replace": False})])])
    own = _share([(9, [(nse, "undecided", [""], {}), (nse, "broke", [1], {}),
                       (nse, "fail", [_failure("own")], {"replace": True})])])
    run = parallel.merge([own, elsewhere], Settings())
    assert run.requirements[nse].first_failure == _failure("own")


def test_merge_examples_met_on_other_workers_count_before_settling() -> None:
    # serial order: a passive example met by the property at position 1 (another worker), then the requirement's
    # own property (position 7) settles it: pass, as the serial run would settle it
    nse = "NO-SERVER-ERROR"
    run = parallel.merge([_share([(7, [(nse, "undecided", [""], {}), (nse, "settle", ["nothing decided it"], {})])]),
                          _share([(1, [(nse, "met", [3], {})])])], Settings())
    assert (run.requirements[nse].status, run.requirements[nse].examples) == ("pass", 3)


def test_compact_journal_replayed_ends_as_the_whole_journal() -> None:
    nse, acc = "NO-SERVER-ERROR", "SEM-ACCEPT"
    changes = [(nse, "met", [1], {}), (acc, "met", [1], {}), (nse, "met", [1], {}), (nse, "settle", ["x"], {}),
               (nse, "met", [2], {}), (acc, "broke", [1], {}), (acc, "met", [1], {}),
               (acc, "fail", [_failure("f")], {"replace": False}), (acc, "met", [1], {})]
    whole, compacted = (parallel.merge([_share([(0, journal)])], Settings())
                        for journal in (changes, parallel.compact(changes)))
    assert len(parallel.compact(changes)) == 7
    assert {k: (r.status, r.examples, r.failures, r.first_failure) for k, r in compacted.requirements.items()} == {
        k: (r.status, r.examples, r.failures, r.first_failure) for k, r in whole.requirements.items()}
    assert (whole.requirements[nse].status, whole.requirements[nse].examples) == ("pass", 4)


def test_run_result_journal_replayed_gives_the_same_statuses() -> None:
    settings = Settings(only=("SEM-ACCEPT", "NO-SERVER-ERROR"))
    run = new_run(settings, "t", "test")
    journal = run.keep_journal()
    run.requirements["SEM-ACCEPT"].met(2)
    run.requirements["SEM-ACCEPT"].settle("undecided")
    run.requirements["NO-SERVER-ERROR"].broke()
    run.requirements["NO-SERVER-ERROR"].fail(_failure("x"))
    replayed: RunResult = new_run(settings, "t", "test")
    replayed.replay(list(journal))
    assert {k: (r.status, r.examples, r.failures, r.first_failure) for k, r in replayed.requirements.items()} == {
        k: (r.status, r.examples, r.failures, r.first_failure) for k, r in run.requirements.items()}


def test_parallel_record_one_har_of_every_worker(tmp_path: Path) -> None:
    har = tmp_path / "traffic.har"
    assert main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--workers", "2", "--report-dir",
                 str(tmp_path), "--record", str(har), "--only", "SEM-POOL-NOT-FOUND", "--only", "SEM-BAD-BODY"]) == 0
    entries = json.loads(har.read_text())["log"]["entries"]
    paths = {e["request"]["url"].split("/")[4] for e in entries if e["request"]["url"].count("/") >= 4}
    assert len(entries) >= 24 and len(paths) > 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_parallel_signal_to_the_controller_stops_every_worker_and_writes_reports(
        tmp_path: Path, signum: signal.Signals) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"pools": [{"id": "pool-a", "configuration": "cloudServiceConfiguration",
                                                "nodes": [{"id": "node-1", "state": "idle"}]}]}))
    with HostileServer("slow") as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "run", "-q", "--profile", "quick", "--no-schemathesis",
             "--target", server.url, "--inventory", str(inventory), "--workers", "2", "--parallel-target",
             "--report-dir", str(tmp_path / "reports")],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while len(server.seen) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signum)  # the controller only, as a CI runner's time limit does
        signalled = time.monotonic()
        code = proc.wait(timeout=60)
        stopped_in = time.monotonic() - signalled
    results = read_results(tmp_path / "reports")
    assert code == 3 and stopped_in < 10 and results["stopped"] == f"interrupted by {signum.name}"
    assert all("the run stopped sending" in r["reason"] for r in results["requirements"].values()
               if r["status"] == "undecided")
