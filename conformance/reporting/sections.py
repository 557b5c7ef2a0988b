"""The report sections that lead the summary: failure buckets, the expectations gate, the certification record.

Plain HTML (inline styles only) for summary_html() in report.py; every text is redacted and escaped here.
"""

from __future__ import annotations

from typing import Any

from conformance.reporting.buckets import Bucket
from conformance.reporting.expectations import Gate, GateEntry
from conformance.reporting.failures import html_text
from conformance.reporting.record import Record

GATE_COLOURS = {"expected": "#2e7d32", "unexpected": "#c62828", "unexpected pass": "#1565c0", "expired": "#c62828",
                "not applicable": "#757575", "not run": "#757575"}


def _e(value: Any) -> str:
    return html_text(value)


def buckets_html(buckets: list[Bucket]) -> str:
    """Each distinct failure signature, with every requirement it broke: one bug to fix, not one per requirement."""
    if not buckets:
        return ""
    items = []
    for b in buckets:
        links = ", ".join(f'<a href="#bc-{_e(rid)}">{_e(rid)}</a> <small>({_e(level)})</small>'
                          for rid, level in zip(b.requirements, b.levels, strict=True))
        named = _e(" ".join(b.requirements))
        items.append(f'<li class="bc-bucket" data-bucket="{_e(b.id)}" data-requirements="{named}">'
                     f'<b class="bc-bucket-title">{_e(b.title)}</b> <small>[{_e(b.id)}]</small><br>'
                     f'{len(b.requirements)} requirement(s): {links}</li>')
    failed = sum(len(b.requirements) for b in buckets)
    return (f'<h3>Distinct failures</h3><p id="bc-bucket-note">{len(buckets)} distinct failure signature(s) (status, '
            f'error code, the class of input that draws it) behind {failed} failed requirement(s):</p>'
            f'<ol id="bc-buckets">{"".join(items)}</ol>')


def _gate_row(entry: GateEntry) -> str:
    exp = entry.expected
    reason, link, expires = (exp.reason, exp.link, exp.expires) if exp else ("not in the file", "", None)
    link_html = (f' <a href="{_e(link)}">{_e(link)}</a>' if link.startswith(("http://", "https://"))
                 else f" {_e(link)}" if link else "")  # only web links become links (no javascript: from a file)
    counts = entry.counts or "nothing"
    return (f'<tr class="bc-gate-row" id="bc-gate-{_e(entry.requirement)}" data-outcome="{_e(entry.outcome)}">'
            f"<td>{_e(entry.requirement)}</td><td>{_e(entry.level)}</td>"
            f"<td>{_e(exp.status if exp else '-')}</td><td>{_e(entry.status)}</td>"
            f'<td class="bc-gate-outcome" style="color:{GATE_COLOURS[entry.outcome]};font-weight:bold">'
            f"{_e(entry.outcome)}</td><td>{_e(counts)}</td>"
            f"<td>{_e(reason)}{link_html}</td><td>{_e(expires or '')}</td></tr>")


def gate_html(gate: Gate | None) -> str:
    """The run against its expectations file: unexpected results first, then the expected ones."""
    if gate is None:
        return ""
    rank = ["unexpected", "expired", "unexpected pass", "expected", "not applicable", "not run"].index
    rows = "".join(_gate_row(e) for e in sorted(gate.entries, key=lambda e: rank(e.outcome)))
    tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(gate.tally().items(), key=lambda kv: rank(kv[0])))
    colour = {"pass": "#2e7d32", "fail": "#c62828", "error": "#ef6c00"}.get(gate.verdict, "#8d6e00")
    strict = " (strict: an unexpected pass fails)" if gate.strict else ""
    return (f'<h3>Against the expectations</h3><section id="bc-expectations"><p>Expectations file '
            f'<code>{_e(gate.file)}</code>{strict}: <b id="bc-gate-verdict" style="color:{colour}">'
            f'{gate.verdict.upper()}</b> (the exit code counts only what the file did not expect)'
            f'{"; " + _e(tally) if tally else ""}.</p>'
            '<table id="bc-gate"><tr><th>requirement</th><th>level</th><th>expected</th><th>result</th>'
            '<th>outcome</th><th>counts as</th><th>reason</th><th>expires</th></tr>'
            f'{rows or "<tr><td colspan=8>nothing to report: no failure, every expectation met</td></tr>"}'
            "</table></section>")


def record_html(record: Record | None, duration: float) -> str:
    """The certification record as a table; it takes the place of the summary's facts and keeps their ids."""
    if record is None:
        return ""
    t = record.target
    target = t.kind + (f" {t.url}" if t.url else "")
    rows: list[tuple[str, Any, str]] = [
        ("suite version", f"{record.suite} {record.suite_version}", "bc-suite-version"),
        ("target", target, "bc-target"), ("Server header", ", ".join(t.servers) or "(none sent)", "bc-server"),
        ("emulator fault", t.emulator_fault or "none", "bc-emulator-fault"),
        ("api-version", record.api_version, "bc-api-version"), ("profile", record.profile, "bc-profile"),
        ("seed", record.seed, "bc-seed"), ("started", record.started, "bc-started"),
        ("finished", record.finished, "bc-finished"), ("duration", f"{duration:.1f} s", "bc-duration"),
        ("versions", ", ".join(f"{k} {v}" for k, v in record.versions), "bc-versions"),
    ]
    docs = "".join(f'<tr class="bc-spec-doc"><td>{_e(d.name)}</td><td><code>{_e(d.sha256)}</code></td></tr>'
                   for d in record.spec_documents)
    return ('<details id="bc-record" open><summary><b>Certification record</b></summary><table>'
            + "".join(f'<tr><th>{_e(k)}</th><td id="{i}">{_e(v)}</td></tr>' for k, v, i in rows)
            + f'<tr><th>spec documents (sha256)</th><td><table id="bc-spec-docs">{docs}</table></td></tr>'
            "</table></details>")
