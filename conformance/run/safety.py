"""Live safety: the one rule deciding whether a request that could really reimage a node is sent.

Used by `run` (the engine and the spec-driven layer, through Session.exchange) and by `diff`. Against the
embedded emulator, a --disposable target (the user's own throwaway emulator), and for requests the oracle says
cannot be accepted, it does nothing. Otherwise a request that could be accepted is sent only when the user opted
in (--allow-destructive), to a node the inventory marks expendable, within --max-reimages (counted across
everything the run sends), and when Get Node shows the node idle or running right now. After such a request was
accepted, Get Node reads the node at once and then with a backoff (50 ms doubling up to 15 s) until it is idle
again or the watch time (--watch-seconds) passes.

One more request is let through without spending the budget: a second reimage of an expendable node that Get
Node read `reimaging` after this run's own 202, sent at once after that read (it must be refused: a node being
reimaged is not idle or running). A real reimage takes minutes; only a target that wrongly accepts it reimages that
node again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from conformance.checks.semantics import node_state
from conformance.config import Settings
from conformance.inventory import Inventory
from conformance.models import Expectation, NodeWatch, Request, Response
from conformance.rules import ACCEPTING_STATES, reimage_target

SETTLED_STATE = "idle"
POLL_SECONDS = 15.0  # the longest wait between two reads of a reimaging node
FIRST_POLL_SECONDS = 0.05  # the first wait after the read at once; each next one doubles
SECOND_WINDOW_SECONDS = 1.0  # a second reimage goes out at most this long after the read that showed reimaging
# Get Node for (pool ID, node ID): the node's state, or None when the target did not answer one.
ReadState = Callable[[str, str], str | None]


# what would let a withheld request through, keyed by words of the reason it was withheld
REMEDIES = (("--allow-destructive", 'add --allow-destructive, with a node marked "expendable": true in --inventory'),
            ("expendable", 'mark a node you can afford to lose "expendable": true in --inventory'),
            ("--max-reimages", "raise --max-reimages"),
            ("did not answer a state", "a target that serves Get Node (live safety reads the node first), or, for "
                                       "your own throwaway emulator, --disposable"),
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

    def claim_plan(self, wanted: int, limit: int) -> int:
        """Claim the reimage plan, reserving up to `wanted` of `limit`: how many, or -1 when another process has."""

    def release(self, unused: int) -> None:
        """Give back what a reservation did not spend."""

    def lease(self, node: str) -> bool:
        """Whether this process may reimage the node: the first to ask holds it for the run."""

    def held_by_others(self) -> frozenset[str]:
        """The nodes (pool/node) other processes hold."""


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
    disposable: bool = False
    poll: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    spent: int = 0
    shared_budget: SharedBudget | None = None  # the workers of a parallel run spend one --max-reimages
    reserved: int = 0  # of the shared budget, taken ahead for the reimage plan this process sends
    # the workers of a parallel run share this target's nodes (--disposable, --parallel-target): each reimages only
    # nodes it holds, so that none meets a node another is reimaging (a 409 where a 202 is due: a false failure)
    shared_nodes: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, inventory: Inventory, *, embedded: bool | None = None) -> LiveSafety:
        """The live safety the settings ask for (`embedded`: whether the targets are the embedded emulator, when
        settings.target does not say it alone, as for diff's --target-from/--target-to)."""
        return cls(settings.embedded if embedded is None else embedded, settings.allow_destructive,
                   settings.max_reimages, settings.watch_seconds, inventory, settings.disposable)

    @property
    def exempt(self) -> bool:
        """The embedded emulator, or a target the user declared throwaway: no gate, no budget, no Get Node."""
        return self.embedded or self.disposable

    @property
    def budgeted(self) -> bool:
        """Whether requests that could be accepted spend --max-reimages (and are worth planning)."""
        return not self.exempt and self.allow_destructive

    def may_reimage_more(self) -> bool:
        """Whether a request that could be accepted could still be admitted (so it is worth routing)."""
        return self.exempt or (self.allow_destructive and self.spent < self.max_reimages)

    def could_reimage(self, expectation: Expectation) -> bool:
        """Whether a request with this expectation could really reimage a node of this target."""
        return not self.exempt and 202 in expectation.statuses

    def _refused_only_by_a_read(self, planned: Planned) -> bool:
        """Whether the only thing keeping the request from being accepted is a refusing state read during the run on
        an expendable node the inventory lists as idle or running: that read may be stale by now."""
        faults = planned.expectation.faults
        if self.exempt or not faults or any(f.requirement != node_state.id for f in faults):
            return False
        target = reimage_target(planned.request)
        pool = self.inventory.pool(target[0]) if target else None
        node = pool.node(target[1]) if pool and target else None
        return node is not None and node.expendable and node.state in ACCEPTING_STATES

    def admit(self, *sends: Planned) -> None:
        """Let the requests go (all of them), or raise Withheld saying why none may; spends the budget."""
        self._held(sends)
        risky = [s for s in sends if self.could_reimage(s.expectation) or self._refused_only_by_a_read(s)]
        if not risky:
            return
        if not self.allow_destructive:
            raise Withheld("a request that could reimage a node needs --allow-destructive (or, for your own "
                           "throwaway emulator, --disposable)")
        nodes = [self._expendable(planned.request) for planned in risky]
        self._within_budget(len(risky))
        for planned, node in zip(risky, nodes, strict=True):
            self._node_accepts(planned, *node)
        with self._lock:
            self._within_budget(len(risky))
            prepaid = min(self.reserved, len(risky))
            fresh = len(risky) - prepaid
            if self.shared_budget is not None and fresh and not self.shared_budget.take(fresh, self.max_reimages):
                raise Withheld(f"--max-reimages {self.max_reimages} reached (by all workers together)")
            self.reserved -= prepaid
            self.spent += len(risky)

    def held_elsewhere(self) -> frozenset[str]:
        """The nodes (pool/node, as the inventory spells them) other workers of the run hold: not this one's to
        reimage (none unless the workers share the target)."""
        if not self.shared_nodes or self.shared_budget is None:
            return frozenset()
        return self.shared_budget.held_by_others()

    def _held(self, sends: tuple[Planned, ...]) -> None:
        """Withheld when a request that could be accepted addresses a node another worker of the run holds."""
        if not self.shared_nodes or self.shared_budget is None:
            return
        for planned in sends:
            target = reimage_target(planned.request)
            if target is None or 202 not in planned.expectation.statuses:
                continue
            pool = self.inventory.pool(target[0])
            node = pool.node(target[1]) if pool else None
            if pool is None or node is None:
                continue
            if not self.shared_budget.lease(f"{pool.id}/{node.id}"):
                raise Withheld(f"node {pool.id}/{node.id} is reimaged by another worker of this run (workers that "
                               "share a target each reimage only their own nodes)")

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
        fresh = wanted - min(self.reserved, wanted)
        if self.shared_budget is not None and fresh and self.shared_budget.spent() + fresh > self.max_reimages:
            raise Withheld(f"--max-reimages {self.max_reimages} reached (by all workers together)")

    def _node_accepts(self, planned: Planned, pool_id: str, node_id: str) -> None:
        # read with the inventory's spelling: a request's other letter case is the question, never the read
        state = planned.read_state(pool_id, node_id)
        if state is None:
            raise Withheld(f"Get Node {pool_id}/{node_id} did not answer a state: not reimaged (for your own "
                           "throwaway emulator: --disposable)")
        if state not in ACCEPTING_STATES:
            raise Withheld(f"node {pool_id}/{node_id} is {state}, not idle or running: not reimaged")

    def admit_second(self, planned: Planned, read_state: str | None, read_at: float) -> None:
        """Let a second reimage of a node this run just reimaged go, spending no budget, or raise Withheld: on a
        gated target only to an expendable node Get Node read `reimaging` at most SECOND_WINDOW_SECONDS ago."""
        self._held((planned,))
        if self.exempt:
            return
        if not self.allow_destructive:
            raise Withheld("a second reimage needs --allow-destructive")
        pool_id, node_id = self._expendable(planned.request)
        if read_state != "reimaging":
            raise Withheld(f"node {pool_id}/{node_id} did not read reimaging: no second reimage")
        if time.monotonic() - read_at > SECOND_WINDOW_SECONDS:
            raise Withheld(f"node {pool_id}/{node_id} was read reimaging too long ago: no second reimage")

    def watch(self, planned: Planned, response: Response) -> NodeWatch | None:
        """After an admitted request was accepted, read Get Node at once, then with a backoff (FIRST_POLL_SECONDS
        doubling up to `poll`) until idle or the watch time; None when nothing was admitted or accepted."""
        if response.status != 202 or not self.could_reimage(planned.expectation):
            return None
        pool_id, node_id = self._expendable(planned.request)
        started = time.monotonic()
        states: list[str] = []
        wait = min(FIRST_POLL_SECONDS, self.poll)
        while True:
            state = planned.read_state(pool_id, node_id)
            states.append(state or "unreadable")
            waited = time.monotonic() - started
            if state == SETTLED_STATE or waited >= self.watch_seconds:
                break
            self.sleep(min(wait, max(self.watch_seconds - waited, 0.0)))
            wait = min(wait * 2, self.poll)
        return NodeWatch(pool_id, node_id, tuple(states), state == SETTLED_STATE, waited)
