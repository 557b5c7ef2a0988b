"""Live-service safety around a destructive request: read the node before, watch it after.

The engine's gate (Session._gate) decides whether a request that could be accepted may be sent at all
(--allow-destructive, expendable nodes, --max-reimages). These helpers add the node checks around the
ones it lets through: before, Get Node must show the node idle or running (else the request is withheld);
after a 202, Get Node is polled until the node is idle again or the watch time passes. Against the
embedded emulator, and for requests that cannot be accepted, both do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from conformance.models import Expectation, Request, Response

if TYPE_CHECKING:
    from conformance.run.session import Session

ACCEPTING_STATES = ("idle", "running")
SETTLED_STATE = "idle"
POLL_SECONDS = 15.0


@dataclass(frozen=True)
class NodeWatch:
    """What the watch after a destructive request saw."""

    pool_id: str
    node_id: str
    states: tuple[str, ...]
    settled: bool
    waited: float


def is_destructive(session: Session, request: Request, expectation: Expectation | None = None) -> bool:
    """Whether this request, on this target, could really reimage a node."""
    if session.settings.embedded:
        return False
    expectation = expectation or session.oracle.expect(request)
    return 202 in expectation.statuses


def node_state(session: Session, pool_id: str, node_id: str) -> str | None:
    """The node's state read with Get Node (recorded and told to the oracle), or None if unreadable."""
    doc = session.get_json(f"/pools/{quote(pool_id, safe='')}/nodes/{quote(node_id, safe='')}")
    state = doc.get("state") if isinstance(doc, dict) else None
    if not isinstance(state, str):
        return None
    session.oracle.note_state(pool_id, node_id, state)
    return state


def before_destructive(session: Session, request: Request, expectation: Expectation | None = None) -> None:
    """Withhold a destructive request unless Get Node shows its node idle or running right now."""
    if not is_destructive(session, request, expectation):
        return
    from conformance.run.session import Withheld

    state = node_state(session, request.pool_id, request.node_id)
    if state is None:
        raise Withheld(f"Get Node {request.pool_id}/{request.node_id} did not answer a state: not reimaged")
    if state not in ACCEPTING_STATES:
        raise Withheld(f"node {request.pool_id}/{request.node_id} is {state}, not idle or running: not reimaged")


def after_destructive(session: Session, request: Request, response: Response,
                      expectation: Expectation | None = None, *, poll: float = POLL_SECONDS,
                      sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """After an accepted destructive request, poll Get Node until idle or the watch time; context to keep."""
    if response.status != 202 or not is_destructive(session, request, expectation):
        return {}
    limit = session.settings.watch_seconds
    started = time.monotonic()
    states: list[str] = []
    while True:
        state = node_state(session, request.pool_id, request.node_id)
        states.append(state or "unreadable")
        waited = time.monotonic() - started
        if state == SETTLED_STATE or waited >= limit:
            break
        sleep(min(poll, max(limit - waited, 0.0)))
    watch = NodeWatch(request.pool_id, request.node_id, tuple(states), state == SETTLED_STATE, waited)
    return {"node_watch": asdict(watch)}
