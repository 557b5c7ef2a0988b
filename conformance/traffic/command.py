"""`batch-conformance validate-traffic`: check recorded exchanges against every single-exchange requirement.

Input: HAR 1.2 files, Azure SDK test-proxy recordings and JSON exchanges (traffic.read). Nothing is sent
anywhere.

Each exchange gets an Oracle without inventory at the api-version its URL names; reimage exchanges meet
every check registered offline=True, other Batch operations only the generic rules (request-id, BatchError,
content type, the client-request-id echo), and so do reimage exchanges at an api-version the suite has no
data for. Requirements that need a live target are reported as skipped, never as passed.

A value a recorder's sanitizer replaced (traffic.placeholders) is unknown: where the verdict on an exchange
changes when its placeholders are replaced by well-formed stand-ins, the placeholder decided it, and the
requirement is left undecided for that exchange, never failed nor passed. How many exchanges each
requirement lost that way, and to which values, is in results.json (config "placeholders"), in the reason
of a requirement left undecided, in the report and in the closing line.

The HTML report is our own self-contained page (report.page around report.summary_html, the same summary
and matrix as the run report, plus the placeholder table) rather than a pytest-html page: a nested pytest
session would add seconds and a second plugin configuration for no information a reviewer needs.
"""

from __future__ import annotations

import argparse
import html
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance import __version__, checks
from conformance.models import Exchange, Observations, Request, RequirementFailure, Response, UsageError
from conformance.oracle import Oracle
from conformance.redaction import redact_text
from conformance.reporting.failures import curl_command, failure_record
from conformance.reporting.report import page, summary_html, write_reports
from conformance.reporting.results import RequirementResult, RunResult
from conformance.spec import catalogue, default_version, versions
from conformance.traffic.placeholders import Placeholder, with_stand_ins
from conformance.traffic.read import Recorded, read_traffic

__all__ = ["Recorded", "add_arguments", "main", "read_traffic", "validate"]

# Rules every Batch operation follows; other operations' exchanges are checked against these only.
GENERIC = tuple(rid for rid, home in checks.CHECKS.items() if home.generic)
MAX_LOCATIONS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE... and --report-dir."""
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="HAR 1.2 files, Azure SDK test-proxy recordings or JSON exchange files")
    parser.add_argument("--report-dir", default="reports",
                        help="where results.json, junit.xml and report.html go (default: reports)")


# --- checking -------------------------------------------------------------------------------------
def _failure(rec: Recorded, failure: RequirementFailure, exchange: Exchange) -> dict[str, Any]:
    curl = ("# the recorded request, as it was sent (this sends it again)\n"
            + curl_command(rec.request, rec.base_url or "https://ACCOUNT.REGION.batch.azure.com"))
    record = failure_record(exchange, failure, url=rec.url, curl=curl,
                            reproduce=f"batch-conformance validate-traffic {shlex.quote(rec.file)}")
    return record | {"location": rec.location}


Verdict = tuple[Literal["met", "failed", "not applicable"], RequirementFailure | None]


def _verdict(requirement: str, exchange: Exchange) -> Verdict:
    try:
        return ("met" if checks.evaluate(requirement, exchange) else "not applicable"), None
    except RequirementFailure as failure:
        return "failed", failure


@dataclass
class _Hidden:
    """The exchanges on which placeholders left one requirement undecided, and the values that did it."""

    exchanges: int = 0
    values: set[str] = field(default_factory=set)
    locations: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"exchanges": self.exchanges, "values": sorted(self.values), "locations": self.locations}


class _Validator:
    """Applies the offline checks to recorded exchanges and accumulates per-requirement results."""

    def __init__(self, run: RunResult) -> None:
        self.run = run
        self.oracles: dict[str, Oracle] = {}
        self.offline = {rid for rid, c in checks.CHECKS.items() if c.offline}
        self.hidden: dict[str, _Hidden] = {}
        self.seen: set[str] = set()  # every placeholder value met, decisive or not
        self.with_placeholders = 0

    def _oracle(self, api_version: str) -> Oracle:
        if api_version not in self.oracles:
            self.oracles[api_version] = Oracle(None, api_version)
        return self.oracles[api_version]

    def applicable(self, rec: Recorded) -> tuple[str, list[str]]:
        """(api-version to judge by, the requirement IDs this exchange may decide)."""
        named = rec.api_version
        known = named in versions()
        judged = named if named is not None and known else default_version()
        if rec.is_reimage_path and (known or named is None):
            rids = sorted(self.offline)
        else:  # another operation, or an api-version the suite has no data for: the generic rules only
            rids = [rid for rid in GENERIC if rid in self.offline]
        return judged, [rid for rid in rids if rid in self.run.requirements]

    def _exchange(self, rec: Recorded, request: Request, response: Response, base_url: str,
                  api_version: str) -> Exchange:
        return Exchange(request, response, self._oracle(api_version).expect(request), api_version, base_url,
                        Observations(location=rec.location))

    def _stand_in(self, rec: Recorded, api_version: str, placeholders: tuple[Placeholder, ...]) -> Exchange:
        """The exchange with these placeholders replaced by well-formed stand-ins."""
        request, response, base = with_stand_ins(rec.request, rec.response, rec.base_url, placeholders,
                                                 rec.location)
        return self._exchange(rec, request, response, base, api_version)

    def check(self, rec: Recorded) -> None:
        """Decide every applicable requirement on one exchange; a placeholder's verdict is no verdict."""
        api_version, rids = self.applicable(rec)
        exchange = self._exchange(rec, rec.request, rec.response, rec.base_url, api_version)
        witness = self._stand_in(rec, api_version, rec.placeholders) if rec.placeholders else None
        if rec.placeholders:
            self.with_placeholders += 1
            self.seen.update(str(p) for p in rec.placeholders)
        for rid in rids:
            verdict = _verdict(rid, exchange)
            if witness is not None and _verdict(rid, witness)[0] != verdict[0]:
                self._hidden(rid, rec, api_version, verdict)
            else:
                self._record(rid, rec, exchange, verdict)

    def _hidden(self, rid: str, rec: Recorded, api_version: str, verdict: Verdict) -> None:
        """A placeholder decided this verdict: name the placeholders whose stand-in alone changes it."""
        deciding = [p for p in rec.placeholders
                    if _verdict(rid, self._stand_in(rec, api_version, (p,)))[0] != verdict[0]]
        tally = self.hidden.setdefault(rid, _Hidden())
        tally.exchanges += 1
        tally.values.update(str(p) for p in deciding or rec.placeholders)
        if len(tally.locations) < MAX_LOCATIONS:
            tally.locations.append(rec.location)

    def _record(self, rid: str, rec: Recorded, exchange: Exchange, verdict: Verdict) -> None:
        result = self.run.requirements[rid]
        kind, failure = verdict
        if failure is not None:
            result.broke()
            if result.first_failure is None:
                result.fail(_failure(rec, failure, exchange))
            else:
                others = result.first_failure.setdefault("other_locations", [])
                if len(others) < MAX_LOCATIONS:
                    others.append(rec.location)
        elif kind == "met":
            result.met()

    def finish(self) -> None:
        """Settle every requirement: pass where an exchange decided it and none broke it, else say why not."""
        for rid, result in self.run.requirements.items():
            hidden = self.hidden.get(rid)
            if rid not in self.offline:
                result.not_applicable("not decidable from recorded traffic: needs a live target (inventory, node "
                                      "state or several exchanges)")
            elif hidden is not None:
                result.settle(f"on {hidden.exchanges} recorded exchange(s) a sanitizer placeholder hid the deciding "
                              f"value ({'; '.join(sorted(hidden.values))})",
                              remedy="a recording whose deciding values are not sanitized")
            else:
                result.settle("no recorded exchange could decide it", remedy="record traffic that exercises it")
        self.run.config["placeholders"] = {
            "exchanges with placeholders": self.with_placeholders, "values": sorted(self.seen),
            "undecided": {rid: tally.to_json() for rid, tally in sorted(self.hidden.items())}}


def validate(files: list[str]) -> RunResult:
    """Read every file (all of them before checking any) and return the run's results."""
    started = time.monotonic()
    recorded = [rec for f in files for rec in read_traffic(f)]
    seen = sorted({rec.api_version or "(none)" for rec in recorded})
    run = RunResult(target="traffic: " + ", ".join(files), api_version=", ".join(seen) or "(none)", seed=None,
                    profile="recorded traffic", suite_version=__version__,
                    config={"files": list(files), "exchanges": len(recorded),
                            "reimage exchanges": sum(1 for r in recorded if r.is_reimage_path)})
    for rid, requirement in catalogue().items():
        run.requirements[rid] = RequirementResult(requirement)
    validator = _Validator(run)
    for rec in recorded:
        validator.check(rec)
    validator.finish()
    run.duration = time.monotonic() - started
    return run


def placeholders_html(run: RunResult) -> str:
    """The report's table of requirements left undecided by sanitizer placeholders, per requirement."""
    info = run.config.get("placeholders") or {}
    hidden: dict[str, Any] = info.get("undecided") or {}

    def e(value: Any) -> str:
        return html.escape(redact_text(str(value)))
    rows = "".join(f'<tr data-requirement="{e(rid)}"><td>{e(rid)}</td><td class="bc-hidden-n">{t["exchanges"]}</td>'
                   f'<td>{"<br>".join(e(v) for v in t["values"])}</td></tr>' for rid, t in hidden.items())
    table = (f'<table id="bc-placeholders"><tr><th>requirement</th><th>exchanges left undecided</th>'
             f"<th>placeholder values that decided it</th></tr>{rows}</table>" if rows else "<p>None.</p>")
    return (f'<section id="bc-placeholder-section"><h3>Sanitizer placeholders</h3><p>'
            f'{info.get("exchanges with placeholders", 0)} exchange(s) hold values a recorder replaced '
            "(Sanitized, REDACTED). Where such a value decided a requirement, that exchange leaves the "
            f"requirement undecided: never failed, never passed.</p>{table}</section>")


def _summary_line(run: RunResult, report_dir: Path) -> str:
    failed = sorted(rid for rid, r in run.requirements.items() if r.status == "fail")
    hidden = (run.config.get("placeholders") or {}).get("undecided") or {}
    left = sum(t["exchanges"] for t in hidden.values())
    return (f"batch-conformance: validated {run.config['exchanges']} exchange(s); verdict {run.verdict.upper()}"
            + (f"; failing: {', '.join(failed)}" if failed else "")
            + (f"; {left} verdict(s) of {len(hidden)} requirement(s) left undecided by sanitizer placeholders"
               if hidden else "")
            + f"; reports in {report_dir}/ (results.json, junit.xml, report.html)")


def main(args: argparse.Namespace) -> int:
    """Validate, write the three reports, exit 0 (no MUST failed), 1 (a MUST failed) or 2 (bad input)."""
    run = validate(list(args.files))
    report_dir = Path(args.report_dir)
    try:
        write_reports(run, report_dir)
        (report_dir / "report.html").write_text(page("batch-conformance traffic validation",
                                                     summary_html(run) + placeholders_html(run)), encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write reports to {report_dir}: {err.strerror}") from None
    print(_summary_line(run, report_dir), file=sys.stdout)
    return 1 if run.verdict == "fail" else 0
