"""Per-requirement verdicts of one run and the machine-readable results.json they become."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from conformance import __version__
from conformance.models import UsageError
from conformance.reporting.buckets import Bucket, bucket_failures
from conformance.spec import Requirement

if TYPE_CHECKING:
    from conformance.reporting.expectations import Gate
    from conformance.reporting.record import Record

Status = Literal["pass", "fail", "error", "undecided", "not-applicable"]
Verdict = Literal["pass", "fail", "error", "incomplete"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "undecided", "not-applicable")


# A status only moves forward: undecided (or not applicable) -> passed -> harness error -> failed. Once a
# requirement failed, nothing later makes it pass; a harness error never turns into a pass.
RANK: dict[Status, int] = {"undecided": 0, "not-applicable": 0, "pass": 1, "error": 2, "fail": 3}
MAX_SERVERS = 5  # a target behind a load balancer may name several servers; a few say enough
# One change of one requirement's result as its method was called: (requirement ID, method, args, kwargs). A worker of
# a parallel run keeps them; the controller replays every worker's in the serial run's order (run/parallel.py).
Change = tuple[str, str, list[Any], dict[str, Any]]
CHANGES = frozenset({"met", "broke", "fail", "settle", "error", "undecided", "not_applicable"})


@dataclass
class RequirementResult:
    """The verdict on one requirement: pass needs at least one deciding example and no failure.

    Changed only through its methods, whose status never moves backwards (see RANK)."""

    requirement: Requirement
    status: Status = "undecided"
    examples: int = 0
    failures: int = 0
    first_failure: dict[str, Any] | None = None
    reason: str = ""
    remedy: str = ""  # undecided: what would decide it (a flag, an inventory change)
    duration: float = 0.0
    journal: list[Change] | None = field(default=None, repr=False, compare=False)  # when kept: every change

    def _note(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.journal is not None:
            self.journal.append((self.requirement.id, method, list(args), kwargs))

    def _advance(self, status: Status, reason: str, remedy: str = "") -> bool:
        if RANK[status] < RANK[self.status]:
            return False
        self.status, self.reason, self.remedy = status, reason, remedy
        return True

    def met(self, n: int = 1) -> None:
        """n examples decided the requirement and met it."""
        self._note("met", n)
        self.examples += n

    def broke(self, n: int = 1) -> None:
        """n examples decided the requirement and broke it (fail() records the example shown)."""
        self._note("broke", n)
        self.failures += n

    def fail(self, first_failure: dict[str, Any], *, replace: bool = False) -> None:
        """The target broke the requirement: fail for good, keeping the first failure shown (a property's
        own, shrunk, example replaces one met on another requirement's exchange: replace=True)."""
        self._note("fail", first_failure, replace=replace)
        self._advance("fail", "")
        if self.first_failure is None or replace:
            self.first_failure = first_failure

    def settle(self, undecided: str, remedy: str = "") -> None:
        """After its examples ran: pass when one decided it and none broke it; else undecided, saying why and
        what would decide it."""
        self._note("settle", undecided, remedy)
        if self.examples and not self.failures:
            self._advance("pass", "")
        elif self.status == "undecided":
            self.reason, self.remedy = undecided, remedy

    def error(self, reason: str) -> None:
        """The suite or the network broke before the requirement was decided (never over a failure)."""
        self._note("error", reason)
        self._advance("error", reason)

    def undecided(self, reason: str, remedy: str = "") -> None:
        """It could apply, but nothing decided it: why, and what would decide it (only while undecided)."""
        self._note("undecided", reason, remedy)
        if RANK[self.status] == 0:
            self._advance("undecided", reason, remedy)

    def not_applicable(self, reason: str) -> None:
        """It cannot apply to this kind of target by construction (only while nothing decided it)."""
        self._note("not_applicable", reason)
        if RANK[self.status] == 0:
            self._advance("not-applicable", reason)

    def to_json(self) -> dict[str, Any]:
        """The results.json entry for this requirement."""
        r = self.requirement
        return {"level": r.level, "category": r.category, "title": r.title, "source": r.source,
                "status": self.status, "examples": self.examples, "failures": self.failures,
                "first_failure": self.first_failure, "reason": self.reason, "remedy": self.remedy,
                "duration": round(self.duration, 3)}


@dataclass
class RunResult:
    """A whole run and its verdict (see verdict)."""

    target: str
    api_version: str
    seed: int | None
    profile: str
    suite_version: str
    config: dict[str, Any] = field(default_factory=dict)
    requirements: dict[str, RequirementResult] = field(default_factory=dict)
    duration: float = 0.0
    harness_errors: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)  # the distinct Server headers the target sent
    record: Record | None = None  # the certification record, once the run finished
    gate: Gate | None = None  # the run judged against an expectations file, when one was given
    # per node this run reimaged: how many times, each reimage's measured seconds [at least, at most]
    reimages: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""  # why the run stopped sending before it was through (deadline, breaker, signal), or ""
    requests: int = 0  # requests the run sent (every process of it; retries and Get Node reads included)

    def keep_journal(self) -> list[Change]:
        """From now on, record every change of every requirement's result (in one list, in the order made)."""
        journal: list[Change] = []
        for result in self.requirements.values():
            result.journal = journal
        return journal

    def replay(self, changes: list[Change]) -> None:
        """Make the same changes again, through the same methods (so the same forward-only rules apply)."""
        for rid, method, args, kwargs in changes:
            if method not in CHANGES:
                raise ValueError(f"not a change of a requirement's result: {method!r}")
            getattr(self.requirements[rid], method)(*args, **kwargs)

    def note_server(self, value: str | None) -> None:
        """Remember a Server header the target sent (the record names the target by it)."""
        if value and value not in self.servers and len(self.servers) < MAX_SERVERS:
            self.servers.append(value)

    @property
    def verdict(self) -> Verdict:
        """fail when a MUST requirement failed; error when none failed but one could not be decided because
        the harness broke; incomplete when none failed but an applicable MUST requirement stayed undecided (a
        run that stopped sending early leaves what it had not decided undecided, saying why);
        pass only when every applicable MUST requirement was decided and met. SHOULD requirements are
        warnings and never change it."""
        musts = [r for r in self.requirements.values() if r.requirement.level == "MUST"]
        if any(r.status == "fail" for r in musts):
            return "fail"
        if any(r.status == "error" for r in musts) or (self.harness_errors and not musts):
            return "error"
        if self.undecided_musts():
            return "incomplete"
        return "pass"

    def undecided_musts(self) -> list[RequirementResult]:
        """The applicable MUST requirements nothing decided: why a run is incomplete."""
        return [r for r in self.requirements.values() if r.requirement.level == "MUST" and r.status == "undecided"]

    def counts(self) -> dict[str, dict[str, int]]:
        """{level: {status: n}}."""
        out: dict[str, dict[str, int]] = {}
        for r in self.requirements.values():
            per = out.setdefault(r.requirement.level, dict.fromkeys(STATUSES, 0))
            per[r.status] += 1
        return out

    def buckets(self) -> list[Bucket]:
        """The distinct failure signatures, each naming the requirements it broke (reporting.buckets)."""
        return bucket_failures((rid, r.requirement.level, r.first_failure) for rid, r in self.requirements.items()
                               if r.status == "fail" and r.first_failure is not None)

    def to_json(self) -> dict[str, Any]:
        """The results.json document."""
        doc = {"verdict": self.verdict, "target": self.target, "api_version": self.api_version,
               "seed": self.seed, "profile": self.profile, "suite_version": self.suite_version,
               "duration": round(self.duration, 3), "config": self.config, "counts": self.counts(),
               "harness_errors": self.harness_errors, "stopped": self.stopped, "requests": self.requests,
               "reimages": self.reimages,
               "buckets": [b.to_json() for b in self.buckets()],
               "requirements": {k: v.to_json() for k, v in self.requirements.items()}}
        if self.record is not None:
            doc["record"] = self.record.to_json()
        if self.gate is not None:
            doc["expectations"] = self.gate.to_json()
        return doc

    def write(self, path: Path) -> None:
        """Write results.json."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, default=str) + "\n")


def read_results_file(path: str | Path) -> dict[str, Any]:
    """A results.json this version of the suite wrote, checked enough to compare and gate on; UsageError in one
    line for anything else (not JSON, not a results.json, another suite version, an unknown status)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{path} is not JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), dict) or "suite_version" not in doc:
        raise UsageError(f"{path} is not a batch-conformance results.json (no suite_version and requirements)")
    if doc["suite_version"] != __version__:
        raise UsageError(f"{path} was written by batch-conformance {doc['suite_version']}, this is {__version__}: "
                         "statuses may not mean the same; rerun the suite with this version")
    for rid, entry in doc["requirements"].items():
        status = entry.get("status") if isinstance(entry, dict) else None
        if status not in STATUSES or entry.get("level") not in ("MUST", "SHOULD"):
            raise UsageError(f"{path}: requirement {rid} has status {status!r}, not one of {', '.join(STATUSES)}")
    return doc


__all__ = ["STATUSES", "Change", "RequirementResult", "RunResult", "Status", "Verdict", "asdict", "read_results_file"]
