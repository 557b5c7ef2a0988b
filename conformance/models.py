"""The normalised request, response and verdict types every target, check and report shares."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

REIMAGE_METHOD = "POST"


class ConformanceError(Exception):
    """Base of the suite's own errors."""


class UsageError(ConformanceError):
    """Bad input from the user (flag, inventory, recording): reported as a clear message, exit 2."""


class HarnessError(ConformanceError):
    """The suite or the network broke (unreachable target, timeout): neither pass nor fail."""


class NotApplicable(ConformanceError):  # noqa: N818 - a signal, not an error condition
    """Raised by a check when this exchange cannot decide its requirement."""


class RequirementFailure(AssertionError):  # noqa: N818 - named for what it reports
    """The target broke a requirement: what was expected, what came back, and why."""

    def __init__(self, requirement: str, message: str, *, expected: str = "") -> None:
        super().__init__(f"[{requirement}] {message}")
        self.requirement = requirement
        self.detail = message
        self.expected = expected


@dataclass(frozen=True)
class Request:
    """One reimage (or other) request as generated: every part that can be varied, raw."""

    pool_id: str
    node_id: str
    method: str = REIMAGE_METHOD
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    path: str | None = None  # an explicit path overrides pool/node (other operations, recordings)

    @property
    def target_path(self) -> str:
        """The URL path, with pool and node IDs percent-encoded."""
        if self.path is not None:
            return self.path
        pool, node = quote(self.pool_id, safe=""), quote(self.node_id, safe="")
        return f"/pools/{pool}/nodes/{node}/reimage"

    @property
    def path_and_query(self) -> str:
        """Path plus query string as sent."""
        return self.target_path + (f"?{urlencode(self.query)}" if self.query else "")

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively, or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter (case-sensitive, as the service reads it), or None."""
        return next((v for k, v in self.query if k == name), None)

    def has_query(self, name: str) -> bool:
        """Whether the query names the parameter at all."""
        return any(k == name for k, _ in self.query)


@dataclass(frozen=True)
class Response:
    """A normalised response, whatever target produced it."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    elapsed: float = 0.0
    # Why `body` is not the whole body as sent ("" when it is): cut at the size cap, ended before its declared
    # length, or left in a content coding the suite does not decode. Such a body is never parsed as JSON.
    note: str = ""

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively, or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def json(self) -> Any:
        """The body parsed as JSON; ValueError (saying why) if it is not JSON, is not read whole, or nests
        deeper than the parser can follow (a target's body must never crash the suite)."""
        if self.note:
            raise ValueError(f"the body was not read whole: {self.note}")
        try:
            return json.loads(self.body.decode("utf-8"))
        except RecursionError:
            raise ValueError("the JSON nests deeper than the parser follows "
                             f"(the limit here is about {sys.getrecursionlimit()} levels)") from None


@dataclass(frozen=True)
class Outcome:
    """One acceptable answer: a status and, for errors, the codes the documentation names (SHOULD)."""

    status: int
    codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fault:
    """One thing wrong (or open) in a request, the requirement that governs it, and what it allows.

    key names the class of input ('option:null', 'timeout:0'): the same key is the same input, whose answer
    the target settles for the rest of a run (see Settled); '' when the point cannot be settled."""

    requirement: str
    description: str
    outcomes: frozenset[Outcome]
    key: str = ""


@dataclass(frozen=True)
class Answer:
    """An answer reduced to what the same input must get again: accepted, or refused with a status and code."""

    status: int
    code: str | None = None

    @property
    def accepted(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    def same_as(self, other: Answer) -> bool:
        """Whether two answers say the same about an input (every acceptance is the same answer)."""
        return (self.accepted and other.accepted) or (self.status, self.code) == (other.status, other.code)

    def describe(self) -> str:
        """'202' or '400 InvalidPropertyValue'."""
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass(frozen=True)
class Settled:
    """How the target itself answered one class of input earlier in the run (an open point it settled)."""

    key: str
    answer: Answer
    first: str  # the request that settled it, as a person reads it


@dataclass(frozen=True)
class Expectation:
    """What the oracle allows for a request: the union of its faults' outcomes, or acceptance."""

    outcomes: frozenset[Outcome]
    faults: tuple[Fault, ...] = ()
    requirements: frozenset[str] = frozenset()  # the semantic requirements this request exercises
    uncertain: bool = False  # the node's state is unknown (this run reimaged it): 202 or 409
    notes: tuple[str, ...] = ()
    # Open questions the facts leave undecided (requirement "" when none governs them): the request
    # may also be answered with these outcomes; they are already included in `outcomes`.
    open_points: tuple[Fault, ...] = ()
    # The one settleable class of input this request holds (its only open point, or its only fault), and what the
    # target answered to that class earlier in the run, if it did.
    sole_key: str = ""
    settled: Settled | None = None

    @property
    def statuses(self) -> frozenset[int]:
        """The acceptable statuses."""
        return frozenset(o.status for o in self.outcomes)

    def codes_for(self, status: int) -> frozenset[str]:
        """The documented codes for a status (empty when any code will do)."""
        return frozenset(c for o in self.outcomes if o.status == status for c in o.codes)

    def describe(self) -> str:
        """A person-readable summary: 'one of 404 (PoolNotFound), 409 (...)'."""
        parts = []
        for status in sorted(self.statuses):
            codes = sorted(self.codes_for(status))
            parts.append(f"{status} ({', '.join(codes)})" if codes else str(status))
        why = "; ".join(f.description for f in self.faults) or "a valid request"
        return f"one of {', '.join(parts)} because: {why}"


@dataclass(frozen=True)
class TaskView:
    """A task as the target showed it around a reimage (the node's recent tasks, the pool's queued tasks)."""

    id: str
    state: str


@dataclass(frozen=True)
class NodeView:
    """A node as Get Node showed it: its state, when it last changed, and the tasks seen with it."""

    state: str | None
    transition_time: str | None = None
    tasks: tuple[TaskView, ...] = ()


@dataclass(frozen=True)
class NodeWatch:
    """What live safety's watch after an accepted reimage saw: the states read, and whether it settled."""

    pool_id: str
    node_id: str
    states: tuple[str, ...]
    settled: bool
    waited: float


# A second acceptance is a race only when the node was seen still reimaging for this many times the span in which
# its first reimage could have ended: a target whose reimages vary less than tenfold cannot explain it otherwise.
RACE_FACTOR = 10.0


@dataclass(frozen=True)
class Overlap:
    """Reimages of one node sent while this run's own reimage of it was (or may have been) under way, and the
    timing that shows whether the node was still reimaging when they were answered.

    window: seconds from sending the reimage that started it all to the last answer: a first reimage shorter than
    that may have ended before a later request was handled, so a second 202 alone proves nothing.
    reimaging_after: seconds after the last answer at which Get Node still read `reimaging` (None: not read, or
    the node read idle first); a race is shown when it is at least RACE_FACTOR times the window.
    read_state: the state Get Node read just before (a second reimage), None where the target serves no Get Node.
    """

    statuses: tuple[int, ...]
    window: float
    reimaging_after: float | None = None
    read_state: str | None = None

    @property
    def race_shown(self) -> bool:
        """Whether the node was still reimaging long enough after the answers that a second 202 was a race."""
        return self.reimaging_after is not None and self.reimaging_after >= RACE_FACTOR * self.window


@dataclass(frozen=True)
class Observations:
    """What the run knew or saw around one exchange, besides the exchange itself."""

    auth_enforced: bool | None = None  # whether the target is known to enforce authentication
    node_before: NodeView | None = None  # read just before a request that could be accepted
    node_after: NodeView | None = None  # read just after a 202
    watch: NodeWatch | None = None  # live safety's watch after a 202 on a real node
    second: Overlap | None = None  # a second reimage sent right after this run's 202 on the node
    burst: Overlap | None = None  # identical reimages of one idle node sent at once (this exchange is one of them)
    location: str | None = None  # recorded traffic: the file and entry it came from


NOTHING_OBSERVED = Observations()


@dataclass(frozen=True)
class Exchange:
    """Everything a check may look at: what was sent, what came back, what was expected, what was observed."""

    request: Request
    response: Response
    expectation: Expectation
    api_version: str
    base_url: str = ""
    observed: Observations = field(default=NOTHING_OBSERVED, compare=False)
    # the request as it went on the wire, when signing changed it: its secrets are scrubbed from what the
    # target echoes before anything about the exchange is recorded
    sent: Request | None = field(default=None, compare=False)
