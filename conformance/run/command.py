"""`batch-conformance run`: the suite through pytest, then an exit code from the verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.inventory import load_inventory
from conformance.models import UsageError
from conformance.run.plugin import OPTIONS, load_run_settings

SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"
EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run flags: the same names as the pytest plugin's options."""
    for flag, dest, kwargs in OPTIONS:
        parser.add_argument(flag, dest=dest, default=None, **kwargs)
    parser.add_argument("-q", "--quiet", action="store_true", help="less pytest output")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {f[1]: getattr(args, f[1]) for f in OPTIONS}


def pytest_args(args: argparse.Namespace, report_dir: Path) -> list[str]:
    """Translate run flags into the pytest command line that runs the suite."""
    argv = [str(SUITE_DIR), "-p", "no:cacheprovider", "--assert=plain", "--rootdir", str(SUITE_DIR),
            "-c", str(SUITE_DIR / "pytest.ini"),
            f"--html={report_dir / 'report.html'}", "--self-contained-html",
            "-q" if args.quiet else "-v", "-rfEs", "--tb=no", "-W", "ignore::pytest.PytestUnknownMarkWarning"]
    for flag, dest, kwargs in OPTIONS:
        value = getattr(args, dest)
        if value is None:
            continue
        if kwargs.get("action") == "store_const":
            argv.append(flag)
        elif kwargs.get("action") == "append":
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def _exit_code(results_path: Path, pytest_code: int) -> int:
    try:
        results = json.loads(results_path.read_text())
    except (OSError, ValueError):
        print(f"batch-conformance: error: the run wrote no results ({results_path}); pytest exit code "
              f"{pytest_code}", file=sys.stderr)
        return EXIT_ERROR
    verdict = results.get("verdict")
    print(f"batch-conformance: verdict {str(verdict).upper()}; reports in {results_path.parent}/ "
          "(results.json, junit.xml, report.html)")
    if verdict == "fail":
        return EXIT_FAIL
    if verdict == "error" or pytest_code not in (0, 1):
        return EXIT_ERROR
    return EXIT_PASS


def main(args: argparse.Namespace) -> int:
    """Validate the flags, run the suite, and exit 0 (pass), 1 (a MUST failed) or 2 (usage/harness)."""
    settings = load_run_settings({k.removeprefix("bc_"): v for k, v in _flags(args).items()
                                  if k not in ("bc_config", "bc_no_schemathesis")} |
                                 {"schemathesis": False if args.bc_no_schemathesis else None},
                                 config_file=args.bc_config)
    if settings.inventory:
        load_inventory(settings.inventory)  # a malformed inventory is a usage error before anything runs
    report_dir = Path(settings.report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create --report-dir {report_dir}: {err.strerror}") from None
    results = report_dir / "results.json"
    results.unlink(missing_ok=True)
    code = pytest.main(pytest_args(args, report_dir))
    return _exit_code(results, int(code))
