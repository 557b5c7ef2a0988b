"""Expected results: a TOML file of known deviations, and the gate that counts only what is unexpected.

    [requirement.<ID>]                     # a requirement ID of the catalogue
    expected = "fail"                      # or "undecided"
    reason = "our gateway answers 500 for unknown nodes; fixed in 2.4"
    link = "https://tracker.example/BATCH-123"   # optional
    expires = 2026-12-31                   # optional: after this date the expectation fails the gate

With a file, a run's exit code counts only unexpected results (Web Platform Tests' expectation metadata,
Chromium's TestExpectations): a failure the file does not list, an applicable MUST newly undecided, a harness
error, an expired expectation. A listed requirement that now passes is an unexpected pass: reported, and
counted only with --strict-expectations. A listed requirement that is not applicable to this target, or was
not run, is reported and counts for nothing. SHOULD requirements stay warnings, as in the verdict.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from conformance.models import UsageError
from conformance.spec import catalogue

EXPECTABLE = ("fail", "undecided")
FIELDS = ("expected", "reason", "link", "expires")
NOT_RUN = "not run"
GateVerdict = Literal["pass", "fail", "error", "incomplete"]
Outcome = Literal["expected", "unexpected", "unexpected pass", "expired", "not applicable", "not run"]


@dataclass(frozen=True)
class Expected:
    """One known deviation: the status a requirement is expected to end with, why, and until when."""

    requirement: str
    status: str  # fail | undecided
    reason: str
    link: str = ""
    expires: date | None = None

    def expired(self, today: date) -> bool:
        """Whether the expectation ran out before today (it holds through its expiry date)."""
        return self.expires is not None and today > self.expires

    def to_json(self) -> dict[str, Any]:
        """As results.json shows it."""
        return {"expected": self.status, "reason": self.reason, "link": self.link or None,
                "expires": self.expires.isoformat() if self.expires else None}


def _expires(value: object, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise UsageError(f"{where}.expires: {value!r} is not a date (write expires = 2026-12-31)")


def _entry(rid: str, raw: object, where: str) -> Expected:
    if rid not in catalogue():
        raise UsageError(f"{where}: {rid!r} is not a requirement ID of the catalogue (see README or "
                         "spec/requirements.json)")
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a table ([requirement.{rid}])")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(FIELDS)})")
    status = raw.get("expected")
    if status not in EXPECTABLE:
        raise UsageError(f"{where}.expected: {status!r} is not one of {', '.join(EXPECTABLE)}")
    reason, link = raw.get("reason"), raw.get("link", "")
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(f"{where}.reason: say why this result is expected (a non-empty string)")
    if not isinstance(link, str):
        raise UsageError(f"{where}.link: {link!r} is not a string")
    return Expected(rid, status, reason.strip(), link.strip(), _expires(raw.get("expires"), where))


def parse_expectations(text: str, source: str) -> dict[str, Expected]:
    """The expectations of a TOML text, by requirement ID; UsageError naming the file and the key on bad input."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"expectations file {source} is not TOML: {err}") from None
    unknown = sorted(set(doc) - {"requirement"})
    if unknown:
        raise UsageError(f"expectations file {source}: unknown top-level key {unknown[0]!r} (entries are "
                         "[requirement.<ID>] tables)")
    table = doc.get("requirement", {})
    if not isinstance(table, dict):
        raise UsageError(f"expectations file {source}: requirement must be a table of [requirement.<ID>] entries")
    return {rid: _entry(rid, raw, f"expectations file {source}: requirement.{rid}") for rid, raw in table.items()}


def load_expectations(path: str | Path) -> dict[str, Expected]:
    """Read and validate an expectations file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read expectations file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"expectations file {path} is not UTF-8 text") from None
    return parse_expectations(text, str(path))


def render_expectations(entries: Iterable[Expected], *, header: str = "") -> str:
    """The TOML text of an expectations file (strings written as JSON strings, which TOML reads alike)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for e in entries:
        lines += ["", f"[requirement.{e.requirement}]", f"expected = {json.dumps(e.status)}",
                  f"reason = {json.dumps(e.reason)}"]
        if e.link:
            lines.append(f"link = {json.dumps(e.link)}")
        if e.expires:
            lines.append(f"expires = {e.expires.isoformat()}")
    return "\n".join(lines).lstrip("\n") + "\n"


# --- the gate ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateEntry:
    """One requirement the gate reports: its result, what the file expected, and what it counts for."""

    requirement: str
    level: str
    status: str  # the run's status, or "not run"
    expected: Expected | None
    outcome: Outcome
    counts: GateVerdict | None  # what it makes the gate's verdict (None: reported, counts for nothing)

    def to_json(self) -> dict[str, Any]:
        """As results.json shows it."""
        return {"requirement": self.requirement, "level": self.level, "status": self.status,
                "outcome": self.outcome, "counts": self.counts,
                "expectation": self.expected.to_json() if self.expected else None}


_WORST: tuple[GateVerdict, ...] = ("fail", "error", "incomplete")


@dataclass
class Gate:
    """The run judged against an expectations file: which results were expected, which were not."""

    file: str
    strict: bool
    today: date
    entries: list[GateEntry] = field(default_factory=list)
    run_verdict: str = "pass"

    @property
    def verdict(self) -> GateVerdict:
        """As the run's verdict, over what the file did not expect: fail, error, incomplete, else pass."""
        counted = {e.counts for e in self.entries}
        verdict: GateVerdict = next((v for v in _WORST if v in counted), "pass")
        if verdict in ("pass", "incomplete") and self.run_verdict == "error":  # a harness error is never expected
            return "error"
        return verdict

    def entry(self, requirement: str) -> GateEntry | None:
        """The entry of one requirement, if the gate reports it."""
        return next((e for e in self.entries if e.requirement == requirement), None)

    def tally(self) -> dict[str, int]:
        """How many entries have each outcome."""
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.outcome] = out.get(e.outcome, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The results.json 'expectations' object."""
        return {"file": self.file, "strict": self.strict, "date": self.today.isoformat(), "verdict": self.verdict,
                "tally": self.tally(), "entries": [e.to_json() for e in self.entries]}


def _counts(level: str, status: str) -> GateVerdict | None:
    """What an unexpected result counts for: as in the run's verdict, SHOULD requirements only warn."""
    if level != "MUST":
        return None
    return {"fail": "fail", "error": "error", "undecided": "incomplete"}.get(status)  # type: ignore[return-value]


def _judge_one(rid: str, level: str, status: str, exp: Expected | None, *, strict: bool,
               today: date) -> GateEntry | None:
    if exp is None:
        counts = _counts(level, status)
        if status == "fail" or counts is not None:
            return GateEntry(rid, level, status, None, "unexpected", counts)
        return None
    if status == NOT_RUN:
        return GateEntry(rid, level, status, exp, "not run", None)
    if status == "not-applicable":
        return GateEntry(rid, level, status, exp, "not applicable", None)
    if exp.expired(today):
        return GateEntry(rid, level, status, exp, "expired", "fail")
    if status == exp.status:
        return GateEntry(rid, level, status, exp, "expected", None)
    if status == "pass":
        return GateEntry(rid, level, status, exp, "unexpected pass", "fail" if strict else None)
    return GateEntry(rid, level, status, exp, "unexpected", _counts(level, status))


def judge(expected: dict[str, Expected], results: Iterable[tuple[str, str, str]], *, file: str, strict: bool,
          today: date, run_verdict: str) -> Gate:
    """The gate over (requirement ID, level, status) triples of a run: every result the file expected, every
    unexpected result, and every expectation the run could not meet (not applicable, not run)."""
    gate = Gate(file, strict, today, run_verdict=run_verdict)
    seen = set()
    for rid, level, status in results:
        seen.add(rid)
        entry = _judge_one(rid, level, status, expected.get(rid), strict=strict, today=today)
        if entry is not None:
            gate.entries.append(entry)
    for rid, exp in expected.items():
        if rid not in seen:
            gate.entries.append(GateEntry(rid, catalogue()[rid].level, NOT_RUN, exp, "not run", None))
    return gate


# --- expectations update -----------------------------------------------------------------------------------
def refresh(existing: dict[str, Expected], requirements: dict[str, dict[str, Any]],
            source: str) -> tuple[list[Expected], list[str]]:
    """The expectations a run's results call for, keeping what the file already says (reason, link, expiry):
    every failure and every undecided MUST requirement; a listed requirement that now passes is dropped; one
    the run says nothing about (not run, not applicable, a harness error) is kept as it was. Also what changed,
    one line each."""
    out: dict[str, Expected] = {}
    changes: list[str] = []
    for rid, entry in requirements.items():
        status, old = entry.get("status"), existing.get(rid)
        wanted = status == "fail" or (status == "undecided" and entry.get("level") == "MUST")
        if wanted and old is None:
            out[rid] = Expected(rid, str(status), _reason(entry, source))
            changes.append(f"added {rid}: expected {status}")
        elif wanted and old is not None:
            out[rid] = Expected(rid, str(status), old.reason, old.link, old.expires)
            if old.status != status:
                changes.append(f"changed {rid}: expected {old.status} -> {status} (reason kept)")
        elif old is not None and status == "pass":
            changes.append(f"removed {rid}: it passes now")
        elif old is not None:
            out[rid] = old
    for rid, old in existing.items():
        if rid not in requirements:
            out[rid] = old
    order = list(catalogue())
    return sorted(out.values(), key=lambda e: order.index(e.requirement)), changes


def _reason(entry: dict[str, Any], source: str) -> str:
    """A first reason for a new entry, from what the run said (the person who accepts it writes the real one)."""
    first = entry.get("first_failure") or {}
    said = str(first.get("message") or entry.get("reason") or entry.get("status")).split("\n", 1)[0]
    said = said.split(". ", 1)[0].strip()
    said = said if len(said) <= 120 else said[:117] + "..."
    return f"TODO: say why this is accepted (recorded from {source}: {said})"
