"""The report sections that lead the summary: failure buckets.

Plain HTML (inline styles only) for summary_html() in report.py; every text is redacted and escaped here.
"""

from __future__ import annotations

import html
from typing import Any

from conformance.redaction import redact_text
from conformance.reporting.buckets import Bucket


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
