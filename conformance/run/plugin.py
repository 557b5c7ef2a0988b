"""The pytest plugin (pytest11 entry point): options, the session fixture, reports at session end."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from conformance import __version__
from conformance.config import Settings, load_settings
from conformance.models import HarnessError, UsageError
from conformance.reporting.results import RunResult
from conformance.spec import Requirement

RUN_KEY = pytest.StashKey[RunResult]()
SETTINGS_KEY = pytest.StashKey[Settings]()


@dataclass(frozen=True)
class Option:
    """One row of the option table: `--NAME` for `batch-conformance run`, `--bc-NAME` in pytest (where the
    plugin shares the command line with other plugins), and dest bc_NAME in both."""

    name: str
    kwargs: dict[str, Any]
    run_name: str = ""  # the run's flag when it is not the plain name

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
                                                "sdk+URL drives the azure-batch SDK"}),
    Option("inventory", {"metavar": "FILE", "help": "inventory JSON file of the target's pools and nodes"}),
    Option("api-version", {"metavar": "VERSION", "help": "api-version to certify"}),
    Option("profile", {"metavar": "PROFILE", "help": "quick | standard | thorough"}),
    Option("seed", {"metavar": "N", "type": int, "help": "seed that replays a run exactly"}),
    Option("report-dir", {"metavar": "DIR", "help": "where results.json, junit.xml, report.html go"}),
    Option("emulator-fault", {"metavar": "FAULT", "help": "start the embedded emulator with this fault"}),
    Option("only", {"metavar": "REQUIREMENT", "action": "append", "help": "run only this requirement ID (repeatable)"}),
    Option("allow-destructive", {"action": "store_const", "const": True, "help": "allow requests that really reimage"}),
    Option("max-reimages", {"metavar": "N", "type": int, "help": "at most N accepted reimages (default 1)"}),
    Option("disposable", {"action": "store_const", "const": True,
                          "help": "the --target URL is your own throwaway emulator: reimage any node, no budget"}),
    Option("dry-run", {"action": "store_const", "const": True,
                       "help": "print the reimage plan and send nothing that could reimage"}),
    Option("rate", {"metavar": "PER_SECOND", "type": float, "help": "at most N requests per second"}),
    Option("request-timeout", {"metavar": "SECONDS", "type": float, "help": "seconds per request"}),
    Option("watch-seconds", {"metavar": "SECONDS", "type": float,
                             "help": "after a live reimage, watch the node this long (default 900)"}),
    Option("record", {"metavar": "HAR_FILE", "help": "write the traffic sent as HAR to this file"}),
    Option("account-name", {"metavar": "NAME", "help": "Batch account name for Shared Key"}),
    Option("auth", {"metavar": "SCHEME", "help": "none | sharedkey | entra | bearer"}),
    Option("no-schemathesis", {"action": "store_const", "const": True, "help": "switch the spec-driven layer off"}),
    Option("config", {"metavar": "TOML_FILE", "help": "TOML config file ([batch-conformance] table)"},
           run_name="bc-config"),
)
_NOT_SETTINGS = ("bc_config", "bc_no_schemathesis")  # options that are not a Settings field of the same name


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options, namespaced (`pytest --bc-target URL --pyargs conformance.suite`)."""
    group = parser.getgroup("batch-conformance")
    for option in OPTIONS:
        group.addoption(option.pytest_flag, dest=option.dest, default=None, **option.kwargs)


def run_settings(values: Any) -> Settings:
    """Settings for a run from parsed options (argparse's namespace or pytest's config.option): the config
    layer's checks, then the fault name against the emulator's catalogue (here, not in config: config sits
    below the emulator, and the run is the part that starts it)."""
    flags = {o.dest.removeprefix("bc_"): getattr(values, o.dest) for o in OPTIONS if o.dest not in _NOT_SETTINGS}
    flags["schemathesis"] = False if values.bc_no_schemathesis else None
    settings = load_settings(flags, config_file=values.bc_config)
    if settings.emulator_fault:
        from conformance.emulator.faults import FAULTS  # lazily: it loads uvicorn

        if settings.emulator_fault not in FAULTS:
            raise UsageError(f"--emulator-fault {settings.emulator_fault!r} is not a fault of the emulator "
                             "(batch-conformance emulator --list-faults)")
    return settings


def settings_from_config(config: pytest.Config) -> Settings:
    """Settings from pytest options, the environment and the config file (resolved once per run)."""
    if SETTINGS_KEY not in config.stash:
        config.stash[SETTINGS_KEY] = run_settings(config.option)
    return config.stash[SETTINGS_KEY]


def _is_suite(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in ("conformance_requirement", "spec_driven"))


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's marker."""
    config.addinivalue_line("markers", "conformance_requirement(id): a catalogue requirement's test")
    config.addinivalue_line("markers", "spec_driven: the Schemathesis-driven layer of the suite")


def fail_requirement(requirement: Requirement, message: str) -> NoReturn:
    """End a requirement's test as failed: a MUST fails it, a SHOULD is an expected failure (a warning that
    never changes the verdict). The one place both layers decide how a broken requirement shows in pytest."""
    text = f"{requirement.id} ({requirement.level}, {requirement.source}): {message}"
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
    try:
        with open_session(conformance_settings, run) as session:
            yield session
    except (UsageError, HarnessError) as err:
        # nothing is lost: every requirement is reported as an error with the reason, then the run stops
        from conformance.run.session import close_run

        close_run(run, str(err))
        run.harness_errors.append(str(err))
        pytest.exit(f"batch-conformance: error: {err}", returncode=2)


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
    session.config.stash[RUN_KEY] = new_run(settings, settings.target or "embedded emulator", __version__,
                                            selected)
    session.config.stash[_START] = time.monotonic()


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
    if RUN_KEY not in config.stash:
        return
    from conformance.reporting.report import write_reports
    from conformance.run.session import close_run

    run = config.stash[RUN_KEY]
    close_run(run, f"the run stopped early (pytest exit status {int(exitstatus)})")
    run.duration = time.monotonic() - config.stash.get(_START, time.monotonic())
    write_reports(run, Path(settings_from_config(config).report_dir))


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
