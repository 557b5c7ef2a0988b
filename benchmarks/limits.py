"""The physical limits: raw sends (no generation, no checks), raw generation (no sends), the emulator alone."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.strategies import SearchStrategy

from conformance import checks, strategies
from conformance.inventory import Inventory
from conformance.models import Exchange, Observations, Request, RequirementFailure, Response
from conformance.oracle import Oracle
from conformance.rules import strip_auth_directive
from conformance.spec import versions

# the requirements the hand-written loop checks on every exchange (cheap and broad: any request decides them)
LOOP_CHECKS = ("NO-SERVER-ERROR", "ERR-BODY-SCHEMA", "ERR-CONTENT-TYPE", "ERR-REQUEST-ID", "SEM-ACCEPT")


@dataclass
class Timed:
    """How many operations took how long."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else 0.0


def _given(strategy: SearchStrategy[Any], examples: int) -> Callable[[Callable[[Any], None]], Callable[[], None]]:
    """@given with the suite's own settings (no deadline, no database, health checks off), seed 0."""
    def wrap(fn: Callable[[Any], None]) -> Callable[[], None]:
        test: Callable[[], None] = given(strategy)(fn)
        test = hypothesis_seed(0)(test)
        return settings(max_examples=examples, deadline=None, database=None, print_blob=False,
                        suppress_health_check=list(HealthCheck), phases=(Phase.generate,))(test)
    return wrap


def request_strategy(inventory: Inventory, api_version: str) -> SearchStrategy[Request]:
    """The suite's own strategy for whole reimage requests (valid, faulty and mixed)."""
    return strategies.reimage_requests(inventory=inventory, api_version=api_version)


def pregenerate(inventory: Inventory, api_version: str, count: int) -> list[Request]:
    """`count` requests drawn once (seed 0), as the wire would carry them (no auth directive)."""
    drawn: list[Request] = []

    @_given(request_strategy(inventory, api_version), count)
    def collect(request: Request) -> None:
        drawn.append(strip_auth_directive(request))
    collect()
    return drawn


def generate_only(inventory: Inventory, api_version: str, examples: int) -> Timed:
    """Hypothesis draws of strategies.reimage_requests through @given, nothing else: the generation limit."""
    seen = [0]

    @_given(request_strategy(inventory, api_version), examples)
    def draw(request: Request) -> None:
        seen[0] += 1
    started = time.perf_counter()
    draw()
    return Timed(seen[0], time.perf_counter() - started)


def _http_client_send(conn: http.client.HTTPConnection, request: Request) -> tuple[int, bytes]:
    conn.request(request.method, request.path_and_query, body=request.body, headers=dict(request.headers))
    answer = conn.getresponse()
    return answer.status, answer.read()


def send_http_client(base_url: str, requests_: list[Request], *, threads: int = 1) -> Timed:
    """Pre-generated requests over keep-alive http.client connections (one per thread): the send limit."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    per_thread = [requests_[i::threads] for i in range(threads)]
    errors: list[BaseException] = []

    def loop(batch: list[Request]) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for request in batch:
                _http_client_send(conn, request)
        except BaseException as err:  # surfaced below: a broken loop must not report a rate
            errors.append(err)
        finally:
            conn.close()
    workers = [threading.Thread(target=loop, args=(b,)) for b in per_thread]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"http.client loop failed: {errors[0]!r}")
    return Timed(len(requests_), elapsed)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # as HttpTarget does on loopback: no proxy/.netrc lookups per request
    return session


def _requests_send(session: requests.Session, base_url: str, request: Request) -> Response:
    prepared = requests.Request(request.method, base_url + request.path_and_query,
                                headers=dict(request.headers), data=request.body).prepare()
    prepared.url = base_url + request.path_and_query
    started = time.perf_counter()
    raw = session.send(prepared, timeout=30, allow_redirects=False)
    return Response(raw.status_code, tuple(raw.headers.items()), raw.content, time.perf_counter() - started)


def send_requests(base_url: str, requests_: list[Request]) -> Timed:
    """Pre-generated requests through one requests.Session (what the suite's HttpTarget uses)."""
    session = _session()
    started = time.perf_counter()
    for request in requests_:
        _requests_send(session, base_url, request)
    elapsed = time.perf_counter() - started
    session.close()
    return Timed(len(requests_), elapsed)


def generate_send_validate(base_url: str, inventory: Inventory, api_version: str, examples: int) -> Timed:
    """A hand-written loop: draw a request, send it with requests, oracle.expect + checks.evaluate (a few IDs)."""
    session = _session()
    oracle = Oracle(inventory, api_version, served_versions=frozenset(versions()), auth_enforced=False)
    seen = [0]

    @_given(request_strategy(inventory, api_version), examples)
    def loop(request: Request) -> None:
        request = strip_auth_directive(request)
        expectation = oracle.expect(request)
        response = _requests_send(session, base_url, request)
        oracle.observe(request, response)
        exchange = Exchange(request, response, expectation, api_version, base_url, Observations(auth_enforced=False))
        for rid in LOOP_CHECKS:
            try:
                checks.evaluate(rid, exchange)
            except RequirementFailure as failure:  # the correct emulator must not fail: a broken limit
                raise RuntimeError(f"the hand-written loop found {rid} failing: {failure}") from None
        seen[0] += 1
    started = time.perf_counter()
    loop()
    elapsed = time.perf_counter() - started
    session.close()
    return Timed(seen[0], elapsed)


def body_sizes(requests_: list[Request]) -> dict[str, float]:
    """What the pre-generated mix carries: mean and largest body, share of bodies over 64 KiB."""
    sizes = [len(r.body or b"") for r in requests_]
    big = sum(1 for s in sizes if s > 65536)
    return {"mean_body_bytes": sum(sizes) / max(len(sizes), 1), "max_body_bytes": float(max(sizes, default=0)),
            "share_over_64KiB": big / max(len(sizes), 1)}
