"""`batch-conformance expectations update RESULTS [--file FILE]`: write or refresh an expectations file from a run.

Every failure and every undecided MUST requirement of the run is listed; a listed requirement that now passes is
dropped; reasons, links and expiry dates already written are kept (comments are not: the file is rewritten).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from conformance.models import UsageError
from conformance.reporting.expectations import EXPECTABLE, load_expectations, refresh, render_expectations
from conformance.reporting.results import read_results_file

DEFAULT_FILE = "conformance-expectations.toml"
HEADER = f"""Expected results for batch-conformance: `batch-conformance run --expectations FILE` counts only what this
file does not expect (a new failure, an applicable MUST newly undecided, an expired entry; a listed requirement
that passes is an unexpected pass, failing the run only with --strict-expectations).
Each entry: expected = {" | ".join(EXPECTABLE)}; reason (why it is accepted); link and expires = YYYY-MM-DD optional.
Refresh with `batch-conformance expectations update reports/results.json --file FILE`: reasons, links and expiry
dates are kept, comments are not."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`expectations update RESULTS [--file FILE]`."""
    sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    update = sub.add_parser("update", help="write or refresh the expectations file from a run's results.json",
                            description="write or refresh the expectations file from a run's results.json, "
                                        "keeping the reasons already written")
    update.add_argument("results", metavar="RESULTS_JSON", help="the results.json of a run (reports/results.json)")
    update.add_argument("--file", default=DEFAULT_FILE, metavar="TOML_FILE",
                        help=f"the expectations file to write or refresh (default: {DEFAULT_FILE})")


def main(args: argparse.Namespace) -> int:
    """Refresh the file and say what changed; 2 (a one-line error) for a bad results.json or expectations file."""
    results = read_results_file(args.results)
    path = Path(args.file)
    existing = load_expectations(path) if path.exists() else {}
    entries, changes = refresh(existing, results["requirements"], args.results)
    try:
        path.write_text(render_expectations(entries, header=HEADER), encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write expectations file {path}: {err.strerror}") from None
    for line in changes:
        print(f"  {line}")
    todo = sum(1 for e in entries if e.reason.startswith("TODO"))
    print(f"batch-conformance: {len(entries)} expectation(s) in {path} ({len(changes)} change(s))"
          + (f"; {todo} reason(s) still say TODO: write why each result is accepted" if todo else ""))
    return 0
