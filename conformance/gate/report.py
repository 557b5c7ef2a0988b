"""The comparison's outputs: compare.json, junit.xml (a testcase per requirement) and a self-contained page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.reporting.failures import html_text
from conformance.reporting.junit import Case
from conformance.reporting.junit import write_junit as write_junit_file
from conformance.reporting.report import STATUS_COLOURS, page

if TYPE_CHECKING:
    from conformance.gate.compare import Change, Comparison


def _e(value: Any) -> str:
    return html_text(value)


def write_junit(result: Comparison, path: Path) -> None:
    """One testcase per requirement: a regression is a failure, any other change passes and says what moved."""
    cases = [Case(f"compare.{c.level}", c.requirement, "failure" if c.regression else "passed",
                  message=f"{c.kind}: {c.old} -> {c.new}", kind="regression",
                  properties=(("old", c.old), ("new", c.new), ("change", c.kind))) for c in result.changes]
    properties = [("old", result.old_file), ("new", result.new_file), ("verdict", result.verdict)]
    write_junit_file(path, root="batch-conformance compare", suite="batch-conformance compare", cases=cases,
                     duration=0.0, properties=properties)


def _row(c: Change) -> str:
    flag = "regression" if c.regression else ""
    return (f'<tr class="bc-change" id="bc-change-{_e(c.requirement)}" data-regression="{str(c.regression).lower()}">'
            f"<td>{_e(c.requirement)}</td><td>{_e(c.level)}</td>"
            f'<td style="color:{STATUS_COLOURS.get(c.old, "#111")}">{_e(c.old)}</td>'
            f'<td style="color:{STATUS_COLOURS.get(c.new, "#111")}">{_e(c.new)}</td>'
            f'<td class="bc-change-kind">{_e(c.kind)}</td><td><b style="color:{STATUS_COLOURS["fail"]}">{flag}</b>'
            "</td></tr>")


def _buckets(title: str, ident: str, buckets: list[dict[str, Any]]) -> str:
    if not buckets:
        return ""
    items = "".join(f"<li>{_e(b['title'])} [{_e(b['id'])}]: {_e(', '.join(b['requirements']))}</li>" for b in buckets)
    return f'<h3>{title}</h3><ul id="{ident}">{items}</ul>'


def render_html(result: Comparison) -> str:
    """Verdict, the two runs, regressions first, then every other change and the failure signatures that moved."""
    doc = result.to_json()
    moved = sorted((c for c in result.changes if c.kind != "unchanged"), key=lambda c: not c.regression)
    rows = "".join(_row(c) for c in moved) or '<tr><td colspan="6">no requirement changed</td></tr>'
    sides = "".join(f"<tr><th>{_e(k)}</th><td>{_e(doc['old'].get(k))}</td><td>{_e(doc['new'].get(k))}</td></tr>"
                    for k in ("file", "verdict", "target", "api_version", "profile", "seed", "suite_version"))
    notes = "".join(f"<li>{_e(d)}</li>" for d in doc["differences"])
    came, went = result.buckets()
    colour = STATUS_COLOURS["fail" if result.regressions else "pass"]
    body = f"""<h2>Verdict: <span id="bc-verdict" style="color:{colour}">{result.verdict.upper()}</span></h2>
<p id="bc-compare-note">{len(result.regressions)} regression(s) (a MUST requirement that fails anew, or passed and no
longer does); {len(moved)} change(s); {doc["unchanged"]} requirement(s) unchanged.</p>
<table id="bc-runs"><tr><th></th><th>old</th><th>new</th></tr>{sides}</table>
{'<p>The runs differ in:</p><ul id="bc-differences">' + notes + '</ul>' if notes else ''}
<h3>Changes</h3><table id="bc-changes"><tr><th>requirement</th><th>level</th><th>old</th><th>new</th><th>change</th>
<th></th></tr>{rows}</table>
{_buckets("New failure signatures", "bc-buckets-new", came)}
{_buckets("Failure signatures gone", "bc-buckets-gone", went)}"""
    style = "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    return page("batch-conformance compare", body, style=style)


def write_compare_reports(result: Comparison, report_dir: Path) -> None:
    """compare.json, junit.xml and report.html in the report folder."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "compare.json").write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
    write_junit(result, report_dir / "junit.xml")
    (report_dir / "report.html").write_text(render_html(result), encoding="utf-8")
