"""The batch-conformance command: run | emulator | validate-traffic | diff | sdk | expectations | compare."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from conformance.models import HarnessError, UsageError
from conformance.reporting.failures import shown

# name -> (module implementing add_arguments(parser) and main(args) -> int, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("conformance.run.command", "run the conformance suite against a target and write reports"),
    "emulator": ("conformance.emulator.command", "serve the reference emulator on loopback"),
    "validate-traffic": ("conformance.traffic.command", "check recorded traffic (HAR or JSON exchanges) offline"),
    "diff": ("conformance.diff.command", "send the same cases at two api-versions and classify every difference"),
    "sdk": ("conformance.targets.sdk_env", "prepare an azure-batch release's own environment (sdk install VERSION)"),
    "expectations": ("conformance.gate.update", "write or refresh the expectations file (known deviations) from a run"),
    "compare": ("conformance.gate.compare", "compare two runs' results.json per requirement; exit 1 on a regression"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line message (never a traceback) on a bad flag."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand, with the flags of `chosen` (all of them when None). Only the chosen
    subcommand's module is imported, so that `--help` and a run's first request do not wait for the others'
    imports (pytest, Hypothesis, Schemathesis, uvicorn, azure-batch)."""
    parser = _Parser(prog="batch-conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is None or name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(subparser)
            subparser.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn the suite's own errors into clear messages."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((arg for arg in argv if not arg.startswith("-")), "")  # no subcommand: argparse says which
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(args._main(args))
    except (UsageError, HarnessError) as err:
        print(f"batch-conformance: error: {shown(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("batch-conformance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
