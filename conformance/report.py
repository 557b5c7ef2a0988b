"""Write results.json, junit.xml (one testcase per requirement) and the HTML report's own sections."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conformance.redaction import redact_text
from conformance.results import RequirementResult, RunResult

STATUS_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#ef6c00", "skip": "#757575"}


def write_junit(run: RunResult, path: Path) -> None:
    """JUnit XML with one testcase per requirement: failure, error and skipped kept distinct."""
    counts = {s: sum(1 for r in run.requirements.values() if r.status == s) for s in STATUS_COLOURS}
    suite = ET.Element("testsuite", {
        "name": f"batch-conformance {run.api_version}", "tests": str(len(run.requirements)),
        "failures": str(counts["fail"]), "errors": str(counts["error"]), "skipped": str(counts["skip"]),
        "time": f"{run.duration:.3f}"})
    props = ET.SubElement(suite, "properties")
    for name in ("target", "api_version", "seed", "profile", "suite_version"):
        ET.SubElement(props, "property", {"name": name, "value": redact_text(str(getattr(run, name)))})
    ET.SubElement(props, "property", {"name": "verdict", "value": run.verdict})
    for rid, result in run.requirements.items():
        req = result.requirement
        case = ET.SubElement(suite, "testcase", {
            "classname": f"conformance.{req.category}.{req.level}", "name": rid,
            "time": f"{result.duration:.3f}"})
        ET.SubElement(case, "properties").extend([
            ET.Element("property", {"name": "level", "value": req.level}),
            ET.Element("property", {"name": "source", "value": req.source}),
            ET.Element("property", {"name": "examples", "value": str(result.examples)})])
        if result.status == "fail":
            first = result.first_failure or {}
            node = ET.SubElement(case, "failure", {"message": redact_text(str(first.get("message", "")))[:500],
                                                   "type": req.level})
            node.text = redact_text(json.dumps(first, indent=1, default=str))
        elif result.status == "error":
            ET.SubElement(case, "error", {"message": redact_text(result.reason)})
        elif result.status == "skip":
            ET.SubElement(case, "skipped", {"message": result.reason})
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites", {"name": "batch-conformance"})
    root.append(suite)
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_reports(run: RunResult, report_dir: Path) -> None:
    """results.json and junit.xml (the HTML report is pytest-html's, with our sections in it)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    run.write(report_dir / "results.json")
    write_junit(run, report_dir / "junit.xml")


def _e(value: Any) -> str:
    return html.escape(redact_text(str(value)))


def failure_html(result: RequirementResult) -> str:
    """The minimal failing example: request, response, expectation, curl and the replay command."""
    f = result.first_failure or {}
    req, resp = f.get("request", {}), f.get("response", {})
    req_headers = "\n".join(f"{k}: {v}" for k, v in req.get("headers", {}).items())
    resp_headers = "\n".join(f"{k}: {v}" for k, v in resp.get("headers", {}).items())
    flaky = "<p><b>Flaky:</b> the target failed this once and passed on replay.</p>" if f.get("flaky") else ""
    return f"""<div class="bc-failure" data-requirement="{_e(result.requirement.id)}">
<h4>{_e(result.requirement.id)} ({_e(result.requirement.level)}): minimal failing example</h4>
<p class="bc-why"><b>What went wrong:</b> {_e(f.get("message", ""))}</p>
<p class="bc-expected"><b>Expected:</b> {_e(f.get("expected", ""))}</p>{flaky}
<p><b>Source:</b> {_e(result.requirement.source)}</p>
<b>Request</b><pre class="bc-request">{_e(req.get("method", ""))} {_e(req.get("url", ""))}
{_e(req_headers)}

{_e(req.get("body") if req.get("body") is not None else "(no body)")}</pre>
<b>Response</b><pre class="bc-response">{_e(resp.get("status", ""))}
{_e(resp_headers)}

{_e(resp.get("body") or "(empty body)")}</pre>
<b>Reproduce with curl</b><pre class="bc-curl">{_e(f.get("curl", ""))}</pre>
<b>Replay with the suite</b><pre class="bc-reproduce">{_e(f.get("reproduce", ""))}</pre>
</div>"""


def _matrix_rows(run: RunResult) -> str:
    rows = []
    for rid, r in run.requirements.items():
        req = r.requirement
        colour = STATUS_COLOURS[r.status]
        width = min(100, r.examples)
        rows.append(
            f'<tr class="bc-row" data-status="{r.status}" data-level="{req.level}" '
            f'data-category="{_e(req.category)}"><td><a href="#bc-{_e(rid)}">{_e(rid)}</a></td>'
            f"<td>{req.level}</td><td>{_e(req.category)}</td>"
            f'<td class="bc-status" style="color:{colour};font-weight:bold">{r.status}</td>'
            f'<td>{r.examples}<div class="bc-bar" style="width:{width}px;background:{colour}"></div></td>'
            f"<td>{r.failures}</td><td>{_e(req.title)}<br><small>{_e(req.source)}</small>"
            f"{'<br><small>' + _e(r.reason) + '</small>' if r.reason and r.status != 'pass' else ''}</td></tr>")
    return "\n".join(rows)


_SCRIPT = """<script>
function bcFilter(){var s=document.getElementById('bc-filter-status').value,
 l=document.getElementById('bc-filter-level').value;
 document.querySelectorAll('tr.bc-row').forEach(function(r){
  var show=(!s||r.dataset.status===s)&&(!l||r.dataset.level===l);r.style.display=show?'':'none';});}
</script>"""


def summary_html(run: RunResult) -> str:
    """Verdict, configuration, counts per level and status, a bar chart and the requirement matrix."""
    counts = run.counts()
    count_rows = "".join(
        f"<tr><td>{lvl}</td>" + "".join(f"<td>{c[s]}</td>" for s in STATUS_COLOURS) + "</tr>"
        for lvl, c in sorted(counts.items()))
    config = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in run.config.items())
    verdict_colour = {"pass": STATUS_COLOURS["pass"]}.get(run.verdict, STATUS_COLOURS["fail"])
    failures = "".join(f'<div id="bc-{_e(rid)}">{failure_html(r)}</div>'
                       for rid, r in run.requirements.items() if r.first_failure)
    errors = "".join(f"<li>{_e(e)}</li>" for e in run.harness_errors)
    return f"""<section id="bc-summary">
<h2>Verdict: <span id="bc-verdict" style="color:{verdict_colour}">{run.verdict.upper()}</span></h2>
<table class="bc-facts"><tr><td>target</td><td id="bc-target">{_e(run.target)}</td></tr>
<tr><td>api-version</td><td>{_e(run.api_version)}</td></tr><tr><td>profile</td><td>{_e(run.profile)}</td></tr>
<tr><td>seed</td><td>{_e(run.seed)}</td></tr><tr><td>suite version</td><td>{_e(run.suite_version)}</td></tr>
<tr><td>duration</td><td>{run.duration:.1f} s</td></tr></table>
<h3>Counts</h3><table id="bc-counts"><tr><th>level</th><th>pass</th><th>fail</th><th>error</th><th>skip</th></tr>
{count_rows}</table>
{'<h3>Harness errors</h3><ul id="bc-harness-errors">' + errors + '</ul>' if errors else ''}
<details><summary>Configuration (redacted)</summary><table id="bc-config">{config}</table></details>
<h3>Requirement matrix</h3>
<label>status <select id="bc-filter-status" onchange="bcFilter()"><option value="">all</option>
<option>pass</option><option>fail</option><option>error</option><option>skip</option></select></label>
<label>level <select id="bc-filter-level" onchange="bcFilter()"><option value="">all</option>
<option>MUST</option><option>SHOULD</option></select></label>
<table id="bc-matrix"><tr><th>requirement</th><th>level</th><th>category</th><th>status</th>
<th>examples</th><th>failures</th><th>requirement and source</th></tr>
{_matrix_rows(run)}</table>
<h3>Failures</h3><div id="bc-failures">{failures or '<p>None.</p>'}</div>
{_SCRIPT}</section>"""
