"""The report sections that lead the summary: failure buckets, the certification record.

Plain HTML (inline styles only) for summary_html() in report.py; every text is redacted and escaped here.
"""

from __future__ import annotations

import html
from typing import Any

from conformance.redaction import redact_text
from conformance.reporting.buckets import Bucket
from conformance.reporting.record import Record


def _e(value: Any) -> str:
    return html.escape(redact_text(str(value)))


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
