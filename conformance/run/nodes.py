"""The nodes a run reimages: which are free, which are still reimaging, and how long their reimages took.

After a 202 the node is read at once (Get Node). A node still reimaging is read again only when the run needs it,
and no sooner than its backoff allows (about 50 ms after the 202, doubling up to 15 s), so the run goes on with
other nodes meanwhile. A request that could be accepted keeps its node when that node is free, and otherwise
rotates to the free node of its kind reimaged least recently; only when every such node is still reimaging does
the run wait, for the first one due to be read again. Each reimage is measured: at least the time from its 202 to
the last read that still showed it reimaging, at most the time from sending it to the first read showing it idle.
The measurements teach the book how long this target's reimage takes (the longest "still reimaging" and the
shortest "idle by" so far): a later reimage is also read midway between the two, never later than the backoff
would, so the book narrows them down and finds a node idle again within milliseconds of it being so. A target
whose reimages differ (the bounds cross) is read with the backoff alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from conformance.models import Request
from conformance.rules import ACCEPTING_STATES, REIMAGE_PATH, reimage_target

if TYPE_CHECKING:
    from conformance.run.session import Session

FIRST_BACKOFF = 0.05
MAX_BACKOFF = 15.0
Node = tuple[str, str]  # (pool ID, node ID) as the inventory spells them
# Get Node for a node: its state, or None when the target did not answer one (the reader reports to seen()).
ReadState = Callable[[str, str], str | None]


@dataclass
class Reimage:
    """One accepted reimage of a node: when it was asked for and accepted, and what reads showed after."""

    sent_at: float  # the request that got the 202 was sent
    accepted_at: float  # the 202 came back
    busy_seen: float | None = None  # the last read that still showed the node reimaging was sent then
    idle_by: float | None = None  # the first read that showed it idle (or running) again came back then

    def bounds(self) -> tuple[float, float | None]:
        """(at least, at most) seconds the reimage took; at most is None while it was never seen idle again."""
        low = max((self.busy_seen or self.accepted_at) - self.accepted_at, 0.0)
        return low, None if self.idle_by is None else max(self.idle_by - self.sent_at, low)


@dataclass
class Track:
    """What the run knows of one node it may reimage."""

    node: Node
    reimages: list[Reimage] = field(default_factory=list)
    next_read: float = 0.0
    backoff: float = FIRST_BACKOFF
    gave_up: bool = False  # still reimaging when --watch-seconds ran out: never used again in this run
    second_reimages: int = 0

    @property
    def busy(self) -> bool:
        """Accepted for reimage by this run and not yet read idle again."""
        return bool(self.reimages) and self.reimages[-1].idle_by is None

    @property
    def last_accepted(self) -> float:
        """When its latest reimage was accepted (-1 when never)."""
        return self.reimages[-1].accepted_at if self.reimages else -1.0


class WouldWait(Exception):  # noqa: N818 - a signal: the request would have to wait for a node
    """Every node a request could go to is still reimaging, and the caller said not to wait."""


@dataclass
class NodeBook:
    """Free and reimaging nodes, their backoff, and the measured length of every reimage of the run."""

    watch_seconds: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    get_node: bool | None = None  # whether the target answers Get Node with a state (None: not known yet)
    tracks: dict[Node, Track] = field(default_factory=dict)
    # what this target's finished reimages showed: each lasted at least `low` and at most `high` seconds
    low: float = 0.0
    high: float | None = None

    def track(self, node: Node) -> Track:
        """The node's record (created on first use)."""
        return self.tracks.setdefault(node, Track(node))

    def accepted(self, node: Node, sent_at: float, accepted_at: float) -> None:
        """A reimage of the node was accepted: it is busy until a read shows it idle; read it at once."""
        track = self.track(node)
        if not track.busy:  # a second 202 while busy is measured as part of the reimage under way
            track.reimages.append(Reimage(sent_at, accepted_at))
        track.next_read, track.backoff = accepted_at, FIRST_BACKOFF

    def seen(self, node: Node, state: str | None, sent_at: float, answered_at: float) -> None:
        """A Get Node read (sent at sent_at) showed this state (None: no state answered; the target serves no Get
        Node unless an earlier read answered one)."""
        if state is not None:
            self.get_node = True
        elif self.get_node is None:
            self.get_node = False
        track = self.tracks.get(node)
        if track is None or not track.busy:
            return
        current = track.reimages[-1]
        if state in ACCEPTING_STATES:
            current.idle_by = answered_at
            low, high = current.bounds()
            self.low, self.high = max(self.low, low), high if self.high is None else min(self.high, high or 0.0)
            return
        if state is not None:
            current.busy_seen = sent_at
        track.next_read = min(sent_at + track.backoff, self._learned(current, sent_at))
        track.backoff = min(track.backoff * 2, MAX_BACKOFF)

    def _learned(self, current: Reimage, now: float) -> float:
        """When what earlier reimages showed says to read this one next (infinity when they show nothing usable):
        midway between the longest 'still reimaging' and the shortest 'idle by', at the latter, and once just
        after it; past that only the backoff reads it (a reimage longer than any before is not polled fast)."""
        if self.high is None or self.low > self.high:
            return float("inf")
        for offset in ((self.low + self.high) / 2, self.high, self.high + max(0.01, self.high - self.low)):
            if current.accepted_at + offset > now:
                return current.accepted_at + offset
        return float("inf")

    def free(self, node: Node) -> bool:
        """Whether the node may take a request that could be accepted now (never reimaged, or read idle since)."""
        track = self.tracks.get(node)
        return track is None or (not track.busy and not track.gave_up)

    def readable(self) -> bool:
        """Whether a busy node can be read back to free (False once the target showed it serves no Get Node)."""
        return self.get_node is not False

    def _poll(self, nodes: Iterable[Node], read: ReadState) -> None:
        """Read the busy nodes whose next read is due; give up on those past the watch time."""
        now = self.clock()
        for node in nodes:
            track = self.tracks.get(node)
            if track is None or not track.busy or track.gave_up:
                continue
            if now - track.reimages[-1].accepted_at > self.watch_seconds:
                track.gave_up = True
            elif track.next_read <= now and self.readable():
                read(*node)

    def choose(self, drawn: Node, others: list[Node], read: ReadState, *, wait: bool = True) -> Node | None:
        """The node a request that could be accepted goes to: the drawn one when free, else the free one of
        `others` (in preference order, the least recently reimaged first); waits while every one is still
        reimaging and can be read back (WouldWait instead when not `wait`); None when none can become free
        (no Get Node, or past the watch time)."""
        candidates = [drawn, *others]
        while True:
            self._poll(candidates, read)
            free = [node for node in candidates if self.free(node)]
            if drawn in free:
                return drawn
            if free:
                return min(free, key=lambda node: self.track(node).last_accepted)
            waiting = [self.tracks[node] for node in candidates
                       if node in self.tracks and self.tracks[node].busy and not self.tracks[node].gave_up]
            if not waiting or not self.readable():
                return None
            if not wait:
                raise WouldWait(f"every node of pool {drawn[0]} is still reimaging")
            self.sleep(max(min(t.next_read for t in waiting) - self.clock(), 0.0))

    def settle(self, node: Node, read: ReadState, *, until: float) -> float | None:
        """Read a busy node at its backoff until it reads idle, or a read sent at `until` or later still shows it
        reimaging (then: when that read was sent), or the watch time passes. Returns when the last read that
        showed it reimaging was sent (None if none did)."""
        track = self.track(node)
        while track.busy and not track.gave_up and self.readable():
            current = track.reimages[-1]
            if current.busy_seen is not None and current.busy_seen >= until:
                break
            track.next_read = min(track.next_read, until)
            self.sleep(max(track.next_read - self.clock(), 0.0))
            self._poll([node], read)
        return track.reimages[-1].busy_seen if track.reimages else None

    def finish(self, read: ReadState) -> None:
        """Wait for every node still reimaging to read idle again (or its watch time to pass)."""
        while self.readable():
            waiting = [t for t in self.tracks.values() if t.busy and not t.gave_up]
            if not waiting:
                return
            self.sleep(max(min(t.next_read for t in waiting) - self.clock(), 0.0))
            self._poll([t.node for t in waiting], read)

    def report(self) -> dict[str, Any]:
        """Per node: how many reimages, each one's measured length, and whether it was still reimaging at the end."""
        out: dict[str, Any] = {}
        for (pool_id, node_id), track in sorted(self.tracks.items()):
            if not track.reimages:
                continue
            seconds = [[round(low, 3), None if high is None else round(high, 3)]
                       for low, high in (r.bounds() for r in track.reimages)]
            out[f"{pool_id}/{node_id}"] = {"reimages": len(track.reimages), "seconds": seconds,
                                           "still_reimaging": track.busy, "second_reimages": track.second_reimages}
        return out


def route(session: Session, request: Request) -> Request:
    """A reimage request to a node this run is still reimaging moves to a free node of the same pool (the same
    inventory state first), waiting only when every one is still reimaging: a valid request needs a node that
    can accept it, and a faulty one would only meet a 409 that hides the fault it is about."""
    target = reimage_target(request)
    if target is None or request.method.upper() != "POST":
        return request
    pool = session.inventory.pool(target[0])
    node = pool.node(target[1]) if pool else None
    if pool is None or node is None or not node.expendable:
        return request
    elsewhere = session.safety.held_elsewhere()  # a node another worker sharing the target reimages is never free
    if session.nodes.free((pool.id, node.id)) and f"{pool.id}/{node.id}" not in elsewhere:
        return request
    expectation = session.oracle.expect(request)
    if not expectation.faults and 202 in expectation.statuses and not session.safety.may_reimage_more():
        return request  # withheld anyway: no need to wait for a node
    others = sorted((n for n in pool.nodes if n.expendable and n.state in ACCEPTING_STATES and n.id != node.id
                     and f"{pool.id}/{n.id}" not in elsewhere), key=lambda n: n.state != node.state)
    candidates = [(pool.id, n.id) for n in others]
    if f"{pool.id}/{node.id}" in elsewhere:  # not this worker's: only another node of the pool can take it
        if not candidates:
            return request
        chosen = session.nodes.choose(candidates[0], candidates[1:], session.node_state, wait=session.may_wait)
    else:
        chosen = session.nodes.choose((pool.id, node.id), candidates, session.node_state, wait=session.may_wait)
    return request if chosen is None or chosen[1] == node.id else _with_node(request, chosen[1])


def _with_node(request: Request, node_id: str) -> Request:
    """The same reimage request addressed to another node of the same pool (an explicit path rewritten too)."""
    if request.path is None:
        return replace(request, node_id=node_id)
    match = REIMAGE_PATH.match(request.path)
    if match is None:
        return request
    start, end = match.span("node")
    return replace(request, node_id=node_id, path=request.path[:start] + quote(node_id, safe="") + request.path[end:])
