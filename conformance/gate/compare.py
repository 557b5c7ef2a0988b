"""`batch-conformance compare OLD.json NEW.json`: what changed per requirement between two runs; exit 1 on a
regression.

A regression is a MUST requirement that fails in NEW and did not in OLD, or that passed in OLD and does not pass
in NEW (undecided, an error, not applicable, not run: the decision was lost, and a gate cannot say it still
holds). SHOULD requirements are reported the same way and, as in the verdict, never fail the comparison.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.gate.report import write_compare_reports
from conformance.reporting.results import read_results_file

EXIT_PASS, EXIT_REGRESSION = 0, 1
ABSENT = "not run"


@dataclass(frozen=True)
class Change:
    """One requirement's result in both runs, and what the move is called."""

    requirement: str
    level: str
    old: str
    new: str

    @property
    def kind(self) -> str:
        """unchanged, new failure, fixed, newly undecided, newly error, newly passing, ... ('old -> new' else)."""
        old, new = self.old, self.new
        if old == new:
            return "unchanged"
        if new == "fail":
            return "new failure"
        if old == ABSENT:
            return f"added ({new})"
        if new == ABSENT:
            return "not run"
        if old == "fail":
            return "fixed" if new == "pass" else f"no longer failing ({new})"
        if new == "pass":
            return "newly passing"
        if new in ("undecided", "error"):
            return f"newly {new}"
        return "now not applicable" if new == "not-applicable" else f"{old} -> {new}"

    @property
    def regression(self) -> bool:
        """A MUST that failed anew, or that passed and no longer does."""
        if self.level != "MUST":
            return False
        return (self.new == "fail" and self.old != "fail") or (self.old == "pass" and self.new != "pass")

    def to_json(self) -> dict[str, Any]:
        """As compare.json shows it."""
        return {"requirement": self.requirement, "level": self.level, "old": self.old, "new": self.new,
                "change": self.kind, "regression": self.regression}


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side: every requirement's change, and the failure signatures that came and went."""

    old_file: str
    new_file: str
    old: dict[str, Any]
    new: dict[str, Any]
    changes: tuple[Change, ...]

    @property
    def regressions(self) -> list[Change]:
        """The changes that fail the comparison."""
        return [c for c in self.changes if c.regression]

    @property
    def verdict(self) -> str:
        """fail on any regression, else pass."""
        return "fail" if self.regressions else "pass"

    def buckets(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The failure signatures only NEW has, and those only OLD had (by their stable id)."""
        old = {b["id"]: b for b in self.old.get("buckets") or []}
        new = {b["id"]: b for b in self.new.get("buckets") or []}
        return [b for i, b in new.items() if i not in old], [b for i, b in old.items() if i not in new]

    def differences(self) -> list[str]:
        """What else differs between the runs (a comparison across targets or versions says so)."""
        keys = ("target", "api_version", "profile", "seed")
        return [f"{k}: {self.old.get(k)} -> {self.new.get(k)}" for k in keys if self.old.get(k) != self.new.get(k)]

    def to_json(self) -> dict[str, Any]:
        """The compare.json document."""
        came, went = self.buckets()
        side = ("verdict", "target", "api_version", "profile", "seed", "suite_version")
        return {"verdict": self.verdict, "old": {"file": self.old_file, **{k: self.old.get(k) for k in side}},
                "new": {"file": self.new_file, **{k: self.new.get(k) for k in side}},
                "differences": self.differences(), "regressions": [c.requirement for c in self.regressions],
                "changes": [c.to_json() for c in self.changes if c.kind != "unchanged"],
                "unchanged": sum(1 for c in self.changes if c.kind == "unchanged"),
                "buckets": {"new": came, "gone": went}}


def compare(old: dict[str, Any], new: dict[str, Any], *, old_file: str = "OLD", new_file: str = "NEW") -> Comparison:
    """Compare two results.json documents (as read_results_file returns them), requirement by requirement."""
    a, b = old["requirements"], new["requirements"]
    ids = list(a) + [rid for rid in b if rid not in a]
    changes = tuple(Change(rid, (b.get(rid) or a[rid])["level"], a.get(rid, {}).get("status", ABSENT),
                           b.get(rid, {}).get("status", ABSENT)) for rid in ids)
    return Comparison(old_file, new_file, old, new, changes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """OLD.json NEW.json [--report-dir DIR]."""
    parser.add_argument("old", metavar="OLD_JSON", help="the results.json to compare against (a baseline)")
    parser.add_argument("new", metavar="NEW_JSON", help="the results.json of the run under review")
    parser.add_argument("--report-dir", default="reports/compare",
                        help="where compare.json, junit.xml and report.html go (default: reports/compare)")


def main(args: argparse.Namespace) -> int:
    """Compare, write the reports, print each change; exit 1 on a regression, 2 for a bad file."""
    result = compare(read_results_file(args.old), read_results_file(args.new), old_file=args.old,
                     new_file=args.new)
    write_compare_reports(result, Path(args.report_dir))
    for line in result.differences():
        print(f"  note: the runs differ in {line}")
    for change in result.changes:
        if change.kind != "unchanged":
            flag = "REGRESSION " if change.regression else ""
            print(f"  {flag}{change.kind}: {change.requirement} ({change.level}) {change.old} -> {change.new}")
    came, _ = result.buckets()
    for bucket in came:
        print(f"  new failure signature [{bucket['id']}] {bucket['title']}: {', '.join(bucket['requirements'])}")
    print(f"batch-conformance compare: {result.verdict.upper()}; {len(result.regressions)} regression(s), "
          f"{sum(1 for c in result.changes if c.kind not in ('unchanged',))} change(s); reports in {args.report_dir}/")
    return EXIT_REGRESSION if result.regressions else EXIT_PASS
