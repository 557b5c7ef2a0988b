"""Parallel runs: the suite spread over pytest-xdist workers, with the serial run's verdict and statuses.

`batch-conformance run --workers N` and `pytest -n N --pyargs conformance.suite` both run through here. Each worker
is a process with its own embedded emulator (or the one remote target, shared), its own oracle and its own
requirement results; the controller (the process pytest was started in) writes the one results.json, junit.xml,
badge.svg and report.html.

What makes the merged statuses those of a serial run with the same seed:

- Every requirement's property draws from its own seeded Hypothesis run, so it sends the same requests wherever it
  runs. Its judgments can depend on what ran before it in the same process (the emulator's node states, the
  oracle's record of nodes this run reimaged): the requirements whose verdict depends on that (those observing a
  reimage's effects, which must meet nodes and tasks no other property touched: run_phase 0 and 1) are one work
  unit, handed out first; the spec-driven layer is one unit (it runs once), handed out second since it is the
  largest; every other requirement is a unit of its own, handed out in the serial order. The others' judgments
  hold whatever state they meet: the oracle follows every node the run reimaged.
- A single-exchange requirement is judged on every exchange of every property (Session.judge_passively), wherever
  they ran. No worker decides a status: each keeps the journal of every change it made to any requirement's result
  (met, broke, fail, settle, ...: reporting/results.py, in the order made) cut into one step per test item, and
  the controller replays every worker's steps in the serial run's item order through the same forward-only
  methods. A status, the examples and failures counted, and which first failure is shown (the earliest in serial
  order, or the requirement's own shrunk example) come out as the serial run would have made them, whichever
  worker finished first.
- Limits are for the run, not per process: --max-reimages, --rate and the stop (a signal, --max-duration, the
  circuit breaker) are shared through run/shared.py.

What stays per process: the oracle's run-level evidence. Against the embedded emulator it is the same in every
process (each worker has its own emulator; whether it authenticates is known before anything is sent). Against a
remote target the workers share its nodes: a node one worker reimaged may still be busy when another sends to it,
and whether the target authenticates is learnt per worker; so a remote target runs on one worker unless the user
says otherwise (--disposable, --parallel-target; see README, "Parallel runs"). Workers that share a target each
reimage only the nodes they hold (run/shared.py's leases): none meets a node another is reimaging.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections import OrderedDict
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.config import Settings
from conformance.models import UsageError
from conformance.reporting.results import Change, RunResult
from conformance.run.shared import SharedRun

SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
SHARED_INPUT, STARTED_INPUT = "batch_conformance_shared", "batch_conformance_started"  # workerinput keys
OUTPUT = "batch_conformance"  # workeroutput key: a worker's share of the run, as JSON
ORDERED_GROUP, LAYER_GROUP = "observed-effects", "spec-driven"
WORKERS_KEY = "workers"  # results.json config: how many processes sent the run's requests
SESSION_FIXTURE = "conformance_session"  # the plugin's fixture that opens the run's session
PART = ".part"  # a worker's part of the --record HAR file
MIN_SPLIT = 5  # --workers auto splits a run of at least this many requirements (--only fewer: one worker)
# --workers auto uses at most this many: the spec-driven layer, one unit of about a third of a run, bounds the wall
# time from below, and each worker costs its own start-up
AUTO_MAX = 4


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker."""
    return hasattr(config, "workerinput")


def distributes(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist controller handing tests out to workers."""
    option = config.option
    return (not is_worker(config) and getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
            and not getattr(option, "collectonly", False))


def runs_suite(config: pytest.Config) -> bool:
    """Whether pytest was asked to run the conformance suite (`--pyargs conformance.suite`, or its directory)."""
    for arg in config.args:
        name = arg.split("::")[0]
        if getattr(config.option, "pyargs", False) and (name in ("conformance", "conformance.suite")
                                                        or name.startswith("conformance.suite.")):
            return True
        path = (config.invocation_params.dir / name).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents or (path.is_dir() and path in SUITE_DIR.parents
                                                              and path != Path(path.anchor)):
            return True
    return False


def may_share_target(settings: Settings) -> bool:
    """Whether several workers may send to the run's target at once: the embedded emulator (one per worker), the
    user's own throwaway emulator (--disposable), or a URL target the user said may take it (--parallel-target).
    Workers sharing a target each reimage only the nodes they hold (LiveSafety.shared_nodes)."""
    return settings.embedded or settings.disposable or settings.parallel_target


def check_shared_target(settings: Settings, workers: int) -> None:
    """UsageError when several workers would send to a remote target the user has not let them share."""
    if workers > 1 and not may_share_target(settings):
        raise UsageError(f"{workers} workers would share --target {settings.target}: its nodes, its reimages and "
                         "what its answers show; a remote target runs on one worker unless you add "
                         "--parallel-target (or, for your own throwaway emulator, --disposable; README, "
                         "\"Parallel runs\")")


def cores() -> int:
    """The processors this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def worker_count(value: str | None, settings: Settings) -> int:
    """`--workers` as a number of processes. N as given (refused above 1 for a remote target the workers may not
    share); auto (the default) one per core where the workers may share the target and the run is long enough to
    gain (starting a worker costs about as much as a quick run saves), else one."""
    if value is None or value == "auto":
        if not may_share_target(settings) or settings.profile == "quick" or 0 < len(settings.only) < MIN_SPLIT:
            return 1
        return min(cores(), AUTO_MAX)
    try:
        workers = int(value)
    except ValueError:
        raise UsageError(f"--workers {value!r}: give a number of processes, or auto") from None
    if workers < 1:
        raise UsageError("--workers must be 1 or more (or auto)")
    check_shared_target(settings, workers)
    return workers


def group_of(nodeid: str) -> str:
    """The work unit a test belongs to: the order-dependent requirements together, the spec-driven layer together,
    every other requirement on its own."""
    if "test_spec_driven.py::" in nodeid:
        return LAYER_GROUP
    if "test_requirements.py::" in nodeid and "[" in nodeid:
        from conformance.run.session import run_phase

        if run_phase(nodeid.rsplit("[", 1)[1].rstrip("]")) < 2:
            return ORDERED_GROUP
    return nodeid


def scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's load-by-scope scheduling with the suite's work units (group_of), handed out in the order
    _units_in_order gives; each worker runs its units in the order it gets them."""
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the first hand-out: the queue is complete
                _units_in_order(self.workqueue)
                self.ordered = True
            super()._assign_work_unit(node)

        def _reschedule(self, node: Any) -> None:
            # pytest-xdist keeps two tests queued beyond the running one, for short tests; ours run for seconds,
            # and a worker holding two at the end keeps the run waiting while the others idle. One queued test
            # is what a worker needs (it reads the next test before running one).
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return SuiteScheduling(config, log)


def _units_in_order(queue: OrderedDict[str, Any]) -> None:
    """The order work units are handed out in: the order-dependent requirements first (they must meet untouched
    nodes and tasks), the spec-driven layer next (the largest unit: handed out last, it would keep one worker busy
    alone at the end), then every other requirement in the serial order."""
    for scope in sorted(queue, key=lambda scope: (scope != ORDERED_GROUP, scope != LAYER_GROUP)):
        queue.move_to_end(scope)


def record_part(record: str, config: pytest.Config) -> str:
    """Where a worker writes its part of --record (join_records makes the one HAR file of them)."""
    return f"{record}.{config.workerinput['workerid']}{PART}"  # type: ignore[attr-defined]


def join_records(record: str) -> None:
    """The workers' HAR parts as the one --record file (each worker's entries in turn), the parts removed."""
    from conformance.reporting.har import join_har

    path = Path(record)
    parts = sorted(path.parent.glob(f"{glob.escape(path.name)}.*{PART}"))
    join_har(parts, path)
    for part in parts:
        part.unlink()


# --- a worker ---------------------------------------------------------------------------------------------
class WorkerShare:
    """A worker's part of the run: every change it made to any requirement's result, by the test during which it
    was made (that test's position in the serial run), shipped to the controller when the worker is done."""

    def __init__(self, run: RunResult, items: Iterable[pytest.Item]) -> None:
        self.run = run
        self.journal = run.keep_journal()
        self.position = {item.nodeid: i for i, item in enumerate(items)}
        self.steps: list[dict[str, Any]] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
        """Cut the journal at each test (setup, call, teardown: the session fixture's teardown included)."""
        changes, errors, servers = len(self.journal), len(self.run.harness_errors), len(self.run.servers)
        yield
        self.steps.append({"position": self.position.get(item.nodeid, len(self.position)),
                           "changes": compact(self.journal[changes:]),
                           "harness_errors": self.run.harness_errors[errors:], "servers": self.run.servers[servers:]})
        del self.journal[changes:]  # shipped with its step; what is left is made outside any test

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, None]:
        """What the session's opening changed (the reimage plan, which a serial run sends before its first test)
        goes before every test of the run."""
        start = len(self.journal)
        yield
        if fixturedef.argname == SESSION_FIXTURE and len(self.journal) > start:
            self.steps.append({"position": -1, "changes": compact(self.journal[start:]), "harness_errors": [],
                               "servers": []})
            del self.journal[start:]

    def output(self, stopped: str) -> str:
        """The share as the controller reads it (JSON: pytest-xdist carries only plain values)."""
        if self.journal:  # made outside any test: after everything this worker ran
            self.steps.append({"position": len(self.position), "changes": compact(self.journal),
                               "harness_errors": [], "servers": []})
        durations = {rid: r.duration for rid, r in self.run.requirements.items() if r.duration}
        config = {k: v for k, v in self.run.config.items() if isinstance(v, dict) and "cases" in v}
        return json.dumps({"suite_version": __version__, "selected": list(self.run.requirements),
                           "steps": self.steps, "durations": durations, "counts": config, "stopped": stopped,
                           "requests": self.run.requests}, default=str)


def compact(changes: list[Change]) -> list[Change]:
    """The same changes, each requirement's run of `met` (and of `broke`) between its other changes summed into one:
    counting commutes with counting, and with any change to another requirement, so the replay ends the same.
    A run judges about ten times per request it sends (passive judging); the journal keeps a few changes a test."""
    out: list[Change] = []
    open_counts: dict[tuple[str, str], int] = {}  # (requirement, met|broke) -> its entry in out, until it changes
    for rid, method, args, kwargs in changes:
        if method in ("met", "broke"):
            at = open_counts.get((rid, method))
            if at is not None:
                out[at][2][0] += args[0]
                continue
            open_counts[(rid, method)] = len(out)
            out.append((rid, method, [args[0]], {}))
            continue
        open_counts.pop((rid, "met"), None)
        open_counts.pop((rid, "broke"), None)
        out.append((rid, method, args, kwargs))
    return out


# --- the controller ---------------------------------------------------------------------------------------
class Controller:
    """The process that hands tests out: it gives every worker the shared limits, collects their shares and merges
    them into one RunResult."""

    def __init__(self, shared: SharedRun, *, schedule: bool = True) -> None:
        self.shared = shared
        self.schedule = schedule  # the suite's own scheduling (the command line named the suite)
        self.started = time.monotonic()
        self.shares: dict[str, dict[str, Any]] = {}
        self.lost: list[str] = []  # workers that went down without a share

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell a starting worker where the shared limits are, and when the run started (--max-duration)."""
        node.workerinput[SHARED_INPUT] = str(self.shared.dir)
        node.workerinput[STARTED_INPUT] = self.started

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """Keep a finished worker's share (once; a worker that crashed has none, and what it ran is lost)."""
        name = str(node.gateway.id)
        raw = getattr(node, "workeroutput", {}).get(OUTPUT)
        if raw is not None:
            self.shares.setdefault(name, json.loads(raw))
        elif name not in self.shares and name not in self.lost:
            self.lost.append(name)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """The suite's scheduling, whatever --dist says (None: pytest-xdist's own, for a run that is not the suite)."""
        return scheduler(config, log) if self.schedule else None

    def merged(self, settings: Settings) -> RunResult | None:
        """One RunResult from every worker's share, replayed in the serial run's order; None when no worker
        sent one (nothing of the suite ran)."""
        if not self.shares:
            return None
        return merge([self.shares[name] for name in sorted(self.shares)], settings, lost=self.lost)

    def close(self) -> None:
        """Remove the shared state."""
        self.shared.remove()


def merge(shares: list[dict[str, Any]], settings: Settings, *, lost: Sequence[str] = ()) -> RunResult:
    """Replay the workers' steps in serial order into a fresh RunResult (see the module docstring)."""
    from conformance.run.session import new_run

    selected = frozenset(shares[0]["selected"])
    run = new_run(settings, settings.target or "embedded emulator", __version__, selected)
    steps = sorted((step for share in shares for step in share["steps"]), key=lambda step: int(step["position"]))
    for step in steps:
        changes: list[Change] = [(rid, method, list(args), dict(kwargs))
                                 for rid, method, args, kwargs in step["changes"]]
        run.replay(changes)
        run.harness_errors.extend(step["harness_errors"])
        for server in step["servers"]:
            run.note_server(server)
    for share in shares:
        run.requests += int(share.get("requests", 0))
        for rid, seconds in share["durations"].items():
            if rid in run.requirements:
                run.requirements[rid].duration += float(seconds)
        for key, counts in share["counts"].items():
            total = run.config.setdefault(key, {})
            for name, n in counts.items():
                total[name] = total.get(name, 0) + int(n)
    run.stopped = next((share["stopped"] for share in shares if share["stopped"]), "")
    run.config[WORKERS_KEY] = len(shares) + len(lost)
    for name in lost:
        run.harness_errors.append(f"worker {name} went down before it reported: what it ran is not in the results")
    return run
