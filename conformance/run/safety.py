"""Live safety: the one rule deciding whether a request that could really reimage a node is sent.

Used by `run` (the engine and the spec-driven layer, through Session.exchange) and by `diff`. Against the
embedded emulator, and for requests the oracle says cannot be accepted, it does nothing. Otherwise a request
that could be accepted is sent only when the user opted in (--allow-destructive), to a node the inventory
marks expendable, within --max-reimages (counted across everything the run sends), and when Get Node shows
the node idle or running right now. After such a request was accepted, Get Node is polled until the node is
idle again or the watch time (--watch-seconds) passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from conformance.config import Settings
from conformance.inventory import Inventory
from conformance.models import Expectation, NodeWatch, Request, Response
from conformance.rules import ACCEPTING_STATES, reimage_target

SETTLED_STATE = "idle"
POLL_SECONDS = 15.0
# Get Node for (pool ID, node ID): the node's state, or None when the target did not answer one.
ReadState = Callable[[str, str], str | None]


# what would let a withheld request through, keyed by words of the reason it was withheld
REMEDIES = (("--allow-destructive", 'add --allow-destructive, with a node marked "expendable": true in --inventory'),
            ("expendable", 'mark a node you can afford to lose "expendable": true in --inventory'),
            ("--max-reimages", "raise --max-reimages"),
            ("did not answer a state", "the target must serve Get Node for live safety to read the node first"),
            ("not idle or running", "rerun when the expendable node is idle or running"))


def remedy_for(why: str) -> str:
    """What would let a request withheld for this reason through ('' when nothing the user sets would)."""
    return next((fix for words, fix in REMEDIES if words in why), "")


class SharedBudget(Protocol):
    """--max-reimages spent by several processes together (run/shared.py)."""

    def spent(self) -> int:
        """How many the run has spent."""

    def take(self, wanted: int, limit: int) -> bool:
        """Spend `wanted` of `limit`, or nothing and False when they do not all fit."""


class Withheld(Exception):  # noqa: N818 - a signal: this request was deliberately not sent
    """Live safety kept a request that could really reimage a node from being sent."""


@dataclass(frozen=True)
class Planned:
    """A request about to be sent, what the oracle expects of it, and how to read its node on that target."""

    request: Request
    expectation: Expectation
    read_state: ReadState


@dataclass
class LiveSafety:
    """Admits or withholds requests that could reimage a node, and watches the ones it admitted."""

    embedded: bool
    allow_destructive: bool
    max_reimages: int
    watch_seconds: float
    inventory: Inventory
    poll: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    spent: int = 0
    shared_budget: SharedBudget | None = None  # the workers of a parallel run spend one --max-reimages
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, inventory: Inventory, *, embedded: bool | None = None) -> LiveSafety:
        """The live safety the settings ask for (`embedded`: whether the targets are the embedded emulator, when
        settings.target does not say it alone, as for diff's --target-from/--target-to)."""
        return cls(settings.embedded if embedded is None else embedded, settings.allow_destructive,
                   settings.max_reimages, settings.watch_seconds, inventory)

    def could_reimage(self, expectation: Expectation) -> bool:
        """Whether a request with this expectation could really reimage a node of this target."""
        return not self.embedded and 202 in expectation.statuses

    def admit(self, *sends: Planned) -> None:
        """Let the requests go (all of them), or raise Withheld saying why none may; spends the budget."""
        risky = [s for s in sends if self.could_reimage(s.expectation)]
        if not risky:
            return
        if not self.allow_destructive:
            raise Withheld("a request that could reimage a node needs --allow-destructive")
        nodes = [self._expendable(planned.request) for planned in risky]
        self._within_budget(len(risky))
        for planned, node in zip(risky, nodes, strict=True):
            self._node_accepts(planned, *node)
        with self._lock:
            self._within_budget(len(risky))
            if self.shared_budget is not None and not self.shared_budget.take(len(risky), self.max_reimages):
                raise Withheld(f"--max-reimages {self.max_reimages} reached (by all workers together)")
            self.spent += len(risky)

    def _expendable(self, request: Request) -> tuple[str, str]:
        """The (pool ID, node ID) of the expendable node the request addresses, as the inventory spells them."""
        target = reimage_target(request)
        pool = self.inventory.pool(target[0]) if target else None
        node = pool.node(target[1]) if pool and target else None
        if pool is None or node is None or not node.expendable:
            raise Withheld("only nodes the inventory marks expendable may be reimaged")
        return pool.id, node.id

    def _within_budget(self, wanted: int) -> None:
        if self.spent + wanted > self.max_reimages:
            raise Withheld(f"--max-reimages {self.max_reimages} reached")
        if self.shared_budget is not None and self.shared_budget.spent() + wanted > self.max_reimages:
            raise Withheld(f"--max-reimages {self.max_reimages} reached (by all workers together)")

    def _node_accepts(self, planned: Planned, pool_id: str, node_id: str) -> None:
        # read with the inventory's spelling: a request's other letter case is the question, never the read
        state = planned.read_state(pool_id, node_id)
        if state is None:
            raise Withheld(f"Get Node {pool_id}/{node_id} did not answer a state: not reimaged")
        if state not in ACCEPTING_STATES:
            raise Withheld(f"node {pool_id}/{node_id} is {state}, not idle or running: not reimaged")

    def watch(self, planned: Planned, response: Response) -> NodeWatch | None:
        """After an admitted request was accepted, poll Get Node until idle or the watch time; None otherwise."""
        if response.status != 202 or not self.could_reimage(planned.expectation):
            return None
        pool_id, node_id = self._expendable(planned.request)
        started = time.monotonic()
        states: list[str] = []
        while True:
            state = planned.read_state(pool_id, node_id)
            states.append(state or "unreadable")
            waited = time.monotonic() - started
            if state == SETTLED_STATE or waited >= self.watch_seconds:
                break
            self.sleep(min(self.poll, max(self.watch_seconds - waited, 0.0)))
        return NodeWatch(pool_id, node_id, tuple(states), state == SETTLED_STATE, waited)
