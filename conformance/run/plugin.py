"""The pytest plugin (pytest11 entry point): options, the session fixture, reports at session end."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conformance import __version__
from conformance.config import Settings, load_settings
from conformance.models import HarnessError, UsageError
from conformance.reporting.expectations import load_expectations
from conformance.reporting.failures import shown
from conformance.reporting.results import RunResult
from conformance.run import parallel
from conformance.run.parallel import Controller, WorkerShare
from conformance.run.shared import SharedRun
from conformance.spec import Requirement
from conformance.targets.guard import Guard

RUN_KEY = pytest.StashKey[RunResult]()
SETTINGS_KEY = pytest.StashKey[Settings]()
GUARD_KEY = pytest.StashKey[Guard]()
_SIGNALS_KEY = pytest.StashKey[dict[int, Any]]()
CONTROLLER_KEY = pytest.StashKey[Controller]()  # a parallel run's controller (run/parallel.py)
SHARE_KEY = pytest.StashKey[WorkerShare]()  # a parallel run's worker: its share of the results
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Option:
    """One row of the option table: `--NAME` for `batch-conformance run`, `--bc-NAME` in pytest (where the
    plugin shares the command line with other plugins), and dest bc_NAME in both."""

    name: str
    kwargs: dict[str, Any]
    run_name: str = ""  # the run's flag when it is not the plain name
    run_only: bool = False  # not an option of `batch-conformance diff`, which shares the rest

    @property
    def dest(self) -> str:
        """Where argparse and pytest store the value."""
        return "bc_" + self.name.replace("-", "_")

    @property
    def run_flag(self) -> str:
        """The flag of `batch-conformance run`."""
        return "--" + (self.run_name or self.name)

    @property
    def pytest_flag(self) -> str:
        """The flag the pytest plugin registers."""
        return "--bc-" + self.name


OPTIONS = (  # the one table for both command lines
    Option("target", {"metavar": "URL", "help": "base URL of the target (default: the embedded emulator); "
                                                "sdk@VERSION+URL drives that azure-batch release (sdk+URL: 14.1.0)"}),
    Option("inventory", {"metavar": "FILE", "help": "inventory JSON file of the target's pools and nodes"}),
    Option("api-version", {"metavar": "VERSION", "help": "api-version to certify"}, run_only=True),
    Option("profile", {"metavar": "PROFILE", "help": "quick | standard | thorough"}),
    Option("seed", {"metavar": "N", "type": int, "help": "seed that replays a run exactly"}),
    Option("report-dir", {"metavar": "DIR", "help": "where the reports go (results.json or diff.json, junit.xml, "
                                                     "report.html)"}),
    Option("emulator-fault", {"metavar": "FAULT", "help": "start the embedded emulator with this fault"}),
    Option("only", {"metavar": "REQUIREMENT", "action": "append", "help": "run only this requirement ID (repeatable)"}),
    Option("allow-destructive", {"action": "store_const", "const": True, "help": "allow requests that really reimage"}),
    Option("max-reimages", {"metavar": "N", "type": int, "help": "at most N accepted reimages (default 1)"}),
    Option("parallel-target", {"action": "store_const", "const": True,
                               "help": "let several workers (--workers, pytest -n) send to the --target URL at once: "
                                       "they share its nodes"}, run_only=True),
    Option("disposable", {"action": "store_const", "const": True,
                          "help": "the --target URL is your own throwaway emulator: reimage any node, no budget"}),
    Option("dry-run", {"action": "store_const", "const": True,
                       "help": "print the reimage plan and send nothing that could reimage"}),
    Option("rate", {"metavar": "PER_SECOND", "type": float, "help": "at most N requests per second"}),
    Option("request-timeout", {"metavar": "SECONDS", "type": float,
                               "help": "seconds per request: connect plus the whole response (default 30)"}),
    Option("max-duration", {"metavar": "SECONDS", "type": float,
                            "help": "stop sending after this long and write the reports (default: no limit)"}),
    Option("max-body-bytes", {"metavar": "N", "type": int,
                              "help": "read a response body up to N bytes, decoded (default 4194304)"}),
    Option("watch-seconds", {"metavar": "SECONDS", "type": float,
                             "help": "after a live reimage, watch the node this long (default 900)"}),
    Option("record", {"metavar": "HAR_FILE", "help": "write the traffic sent as HAR to this file"}),
    Option("account-name", {"metavar": "NAME", "help": "Batch account name for Shared Key"}),
    Option("auth", {"metavar": "SCHEME", "help": "none | sharedkey | entra | bearer"}),
    Option("no-schemathesis", {"action": "store_const", "const": True, "help": "switch the spec-driven layer off"},
           run_only=True),
    Option("expectations", {"metavar": "TOML_FILE", "help": "known deviations (expected fail or undecided): the exit "
                                                            "code counts only unexpected results"}, run_only=True),
    Option("strict-expectations", {"action": "store_const", "const": True,
                                   "help": "with --expectations: an expected failure that now passes fails the run"},
           run_only=True),
    Option("config", {"metavar": "TOML_FILE", "help": "TOML config file ([batch-conformance] table)"},
           run_name="bc-config"),
)
_NOT_SETTINGS = ("bc_config", "bc_no_schemathesis")  # options that are not a Settings field of the same name


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options, namespaced (`pytest --bc-target URL --pyargs conformance.suite`)."""
    group = parser.getgroup("batch-conformance")
    for option in OPTIONS:
        group.addoption(option.pytest_flag, dest=option.dest, default=None, **option.kwargs)


def add_shared_arguments(parser: Any, *, only_shared: bool = False) -> None:
    """Add the option table to an argparse parser under the run's flag names (`--target`, not `--bc-target`);
    only_shared leaves out the run's own options (for diff)."""
    for option in OPTIONS:
        if not (only_shared and option.run_only):
            parser.add_argument(option.run_flag, dest=option.dest, default=None, **option.kwargs)


def run_settings(values: Any, *, defaults: dict[str, Any] | None = None) -> Settings:
    """Settings from parsed options (argparse's namespace or pytest's config.option; an option a command does not
    have counts as not given): the config layer's checks, then the fault name against the emulator's catalogue
    (here, not in config: config sits below the emulator, and the run is the part that starts it). The one way
    flags become settings, for run, the pytest plugin and diff; `defaults` are a command's own."""
    flags = {o.dest.removeprefix("bc_"): getattr(values, o.dest, None) for o in OPTIONS if o.dest not in _NOT_SETTINGS}
    flags["schemathesis"] = False if getattr(values, "bc_no_schemathesis", None) else None
    settings = load_settings(flags, config_file=values.bc_config, defaults=defaults)
    if settings.emulator_fault:
        from conformance.emulator.faults import FAULTS  # lazily: it loads uvicorn

        if settings.emulator_fault not in FAULTS:
            raise UsageError(f"--emulator-fault {settings.emulator_fault!r} is not a fault of the emulator "
                             "(batch-conformance emulator --list-faults)")
    if settings.expectations:
        load_expectations(settings.expectations)  # a malformed file is a usage error before anything runs
    return settings


def settings_from_config(config: pytest.Config) -> Settings:
    """Settings from pytest options, the environment and the config file (resolved once per run)."""
    if SETTINGS_KEY not in config.stash:
        settings = run_settings(config.option)
        if settings.record and parallel.is_worker(config):  # each worker records its part; the controller joins them
            settings = dataclasses.replace(settings, record=parallel.record_part(settings.record, config))
        config.stash[SETTINGS_KEY] = settings
    return config.stash[SETTINGS_KEY]


def _is_suite(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in ("conformance_requirement", "spec_driven"))


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's marker; a controller handing the suite out to pytest-xdist workers gets ready to merge
    their results (run/parallel.py)."""
    config.addinivalue_line("markers", "conformance_requirement(id): a catalogue requirement's test")
    config.addinivalue_line("markers", "spec_driven: the Schemathesis-driven layer of the suite")
    if parallel.distributes(config):
        _start_controller(config)


def _start_controller(config: pytest.Config) -> None:
    """Merge what workers of the suite send (whatever the command line); when it names the suite, also schedule
    its work units, share its limits and catch the signals that stop it."""
    suite = parallel.runs_suite(config)
    try:
        settings = settings_from_config(config) if suite else None
        if settings is not None:
            parallel.check_shared_target(settings, len(config.option.tx))
        shared = SharedRun.create()
    except UsageError as err:
        raise pytest.UsageError(f"batch-conformance: {err}") from None
    controller = Controller(shared, schedule=suite)
    config.pluginmanager.register(controller, "batch-conformance-controller")
    config.stash[CONTROLLER_KEY] = controller
    config.stash[_START] = controller.started
    if settings is not None:
        guard = Guard(max_duration=settings.max_duration, shared=shared, started=controller.started)
        config.stash[GUARD_KEY] = guard
        _catch_stop_signals(config, guard)


def fail_requirement(requirement: Requirement, message: str) -> NoReturn:
    """End a requirement's test as failed: a MUST fails it, a SHOULD is an expected failure (a warning that
    never changes the verdict). The one place both layers decide how a broken requirement shows in pytest."""
    text = shown(f"{requirement.id} ({requirement.level}, {requirement.source}): {message}")
    if requirement.level == "SHOULD":
        pytest.xfail(f"SHOULD not met (a warning; the verdict ignores it): {text}")
    pytest.fail(text, pytrace=False)


@pytest.fixture(scope="session")
def conformance_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's one frozen Settings object."""
    try:
        return settings_from_config(pytestconfig)
    except UsageError as err:
        pytest.exit(f"batch-conformance: error: {err}", returncode=2)


@pytest.fixture(scope="session")
def conformance_session(pytestconfig: pytest.Config, conformance_settings: Settings) -> Iterator[Any]:
    """Start the target (the embedded emulator by default) and the run's session."""
    from conformance.run.setup import open_session

    run = pytestconfig.stash[RUN_KEY]
    guard = pytestconfig.stash.get(GUARD_KEY, None)
    try:
        with open_session(conformance_settings, run, guard) as session:
            try:
                yield session
            finally:
                run.requests += int(getattr(session.target, "sent", 0))
    except (UsageError, HarnessError) as err:
        # nothing is lost: every requirement is reported as an error with the reason, then the run stops
        from conformance.run.session import close_run

        close_run(run, str(err))
        run.harness_errors.append(str(err))
        pytest.exit(shown(f"batch-conformance: error: {err}"), returncode=2)


def pytest_collection_finish(session: pytest.Session) -> None:
    """When the suite itself was collected, create the run's result object (every requirement: not run)."""
    if not any(_is_suite(i) for i in session.items):
        return
    from conformance.run.session import new_run

    try:
        settings = settings_from_config(session.config)
    except UsageError:
        return
    if settings.dry_run:  # print the reimage plan and run nothing
        from conformance.run.setup import dry_run

        try:
            text, code = dry_run(settings), 0
        except (UsageError, HarnessError) as err:
            text, code = f"batch-conformance: error: {err}", 2
        pytest.exit(text, returncode=code)
    selected = frozenset(m.args[0] for i in session.items for m in i.iter_markers("conformance_requirement"))
    run = new_run(settings, settings.target or "embedded emulator", __version__, selected)
    run.config[parallel.WORKERS_KEY] = 1
    session.config.stash[RUN_KEY] = run
    session.config.stash[_START] = time.monotonic()
    shared, started = None, None
    if parallel.is_worker(session.config):  # one part of a parallel run: limits shared, results to the controller
        shared, started = _worker_shared(session.config)
        share = parallel.WorkerShare(run, session.items)
        session.config.pluginmanager.register(share, "batch-conformance-worker")
        session.config.stash[SHARE_KEY] = share
    guard = Guard(max_duration=settings.max_duration, shared=shared, started=started)
    session.config.stash[GUARD_KEY] = guard
    _catch_stop_signals(session.config, guard)


def _worker_shared(config: pytest.Config) -> tuple[SharedRun | None, float | None]:
    """The run's shared limits and start, as the controller handed them to this worker."""
    given: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    if parallel.SHARED_INPUT not in given:  # a worker of a pytest-xdist run the suite's plugin did not start
        return None, None
    return SharedRun(given[parallel.SHARED_INPUT]), float(given[parallel.STARTED_INPUT])


def _catch_stop_signals(config: pytest.Config, guard: Guard) -> None:
    """SIGINT and SIGTERM stop the run: nothing more is sent, what is in flight is cut, every requirement left
    is reported undecided, and all three reports are written. A second signal stops at once."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may install handlers (a run started from another thread keeps pytest's)

    received: list[str] = []

    def on_signal(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if received:
            _restore_signals(config)
            raise KeyboardInterrupt
        received.append(name)
        guard.stop(f"interrupted by {name}")  # the verdict line says so; pytest captures the terminal meanwhile

    previous: dict[int, Any] = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    config.stash[_SIGNALS_KEY] = previous


def _restore_signals(config: pytest.Config) -> None:
    previous: dict[int, Any] = config.stash.get(_SIGNALS_KEY, {})
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    previous.clear()


_START = pytest.StashKey[float]()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the requirement properties in the order their verdicts depend on, whatever order they were
    collected in (run_phase: observed effects first, single-exchange requirements last)."""
    positions = [i for i, item in enumerate(items) if "requirement_id" in getattr(item, "fixturenames", ())]
    if not positions:
        return
    from conformance.run.session import run_phase

    ordered = sorted((items[i] for i in positions),
                     key=lambda item: run_phase(item.callspec.params["requirement_id"]))  # type: ignore[attr-defined]
    for i, item in zip(positions, ordered, strict=True):
        items[i] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Attach a failure's request, response and reproduction to the pytest-html row."""
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("conformance_requirement")
    if call.when != "call" or marker is None or RUN_KEY not in item.config.stash:
        return
    result = item.config.stash[RUN_KEY].requirements.get(marker.args[0])
    if result is not None and result.first_failure:
        from pytest_html import extras

        from conformance.reporting.report import failure_html

        report.extras = [*getattr(report, "extras", []), extras.html(failure_html(result))]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write results.json and junit.xml (one testcase per requirement); what never ran is an error."""
    config = session.config
    guard = config.stash.get(GUARD_KEY, None)
    share = config.stash.get(SHARE_KEY, None)
    if share is not None:  # a worker: the controller merges its share with the others' and writes the reports
        output: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
        output[parallel.OUTPUT] = share.output(guard.reason if guard is not None else "")
        return
    controller = config.stash.get(CONTROLLER_KEY, None)
    if controller is not None and RUN_KEY not in config.stash:
        merged = controller.merged(settings_from_config(config))
        if merged is None:
            return
        config.stash[RUN_KEY] = merged
    if RUN_KEY not in config.stash:
        return
    from conformance.reporting.report import write_reports
    from conformance.run.session import close_run

    run = config.stash[RUN_KEY]
    if guard is not None and guard.reason:
        run.stopped = guard.reason
    close_run(run, f"the run stopped early (pytest exit status {int(exitstatus)})")
    run.duration = time.monotonic() - config.stash.get(_START, time.monotonic())
    settings = settings_from_config(config)
    conclude(run, settings)
    write_reports(run, Path(settings.report_dir), badge=True)
    if controller is not None and settings.record:
        parallel.join_records(settings.record)
    if controller is not None and run.verdict == "fail" and session.exitstatus == pytest.ExitCode.OK:
        # a MUST failed on exchanges another worker made: pytest's status says so, as a serial run's would
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def conclude(run: RunResult, settings: Settings) -> None:
    """What a finished run adds to its results: the certification record, and the gate over its expectations."""
    from conformance.reporting.expectations import judge
    from conformance.reporting.record import certification_record
    from conformance.run.spec_driven import selected

    finished = datetime.now(UTC)
    run.record = certification_record(run, settings, finished=finished, swagger=selected(settings))
    if not settings.expectations:
        return
    try:
        expected = load_expectations(settings.expectations)
    except UsageError as err:  # read at the start; broken since: no gate, so the plain verdict decides the exit
        run.harness_errors.append(str(err))
        return
    run.gate = judge(expected, ((rid, r.requirement.level, r.status) for rid, r in run.requirements.items()),
                     file=settings.expectations, strict=settings.strict_expectations, today=finished.date(),
                     run_verdict=run.verdict)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the signals back and stop the watchdog, once every report is written."""
    _restore_signals(config)
    guard = config.stash.get(GUARD_KEY, None)
    if guard is not None:
        guard.close()
    controller = config.stash.get(CONTROLLER_KEY, None)
    if controller is not None:
        controller.close()


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    """Put the verdict, configuration and requirement matrix at the top of the HTML report."""
    if RUN_KEY not in session.config.stash:
        return
    from conformance.reporting.report import summary_html

    prefix.append(summary_html(session.config.stash[RUN_KEY]))


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    """Name the report after the product."""
    report.title = "batch-conformance report"


__all__ = ["HarnessError", "conformance_session", "conformance_settings"]
