"""The diff's results and its outputs: diff.json, junit.xml (a testcase per change and difference kind), HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance.diff.classify import Change, Side, Verdict
from conformance.models import Request
from conformance.redaction import redact_text
from conformance.reporting.failures import html_text, request_record
from conformance.reporting.junit import Case, Outcome
from conformance.reporting.junit import write_junit as write_junit_file
from conformance.reporting.report import STATUS_COLOURS, page

CLASS_COLOURS = {"expected": STATUS_COLOURS["pass"], "unexpected": STATUS_COLOURS["fail"],
                 "inconclusive": STATUS_COLOURS["not-applicable"]}
ChangeStatus = Literal["observed", "unexpected", "no-difference", "not-exercised"]


def change_key(change: Change) -> str:
    """A stable name for a documented change: '2024-07-01.20.0 vm_pool_allowed', '15.1.0 error_type'."""
    return f"{change.to} {change.aspect}"


@dataclass(frozen=True)
class CaseDiff:
    """One case whose two sides differ (or were predicted to and did not)."""

    a: Side
    b: Side
    verdict: Verdict

    @property
    def kind(self) -> str:
        """Differences of one kind share classification, both normalised answers and the cited changes."""
        cited = ", ".join(change_key(c) for c in self.verdict.changes)
        return (f"{self.verdict.classification}: {self.a.observed.describe()} -> {self.b.observed.describe()}"
                + (f" ({cited})" if cited else ""))


def request_json(request: Request) -> dict[str, Any]:
    """A request as reports show it, secrets redacted and big bodies cut (the path stands for the URL)."""
    record = request_record(request, request.path_and_query)
    return {"method": record["method"], "path": record["url"], "headers": record["headers"], "body": record["body"]}


def _side_json(side: Side) -> dict[str, Any]:
    return {"api_version": side.version.id, "request": request_json(side.request),
            "observed": side.observed.to_json(), "answered": side.observed.describe(),
            "expected": side.expectation.describe()}


def _change_json(change: Change) -> dict[str, str]:
    """An api-version change names the requirement it governs; an SDK change the release and its source."""
    requirement = getattr(change, "requirement", "")
    return {"to": change.to, "aspect": change.aspect, "requirement": requirement or f"azure-batch {change.to}",
            "change": change.change, "source": getattr(change, "source", "spec/versions.json")}


@dataclass
class DiffResult:
    """Everything one diff found: cases compared and withheld, which changes were exercised, differences."""

    from_version: str
    to_version: str
    targets: tuple[str, str]  # as the user wrote them (an SDK target names its release)
    seed: int
    profile: str
    emulator_fault: str | None
    between: list[Change]
    compared: int = 0
    withheld: list[str] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)
    differences: list[CaseDiff] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    duration: float = 0.0

    def count(self, classification: str) -> int:
        """How many differences got this classification."""
        return sum(1 for d in self.differences if d.verdict.classification == classification)

    @property
    def verdict(self) -> Literal["pass", "fail", "error"]:
        """fail on any unexpected difference; error when the harness broke or nothing could be compared."""
        if self.count("unexpected"):
            return "fail"
        if self.harness_errors or not self.compared:
            return "error"
        return "pass"

    def kinds(self) -> list[dict[str, Any]]:
        """Differences grouped by kind, unexpected first, each with a count and its first example."""
        groups: dict[str, list[CaseDiff]] = {}
        for d in self.differences:
            groups.setdefault(d.kind, []).append(d)
        order = {"unexpected": 0, "inconclusive": 1, "expected": 2}
        out = []
        for kind, items in sorted(groups.items(), key=lambda kv: (order[kv[1][0].verdict.classification], kv[0])):
            first = items[0]
            out.append({"kind": kind, "classification": first.verdict.classification, "count": len(items),
                        "reason": first.verdict.reason, "changes": [_change_json(c) for c in first.verdict.changes],
                        "example": {"from": _side_json(first.a), "to": _side_json(first.b)}})
        return out

    def change_status(self, change: Change) -> tuple[ChangeStatus, str]:
        """Whether a documented change showed as documented, showed wrongly, made no difference or was untried."""
        key = change_key(change)
        citing = [d for d in self.differences if change in d.verdict.changes]
        bad = [d for d in citing if d.verdict.classification == "unexpected"]
        good = [d for d in citing if d.verdict.classification == "expected"]
        touched = self.touched.get(key, 0)
        if bad:
            return "unexpected", f"{len(bad)} case(s) contradict it; first: {bad[0].verdict.reason}"
        if good:
            return "observed", f"{len(good)} expected difference(s) of {touched} case(s) touching it"
        if touched:
            return "no-difference", f"{touched} case(s) touch it; none answered differently, none had to"
        return "not-exercised", "no generated case touched this change"

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (f"batch-conformance diff {self.from_version} -> {self.to_version}: verdict {self.verdict.upper()}; "
                f"{self.compared} cases compared, {len(self.withheld)} withheld; differences: "
                f"{self.count('expected')} expected, {self.count('unexpected')} unexpected, "
                f"{self.count('inconclusive')} inconclusive")

    def to_json(self) -> dict[str, Any]:
        """The diff.json document."""
        return {
            "verdict": self.verdict, "from": self.from_version, "to": self.to_version,
            "targets": {"from": redact_text(self.targets[0]), "to": redact_text(self.targets[1])},
            "seed": self.seed, "profile": self.profile, "emulator_fault": self.emulator_fault,
            "duration": round(self.duration, 3), "cases": self.compared, "withheld": len(self.withheld),
            "withheld_reasons": sorted(set(self.withheld)),
            "harness_errors": [redact_text(e) for e in self.harness_errors],
            "counts": {c: self.count(c) for c in CLASS_COLOURS},
            "changes": [dict(_change_json(c), touched=self.touched.get(change_key(c), 0),
                             status=self.change_status(c)[0], detail=self.change_status(c)[1]) for c in self.between],
            "differences": self.kinds(),
        }


# a documented change contradicted, or a difference nothing documents, fails; untried or inconclusive is skipped
CHANGE_OUTCOMES: dict[str, Outcome] = {"unexpected": "failure", "not-exercised": "skipped", "inconclusive": "skipped"}


def write_junit(result: DiffResult, path: Path) -> None:
    """JUnit: one testcase per documented change in range, one per difference kind, and an overall one."""
    cases: list[Case] = []
    for change in result.between:
        status, detail = result.change_status(change)
        outcome = CHANGE_OUTCOMES.get(status, "passed")
        classname = f"diff.change.{getattr(change, 'requirement', '') or 'sdk'}"
        cases.append(Case(classname, change_key(change), outcome, detail, kind="unexpected"))
    for kind in result.kinds():
        outcome = CHANGE_OUTCOMES.get(kind["classification"], "passed")
        cases.append(Case(f"diff.{kind['classification']}", kind["kind"], outcome, kind["reason"],
                          detail=json.dumps(kind, indent=1) if outcome == "failure" else None, kind="unexpected"))
    if result.count("unexpected"):
        overall = Case("diff.summary", "no unexpected differences", "failure",
                       f"{result.count('unexpected')} unexpected difference(s)")
    elif result.verdict == "error":
        overall = Case("diff.summary", "no unexpected differences", "error",
                       "; ".join(result.harness_errors) or "no case could be compared")
    else:
        overall = Case("diff.summary", "no unexpected differences")
    properties = [("from", result.from_version), ("to", result.to_version), ("seed", str(result.seed)),
                  ("profile", result.profile), ("verdict", result.verdict)]
    write_junit_file(path, root="batch-conformance diff", duration=result.duration, properties=properties,
                     suite=f"batch-conformance diff {result.from_version} -> {result.to_version}",
                     cases=[*cases, overall])


def _e(value: Any) -> str:
    return html_text(value)


def _request_html(side: dict[str, Any]) -> str:
    req = side["request"]
    headers = "\n".join(f"{k}: {v}" for k, v in req["headers"].items())
    body = req["body"] if req["body"] is not None else "(no body)"
    return (f'<td><b>{_e(side["api_version"])}</b><pre>{_e(req["method"])} {_e(req["path"])}\n{_e(headers)}\n\n'
            f'{_e(body)}</pre><b>answered</b> {_e(side["answered"])}<br><b>spec allows</b> {_e(side["expected"])}</td>')


def render_html(result: DiffResult) -> str:
    """A self-contained page: verdict, the documented changes in range, and every difference kind."""
    doc = result.to_json()
    colour = {"pass": STATUS_COLOURS["pass"], "error": STATUS_COLOURS["error"]}.get(result.verdict,
                                                                                   STATUS_COLOURS["fail"])
    change_colour = {"observed": "pass", "unexpected": "fail", "no-difference": "pass",
                     "not-exercised": "not-applicable"}
    changes = "".join(
        f'<tr class="bc-change" data-status="{c["status"]}"><td>{_e(c["to"])}</td><td>{_e(c["requirement"])}</td>'
        f'<td>{_e(c["change"])}</td><td>{c["touched"]}</td>'
        f'<td style="color:{STATUS_COLOURS[change_colour[c["status"]]]};font-weight:bold">{c["status"]}</td>'
        f'<td>{_e(c["detail"])}</td></tr>' for c in doc["changes"]) or '<tr><td colspan="6">none</td></tr>'
    kinds = "".join(
        f'<div class="bc-diff" data-classification="{k["classification"]}">'
        f'<h4 style="color:{CLASS_COLOURS[k["classification"]]}">{_e(k["kind"])} &times; {k["count"]}</h4>'
        f'<p>{_e(k["reason"])}</p><table class="bc-example"><tr>{_request_html(k["example"]["from"])}'
        f'{_request_html(k["example"]["to"])}</tr></table></div>' for k in doc["differences"])
    errors = "".join(f"<li>{_e(e)}</li>" for e in doc["harness_errors"])
    counts = " ".join(f'<span style="color:{CLASS_COLOURS[c]}">{c}: {n}</span>' for c, n in doc["counts"].items())
    style = ("table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;"
             "text-align:left}pre{white-space:pre-wrap;max-width:40em;background:#f6f6f6;padding:6px}")
    title = f"API-version diff: {result.from_version} -> {result.to_version}"
    return page(title, style=style, body=f"""
<h2>Verdict: <span id="bc-verdict" style="color:{colour}">{result.verdict.upper()}</span></h2>
<table class="bc-facts"><tr><td>from target</td><td>{_e(doc["targets"]["from"])}</td></tr>
<tr><td>to target</td><td>{_e(doc["targets"]["to"])}</td></tr><tr><td>emulator fault</td>
<td>{_e(result.emulator_fault or "none")}</td></tr>
<tr><td>profile / seed</td><td>{_e(result.profile)} / {result.seed}</td></tr>
<tr><td>cases compared</td><td>{doc["cases"]}</td></tr><tr><td>withheld</td><td>{doc["withheld"]}
{_e("; ".join(doc["withheld_reasons"]))}</td></tr><tr><td>duration</td><td>{result.duration:.1f} s</td></tr></table>
<p id="bc-counts">{counts}</p>
{'<h3>Harness errors</h3><ul>' + errors + '</ul>' if errors else ''}
<h3>Documented changes between the versions</h3>
<table id="bc-changes"><tr><th>since</th><th>requirement / release</th><th>change</th><th>cases touching</th>
<th>status</th><th>detail</th></tr>{changes}</table>
<h3>Differences</h3><div id="bc-differences">{kinds or '<p>None: every case answered alike at both versions.</p>'}</div>
""")


def write_diff_reports(result: DiffResult, report_dir: Path) -> None:
    """diff.json, junit.xml and report.html in the report folder."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "diff.json").write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
    write_junit(result, report_dir / "junit.xml")
    (report_dir / "report.html").write_text(render_html(result))
