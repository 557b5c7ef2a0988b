"""Reimages that overlap this run's own: a second reimage right after a 202, and simultaneous reimages of one node.

Both ask whether a node the target has just accepted for reimage is refused (the node-state rule for the second
reimage, the concurrent-reimage rule for the burst; their checks live in their homes) and both take the same care
against a false failure: a 202 to the later request shows a race only when Get Node still read the node
reimaging long after the answers (models.RACE_FACTOR times the span in which the first reimage could have ended).
Otherwise the first reimage may simply have finished in between, and the exchange decides nothing. So after such
a 202 the node is read at its backoff until that much time has passed or it reads idle.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from conformance.checks import semantics
from conformance.models import RACE_FACTOR, Exchange, Expectation, Observations, Overlap, Request, Response
from conformance.run.nodes import Node, route
from conformance.run.safety import Planned, Withheld
from conformance.targets.base import NotExpressible, sent_request

if TYPE_CHECKING:
    from conformance.run.session import Session

SECOND_REIMAGES_PER_NODE = 2  # enough to catch a target that accepts them; each costs a request
TOO_QUICK = ("every burst of simultaneous reimages got more than one 202 from a node whose reimage ended too soon "
             "to tell a race from a finished reimage ({n} bursts)")
TOO_QUICK_REMEDY = ("a target whose reimage lasts longer than a burst's answers take (tens of milliseconds), e.g. an "
                    "emulator modelling a reimage of 0.1 s or more")


def _settle_for(session: Session, node: Node, answered_at: float, window: float) -> float | None:
    """After a second 202: read the node until it has been seen reimaging RACE_FACTOR windows after the last answer,
    or it reads idle; how long after the answer it was last seen reimaging (None when not after it)."""
    busy_seen = session.nodes.settle(node, session.node_state, until=answered_at + RACE_FACTOR * window)
    return busy_seen - answered_at if busy_seen is not None and busy_seen >= answered_at else None


def second_reimage(session: Session, node: Node, state: str | None, read_at: float, first_sent_at: float) -> None:
    """After this run's 202 on the node: while Get Node reads it reimaging (or, on a target that serves no Get Node,
    straight away), send it one more reimage at once and judge that exchange like every other."""
    if semantics.node_state.id not in session.run.requirements:
        return
    track = session.nodes.track(node)
    no_get_node = state is None and session.nodes.get_node is False and session.safety.exempt
    if track.second_reimages >= SECOND_REIMAGES_PER_NODE or not (state == "reimaging" or no_get_node):
        return
    request = Request(*node, query=(("api-version", session.settings.api_version),))
    expectation = session.oracle.expect(request)
    try:
        session.safety.admit_second(Planned(request, expectation, session.node_state), state, read_at)
    except Withheld:
        return
    track.second_reimages += 1
    try:
        response = session.send_raw(request)
    except NotExpressible:  # a target that cannot send a plain reimage decides it elsewhere
        return
    answered_at = time.monotonic()
    sent = sent_request(session.target, request)
    window = answered_at - first_sent_at
    after = _settle_for(session, node, answered_at, window) if response.status == 202 and state else None
    observed = Observations(auth_enforced=session.oracle.auth_enforced,
                            second=Overlap((response.status,), window, after, state))
    exchange = Exchange(sent, response, expectation, session.settings.api_version, session.target.base_url, observed)
    session.judge_passively(session.current, exchange, include_own=True)


def burst_inapplicable(session: Session) -> str:
    """Why simultaneous reimages cannot run against this target ('' when they can)."""
    if not (session.settings.embedded or session.settings.disposable):
        return ("runs only against the embedded emulator and --disposable targets: simultaneous reimages of one node "
                "would spend several reimages of a real account's node at once")
    if session.target.name != "http":
        return "simultaneous requests are sent over HTTP; this target sends one request at a time"
    return ""


def burst(session: Session, request: Request, n: int) -> Exchange:
    """Send n identical reimages of one idle node at once; the exchange of the first accepted one (or the first),
    observing every status and the node's reimage after them. The others are judged like every exchange."""
    request = route(session, request)
    expectation = session.oracle.expect(request)
    if expectation.uncertain or expectation.faults:
        raise Withheld("no node known to be idle or running for simultaneous reimages")
    session.safety.admit(Planned(request, expectation, session.node_state))
    answers = _at_once(session, request, n)
    sent = sent_request(session.target, request)
    for response, _, _ in answers:
        session.oracle.observe(request, response)
    others = session.oracle.expect(request)  # the node was just accepted by one of them: 202 or 409
    window = max(done for _, _, done in answers) - min(at for _, at, _ in answers)
    accepted = [a for a in answers if a[0].status == 202]
    main = accepted[0] if accepted else answers[0]
    view = session.after_202(request, main[1], main[2], second=False) if accepted else None
    after = None
    if len(accepted) > 1 and view is not None:
        after = _settle_for(session, session.canonical(request), max(done for _, _, done in answers), window)
    overlap = Overlap(tuple(response.status for response, _, _ in answers), window, after)
    for response, _, _ in answers:
        if response is not main[0]:
            session.judge_passively(session.current, _exchange(session, sent, response, others, overlap),
                                    include_own=True)
    observed = Observations(auth_enforced=session.oracle.auth_enforced, node_after=view, burst=overlap)
    return Exchange(sent, main[0], expectation, session.settings.api_version, session.target.base_url, observed)


def _exchange(session: Session, sent: Request, response: Response, expectation: Expectation,
              overlap: Overlap) -> Exchange:
    observed = Observations(auth_enforced=session.oracle.auth_enforced, burst=overlap)
    return Exchange(sent, response, expectation, session.settings.api_version, session.target.base_url, observed)


def _at_once(session: Session, request: Request, n: int) -> list[tuple[Response, float, float]]:
    """n sends released together (a barrier), each on its own connection: (response, sent at, answered at)."""
    gate = threading.Barrier(n)

    def one(_: int) -> tuple[Response, float, float]:
        gate.wait()
        sent_at = time.monotonic()
        response = session.target.send(request)
        return response, sent_at, time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(one, range(n)))
    for response, _, _ in answers:
        session.record(request, response)
    return answers


def too_quick(exchange: Exchange) -> bool:
    """Whether this was a burst with several 202s that cannot show a race (its node's reimage ended too soon)."""
    burst = exchange.observed.burst
    return burst is not None and burst.statuses.count(202) > 1 and not burst.race_shown
