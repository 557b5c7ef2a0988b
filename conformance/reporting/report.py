"""Write results.json, junit.xml (one testcase per requirement) and the HTML report's own sections.

The HTML pieces are self-contained (inline CSS, inline SVG, one small inline script, no network): the run
command puts summary_html() at the top of the pytest-html page and failure_html() in each failing row;
validate-traffic, which has no pytest session, wraps the same summary in standalone_html().
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.redaction import redact_text
from conformance.reporting.badge import badge_svg
from conformance.reporting.expectations import GateEntry
from conformance.reporting.failures import html_text, shown
from conformance.reporting.junit import Case, Outcome
from conformance.reporting.junit import write_junit as write_junit_file
from conformance.reporting.results import STATUSES, RequirementResult, RunResult
from conformance.reporting.sections import buckets_html, gate_html, record_html

STATUS_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#ef6c00", "undecided": "#8d6e00",
                  "not-applicable": "#757575", "incomplete": "#8d6e00"}
LEVELS = ("MUST", "SHOULD")


JUNIT_OUTCOMES: dict[str, Outcome] = {"pass": "passed", "fail": "failure", "error": "error", "undecided": "skipped",
                                      "not-applicable": "skipped"}


def _why(result: RequirementResult) -> str:
    """The reason a requirement is not passed or failed, with what would decide it when undecided."""
    return result.reason + (f" (to decide it: {result.remedy})" if result.remedy else "")


def _junit_case(rid: str, result: RequirementResult, expectation: GateEntry | None) -> Case:
    """A requirement's testcase; with an expectations file, an expected result is skipped (saying so), and an
    expired expectation, or an unexpected pass under --strict-expectations, is a failure."""
    req = result.requirement
    first = result.first_failure or {}
    failed = result.status == "fail"
    outcome, message = JUNIT_OUTCOMES[result.status], str(first.get("message", "")) if failed else _why(result)
    properties = [("level", req.level), ("source", req.source), ("examples", str(result.examples))]
    if expectation is not None:
        properties.append(("expectation", expectation.outcome))
        exp = expectation.expected
        said = f"expected {exp.status}: {exp.reason}" if exp else ""
        if expectation.outcome == "expected":
            outcome, message = "skipped", f"{said} ({message})" if message else said
        elif expectation.outcome == "expired":
            outcome = "failure"
            message = f"the expectation expired on {exp.expires if exp else ''}: {said}; {message}"
        elif expectation.outcome == "unexpected pass":
            outcome = "failure" if expectation.counts else "passed"
            message = f"unexpected pass ({said}): remove the expectation (batch-conformance expectations update)"
    return Case(f"conformance.{req.category}.{req.level}", rid, outcome, message=message,
                detail=json.dumps(first, indent=1, default=str) if outcome == "failure" and first else None,
                kind=req.level, time=result.duration, properties=tuple(properties))


def write_junit(run: RunResult, path: Path) -> None:
    """JUnit XML with one testcase per requirement: failure, error and skipped kept distinct (and, with an
    expectations file, expected results apart from unexpected ones)."""
    gate = run.gate
    cases = [_junit_case(rid, result, gate.entry(rid) if gate else None) for rid, result in run.requirements.items()]
    properties = [(name, str(getattr(run, name))) for name in ("target", "api_version", "seed", "profile",
                                                                "suite_version")]
    properties.append(("verdict", run.verdict))
    if gate is not None:
        properties += [("expectations", gate.file), ("expectations_verdict", gate.verdict)]
    write_junit_file(path, root="batch-conformance", suite=f"batch-conformance {run.api_version}", cases=cases,
                     duration=run.duration, properties=properties)


def redact_doc(value: Any) -> Any:
    """A JSON-able document with every string made shown() (keys included): nothing leaves unredacted, and no
    lone surrogate or control character from a target's answer reaches the file."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown(k): redact_doc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_doc(v) for v in value]
    return value


def write_results(run: RunResult, path: Path) -> None:
    """results.json, redacted as a whole (the last point before the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(redact_doc(run.to_json()), indent=1, default=str) + "\n", encoding="utf-8")


def run_badge(run: RunResult) -> str:
    """badge.svg: the verdict and how many applicable MUST requirements were decided (passed or failed)."""
    musts = [r for r in run.requirements.values() if r.requirement.level == "MUST" and r.status != "not-applicable"]
    decided = sum(1 for r in musts if r.status in ("pass", "fail"))
    inapplicable = sum(1 for r in run.requirements.values()
                       if r.requirement.level == "MUST" and r.status == "not-applicable")
    title = (f"batch-conformance {run.suite_version}, api-version {run.api_version}: verdict {run.verdict}; "
             f"{decided} of {len(musts)} applicable MUST requirements decided ({inapplicable} not applicable)")
    return badge_svg("batch-conformance", f"{run.verdict} | {decided}/{len(musts)} MUST decided",
                     STATUS_COLOURS[run.verdict], title=title)


def write_reports(run: RunResult, report_dir: Path, *, badge: bool = False) -> None:
    """results.json, junit.xml and, for a run of the suite, badge.svg (the run's HTML report is pytest-html's,
    with our sections in it; validate-traffic certifies nothing, so it gets no badge)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    write_results(run, report_dir / "results.json")
    write_junit(run, report_dir / "junit.xml")
    if badge:
        (report_dir / "badge.svg").write_text(run_badge(run), encoding="utf-8")


def _e(value: Any) -> str:
    return html_text(value)


def _headers_text(headers: Any) -> str:
    if isinstance(headers, dict) and headers:
        return "\n".join(f"{k}: {v}" for k, v in headers.items())
    return "(no headers)"


def failure_html(result: RequirementResult) -> str:
    """The minimal failing example: request, response, expectation, curl and the replay command."""
    f = result.first_failure or {}
    req, resp = f.get("request") or {}, f.get("response") or {}
    rid = result.requirement.id
    flaky = "<p><b>Flaky:</b> the target failed this once and passed on replay.</p>" if f.get("flaky") else ""
    where = (f'<p class="bc-where"><b>Recorded at:</b> {_e(f["location"])}</p>' if f.get("location") else "")
    also = f.get("other_locations") or []
    more = (f'<p class="bc-also"><b>Also failing:</b> {_e(", ".join(map(str, also)))}</p>' if also else "")
    body = req.get("body")
    replay = ("Replay with the suite" if "validate-traffic" not in str(f.get("reproduce", ""))
              else "Re-check the recording")
    return f"""<div class="bc-failure" data-requirement="{_e(rid)}">
<h4>{_e(rid)} ({_e(result.requirement.level)}): minimal failing example
 ({result.failures} failing, {result.examples} passing example(s))</h4>
<p class="bc-why"><b>What went wrong:</b> {_e(f.get("message", ""))}</p>
<p class="bc-expected"><b>Expected:</b> {_e(f.get("expected", ""))}</p>{flaky}{where}{more}
<p class="bc-source"><b>Requirement:</b> {_e(result.requirement.title)}
 <i>(source: {_e(result.requirement.source)})</i></p>
<b>Request</b><pre class="bc-request">{_e(req.get("method", ""))} {_e(req.get("url", ""))}
{_e(_headers_text(req.get("headers")))}

{_e(body if body is not None else "(no body)")}</pre>
<b>Response</b><pre class="bc-response">{_e(resp.get("status", ""))}
{_e(_headers_text(resp.get("headers")))}

{_e(resp.get("body") or "(empty body)")}</pre>
<b>Reproduce with curl</b><pre class="bc-curl">{_e(f.get("curl", ""))}</pre>
<b>{replay}</b><pre class="bc-reproduce">{_e(f.get("reproduce", ""))}</pre>
</div>"""


def _matrix_rows(run: RunResult) -> str:
    rows = []
    for rid, r in run.requirements.items():
        req = r.requirement
        colour = STATUS_COLOURS[r.status]
        link = f'<a href="#bc-{_e(rid)}">{_e(rid)}</a>' if r.first_failure else _e(rid)
        shown = r.reason and r.status in ("undecided", "not-applicable", "error")  # pass and fail speak for themselves
        reason = f'<br><small class="bc-reason">{_e(_why(r))}</small>' if shown else ""
        entry = run.gate.entry(rid) if run.gate else None
        marker = (f'<br><small class="bc-expectation">{_e(entry.outcome)}</small>' if entry else "")
        rows.append(
            f'<tr class="bc-row" id="bc-row-{_e(rid)}" data-status="{r.status}" data-level="{req.level}" '
            f'data-category="{_e(req.category)}"><td class="bc-id">{link}</td><td>{req.level}</td>'
            f"<td>{_e(req.category)}</td>"
            f'<td><span class="bc-status" style="color:{colour};font-weight:bold">{r.status}</span>{marker}</td>'
            f'<td class="bc-examples">{r.examples}</td><td class="bc-failures-n">{r.failures}</td>'
            f"<td>{_e(req.title)}{reason}</td><td><small>{_e(req.source)}</small></td></tr>")
    return "\n".join(rows)


BAR_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 320, 16, 260


def outcomes_svg(run: RunResult) -> str:
    """An inline SVG bar per requirement: passing examples green, failing red, undecided greyed out."""
    results = list(run.requirements.values())
    most = max([r.examples + r.failures for r in results] + [1])
    parts = []
    for i, r in enumerate(results):
        y = i * ROW_HEIGHT
        total = r.examples + r.failures
        ok = BAR_WIDTH * r.examples / most
        bad = BAR_WIDTH * r.failures / most
        label = f"{r.requirement.id} ({r.requirement.level})"
        title = f"{r.requirement.id}: {r.status}, {r.examples} passing and {r.failures} failing examples"
        parts.append(f'<g class="bc-bar" data-requirement="{_e(r.requirement.id)}" data-status="{r.status}">'
                     f"<title>{_e(title)}</title>"
                     f'<text x="0" y="{y + 12}" font-size="11">{_e(label)}</text>')
        if total == 0:
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="6" height="10" '
                         f'fill="{STATUS_COLOURS[r.status]}"/><text x="{LABEL_WIDTH + 10}" y="{y + 12}" '
                         f'font-size="10" fill="{STATUS_COLOURS[r.status]}">{r.status}</text></g>')
            continue
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{ok:.1f}" height="10" '
                     f'fill="{STATUS_COLOURS["pass"]}"/>'
                     f'<rect x="{LABEL_WIDTH + ok:.1f}" y="{y + 3}" width="{max(bad, 3 if r.failures else 0):.1f}" '
                     f'height="10" fill="{STATUS_COLOURS["fail"]}"/>'
                     f'<text x="{LABEL_WIDTH + ok + bad + 6:.1f}" y="{y + 12}" font-size="10">'
                     f"{r.examples} met, {r.failures} broke</text></g>")
    height = max(len(results), 1) * ROW_HEIGHT + 4
    return (f'<svg id="bc-plot" xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + BAR_WIDTH + 110}" '
            f'height="{height}" role="img" aria-label="examples passing and failing per requirement">'
            + "".join(parts) + "</svg>")


def _status_bar(run: RunResult) -> str:
    """One stacked bar of requirement counts per status."""
    total = max(len(run.requirements), 1)
    segments = []
    for status in STATUSES:
        n = sum(1 for r in run.requirements.values() if r.status == status)
        if n:
            segments.append(f'<span class="bc-seg" data-status="{status}" title="{n} {status}" '
                            f'style="width:{100 * n / total:.2f}%;background:{STATUS_COLOURS[status]}">'
                            f"{n} {status}</span>")
    return f'<div id="bc-status-bar">{"".join(segments)}</div>'


_STYLE = """<style>
#bc-summary{color:#111;font-size:13px;max-width:1200px}
#bc-summary table{border-collapse:collapse;margin:4px 0}
#bc-summary td,#bc-summary th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
#bc-summary th{background:#eee}
#bc-summary pre{background:#f6f6f6;border:1px solid #ddd;padding:6px;white-space:pre-wrap;word-break:break-all;
 color:#111;max-height:320px;overflow:auto}
#bc-verdict-banner{padding:8px 12px;color:#fff;font-size:20px;font-weight:bold;border-radius:4px}
#bc-status-bar{display:flex;width:100%;max-width:700px;height:20px;margin:6px 0;border-radius:3px;overflow:hidden}
#bc-status-bar .bc-seg{color:#fff;font-size:11px;line-height:20px;text-align:center;overflow:hidden}
.bc-failure{border-left:4px solid #c62828;padding-left:10px;margin:12px 0;color:#111}
.bc-failure h4{margin:4px 0}
#bc-filters label{margin-right:14px}
</style>"""

_SCRIPT = """<script>
function bcFilter(){var s=document.getElementById('bc-filter-status').value,
 l=document.getElementById('bc-filter-level').value,shown=0;
 document.querySelectorAll('#bc-matrix tr.bc-row').forEach(function(r){
  var show=(!s||r.dataset.status===s)&&(!l||r.dataset.level===l);r.style.display=show?'':'none';if(show)shown++;});
 document.getElementById('bc-shown').textContent=shown;}
</script>"""


def _facts(run: RunResult) -> str:
    rows = [("target", run.target, "bc-target"), ("api-version", run.api_version, "bc-api-version"),
            ("profile", run.profile, "bc-profile"),
            ("seed", "n/a (nothing generated)" if run.seed is None else run.seed, "bc-seed"),
            ("suite version", run.suite_version, "bc-suite-version"),
            ("duration", f"{run.duration:.1f} s", "bc-duration")]
    return "".join(f'<tr><th>{name}</th><td id="{ident}">{_e(value)}</td></tr>' for name, value, ident in rows)


def _counts(run: RunResult) -> str:
    counts = run.counts()
    rows = []
    for level in [lv for lv in LEVELS if lv in counts] + sorted(set(counts) - set(LEVELS)):
        c = counts[level]
        rows.append(f'<tr data-level="{_e(level)}"><th>{_e(level)}</th>'
                    + "".join(f'<td class="bc-count-{s}">{c[s]}</td>' for s in STATUSES)
                    + f"<td>{sum(c.values())}</td></tr>")
    head = "".join(f"<th>{s}</th>" for s in STATUSES)
    return f'<table id="bc-counts"><tr><th>level</th>{head}<th>total</th></tr>{"".join(rows)}</table>'


def _verdict_note(run: RunResult) -> str:
    if run.verdict == "fail":
        return "a MUST requirement failed: the target does not conform"
    if run.stopped:
        return (f"the run stopped sending before every requirement was decided ({run.stopped}): no verdict on "
                "conformance")
    if run.verdict == "error":
        return "the harness could not decide every MUST requirement: no verdict on conformance"
    if run.verdict == "incomplete":
        return (f"no MUST requirement failed, but {len(run.undecided_musts())} applicable MUST requirement(s) were "
                "not decided: no certification (see what would decide each below)")
    should = sum(1 for r in run.requirements.values() if r.requirement.level == "SHOULD" and r.status == "fail")
    inapplicable = sum(1 for r in run.requirements.values() if r.status == "not-applicable")
    return (f"every applicable MUST requirement was decided and met ({should} SHOULD warning(s); {inapplicable} "
            "requirement(s) not applicable to this target)")


def summary_html(run: RunResult) -> str:
    """Verdict, then the distinct failures, the run against its expectations and the certification record, then
    counts per level and status, configuration, the requirement matrix, the outcome plot and each failure."""
    config = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in run.config.items())
    colour = STATUS_COLOURS[run.verdict]
    failures = "".join(f'<div id="bc-{_e(rid)}">{failure_html(r)}</div>'
                       for rid, r in run.requirements.items() if r.first_failure)
    errors = "".join(f"<li>{_e(e)}</li>" for e in run.harness_errors)
    status_options = "".join(f"<option>{s}</option>" for s in STATUSES)
    level_options = "".join(f"<option>{lv}</option>" for lv in LEVELS)
    return f"""{_STYLE}<section id="bc-summary">
<div id="bc-verdict-banner" style="background:{colour}">Verdict:
 <span id="bc-verdict">{run.verdict.upper()}</span></div>
<p id="bc-verdict-note">{_e(_verdict_note(run))}</p>
{buckets_html(run.buckets())}{gate_html(run.gate)}
{record_html(run.record, run.duration) or f'<table class="bc-facts">{_facts(run)}</table>'}
<h3>Counts per level and status</h3>{_status_bar(run)}{_counts(run)}
{'<h3>Harness errors</h3><ul id="bc-harness-errors">' + errors + '</ul>' if errors else ''}
<details><summary>Configuration (redacted)</summary><table id="bc-config">{config}</table></details>
{_reimages_html(run)}<h3>Requirement matrix</h3>
<div id="bc-filters"><label>status <select id="bc-filter-status" onchange="bcFilter()"><option value="">all</option>
{status_options}</select></label><label>level <select id="bc-filter-level" onchange="bcFilter()">
<option value="">all</option>{level_options}</select></label>
showing <span id="bc-shown">{len(run.requirements)}</span> of {len(run.requirements)}</div>
<table id="bc-matrix"><tr><th>requirement</th><th>level</th><th>category</th><th>status</th>
<th>examples</th><th>failures</th><th>what it requires</th><th>source</th></tr>
{_matrix_rows(run)}</table>
<h3>Outcomes per requirement</h3><p><small>green: examples that met the requirement; red: examples that
broke it; a bare mark: not decided by any example</small></p>{outcomes_svg(run)}
<h3>Failures</h3><div id="bc-failures">{failures or '<p>None.</p>'}</div>
{_SCRIPT}</section>"""


def _reimages_html(run: RunResult) -> str:
    """The nodes the run reimaged and how long each reimage took, as measured by reading Get Node back."""
    if not run.reimages:
        return ""
    rows = []
    for node, entry in run.reimages.items():
        spans = ", ".join(f"{low:g}-{high:g} s" if high is not None else f"over {low:g} s"
                          for low, high in entry["seconds"][:5])
        spans += f", ... ({len(entry['seconds'])} in all)" if len(entry["seconds"]) > 5 else ""
        rows.append(f"<tr><td>{_e(node)}</td><td>{entry['reimages']}</td><td>{_e(spans)}</td>"
                    f"<td>{'yes' if entry['still_reimaging'] else 'no'}</td></tr>")
    return ("<h3>Reimaged nodes</h3><table id=\"bc-reimages\"><tr><th>node</th><th>reimages</th>"
            "<th>measured duration (at least - at most)</th><th>still reimaging at the end</th></tr>"
            + "".join(rows) + "</table>")


def page(title: str, body: str, *, style: str = "") -> str:
    """A complete self-contained HTML page (no network): the shell of every report made without pytest."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:16px}}{style}</style></head>
<body><h1 id="title">{_e(title)}</h1>
{body}
</body></html>
"""


def standalone_html(run: RunResult, title: str) -> str:
    """A complete self-contained page around summary_html (for reports made without pytest)."""
    return page(title, summary_html(run))


def write_html(run: RunResult, path: Path, title: str) -> None:
    """Write standalone_html() to path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(standalone_html(run, title), encoding="utf-8")


def _gate_line(entry: dict[str, Any], results: dict[str, Any]) -> str:
    """One result the gate did not expect (or an expectation that ran out), as the terminal shows it."""
    said = entry["expectation"] or {}
    if entry["outcome"] == "expired":
        why = f"expected {said['expected']}, expires {said['expires']}"
    else:
        why = f"expected {said['expected']}" if said else "not in the file"
    counts = f", counts as {entry['counts']}" if entry["counts"] else ""
    remedy = (results.get("requirements") or {}).get(entry["requirement"], {}).get("remedy")
    decide = f"; to decide it: {remedy}" if entry["status"] == "undecided" and remedy else ""
    return f"  {entry['outcome']}: {entry['requirement']} ({entry['level']}) {entry['status']}; {why}{counts}{decide}"


def closing_lines(results: dict[str, Any]) -> list[str]:
    """What the terminal shows after the verdict line, from results.json: the distinct failures, then (with an
    expectations file) the gate's verdict and every result it did not expect."""
    lines = []
    buckets = results.get("buckets") or []
    if buckets:
        lines.append(f"  {len(buckets)} distinct failure(s):")
        lines += [f"    [{b['id']}] {b['title']}: {', '.join(b['requirements'])}" for b in buckets]
    gate = results.get("expectations")
    if isinstance(gate, dict):
        tally = ", ".join(f"{n} {outcome}" for outcome, n in gate.get("tally", {}).items()) or "nothing to report"
        lines.append(f"batch-conformance: against the expectations in {gate['file']}: {gate['verdict'].upper()} "
                     f"({tally})")
        lines += [_gate_line(e, results) for e in gate.get("entries", [])
                  if e["outcome"] in ("unexpected", "expired", "unexpected pass")]
    return [redact_text(line) for line in lines]
