"""`batch-conformance run`: the suite through pytest, then an exit code from the verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance.models import UsageError
from conformance.reporting.failures import shown
from conformance.run.plugin import OPTIONS, add_shared_arguments, run_settings

SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run flags: the plugin's option table under their short names (`--target`, not `--bc-target`)."""
    add_shared_arguments(parser)
    parser.add_argument("--workers", metavar="N|auto", default=None,
                        help="processes sending the run's requests, each with its own embedded emulator (default "
                             "auto: one per core, at most 4, for standard and thorough runs against the embedded "
                             "emulator, else one; a --target URL runs on one unless --parallel-target)")
    parser.add_argument("-q", "--quiet", action="store_true", help="less pytest output")


def pytest_args(args: argparse.Namespace, report_dir: Path, workers: int = 1) -> list[str]:
    """Translate run flags into the pytest command line that runs the suite (the plugin's --bc-* flags; `-n N`
    through pytest-xdist for N workers). Schemathesis's own pytest plugin stays off: the suite uses Schemathesis as
    a library, and the plugin would import it (and Hypothesis) into every process at start-up."""
    argv = [str(SUITE_DIR), "-p", "no:cacheprovider", "-p", "no:schemathesis", "--assert=plain",
            "--rootdir", str(SUITE_DIR), "-c", str(SUITE_DIR / "pytest.ini"),
            f"--html={report_dir / 'report.html'}", "--self-contained-html",
            "-q" if args.quiet else "-v", "-rfEs", "--tb=no", "-W", "ignore::pytest.PytestUnknownMarkWarning"]
    if workers > 1:
        argv += ["-n", str(workers)]
    for option in OPTIONS:
        value = getattr(args, option.dest)
        if value is None:
            continue
        if option.kwargs.get("action") == "store_const":
            argv.append(option.pytest_flag)
        elif option.kwargs.get("action") == "append":
            for item in value:
                argv += [option.pytest_flag, str(item)]
        else:
            argv += [option.pytest_flag, str(value)]
    return argv


def _exit_code(results_path: Path, pytest_code: int) -> int:
    from conformance.reporting.report import closing_lines

    try:
        results = json.loads(results_path.read_text())
    except (OSError, ValueError):
        print(f"batch-conformance: error: the run wrote no results ({results_path}); pytest exit code "
              f"{pytest_code}", file=sys.stderr)
        return EXIT_ERROR
    verdict = results.get("verdict")
    stopped = f" (the run stopped sending: {results['stopped']})" if results.get("stopped") else ""
    print(shown(f"batch-conformance: verdict {str(verdict).upper()}{stopped}{_not_applicable(results)}; reports in "
                f"{results_path.parent}/ (results.json, junit.xml, report.html, badge.svg)"))
    for line in closing_lines(results):
        print(shown(line))
    gate = results.get("expectations")
    if isinstance(gate, dict):  # with an expectations file, the exit code counts only what it did not expect
        verdict = gate.get("verdict")
    if verdict == "fail":
        return EXIT_FAIL
    if verdict == "error" or pytest_code not in (0, 1):
        return EXIT_ERROR
    if verdict == "incomplete":
        if not isinstance(gate, dict):  # the gate's lines already named each unexpected undecided requirement
            _print_undecided(results)
        return EXIT_INCOMPLETE
    return EXIT_PASS


def _print_undecided(results: dict[str, Any]) -> None:
    """Each applicable MUST requirement left undecided, why, and what would decide it."""
    for rid, entry in results.get("requirements", {}).items():
        if entry.get("level") == "MUST" and entry.get("status") == "undecided":
            remedy = f"; to decide it: {entry['remedy']}" if entry.get("remedy") else ""
            print(f"  undecided {rid}: {entry.get('reason', '')}{remedy}")


def _not_applicable(results: dict[str, Any]) -> str:
    """'; N case(s) not applicable to the SDK target (...)' when the run counted any."""
    from conformance.run.setup import NOT_APPLICABLE_KEY

    counts = (results.get("config") or {}).get(NOT_APPLICABLE_KEY)
    if not isinstance(counts, dict) or not counts.get("cases"):
        return ""
    why = ", ".join(f"{n} {k}" for k, n in counts.items() if k != "cases")
    return f"; {counts['cases']} case(s) not applicable to the SDK target ({why})"


def main(args: argparse.Namespace) -> int:
    """Validate the flags, run the suite, and exit 0 (pass), 1 (a MUST failed) or 2 (usage/harness)."""
    import pytest

    from conformance.inventory import load_inventory
    from conformance.run.parallel import worker_count

    settings = run_settings(args)
    workers = worker_count(args.workers, settings)
    if settings.inventory:
        load_inventory(settings.inventory)  # a malformed inventory is a usage error before anything runs
    if settings.dry_run:
        from conformance.run.setup import dry_run

        print(dry_run(settings))
        return EXIT_PASS
    if settings.target:
        from conformance.run.setup import prepare_sdk

        prepare_sdk(settings.target)  # an SDK release that cannot be installed: one line, before pytest starts
    report_dir = Path(settings.report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create --report-dir {report_dir}: {err.strerror}") from None
    results = report_dir / "results.json"
    results.unlink(missing_ok=True)
    code = pytest.main(pytest_args(args, report_dir, workers))
    return _exit_code(results, int(code))
