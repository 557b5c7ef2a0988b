"""The emulator's raw ASGI application: routing, the reimage request validation, and the read-only GETs."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode

from conformance import spec
from conformance.emulator import validation
from conformance.emulator.auth import AuthConfig
from conformance.emulator.faults import Context, FaultSpec
from conformance.emulator.state import EmulatorState, node_view, pool_view
from conformance.emulator.wire import Reply, accepted_reply, error_reply, json_reply, serialise

Scope = dict[str, Any]
T = TypeVar("T")
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# route name -> allowed methods
ROUTES = {"pools": ("GET",), "pool": ("GET",), "nodes": ("GET",), "node": ("GET",), "reimage": ("POST",)}
# the racy-reimage fault: how long a reimage pauses between reading the node's state and marking it reimaging
RACE_PAUSE_SECONDS = 0.02
_SHAPES = {("pools",): "pools", ("pools", None): "pool", ("pools", None, "nodes"): "nodes",
           ("pools", None, "nodes", None): "node", ("pools", None, "nodes", None, "reimage"): "reimage"}


@dataclass
class Incoming:
    """One request as the app reads it: raw path kept for signing and DataServiceId."""

    method: str
    raw_path: str
    query_string: str
    query: list[tuple[str, str]]
    pairs: list[tuple[str, str]]  # header (lower-case name, value) pairs in arrival order
    headers: dict[str, str]  # first value per lower-case name
    body: bytes
    too_large: bool
    base_url: str
    # the racy-reimage fault: the node's state as read when the request arrived, used instead of its state now
    stale_state: str | None = None

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes, too_large: bool) -> Incoming:
        """Build from an ASGI scope and the body read so far."""
        pairs = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        headers: dict[str, str] = {}
        for k, v in pairs:
            headers.setdefault(k, v)
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string", b"").decode("latin-1")
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
        return cls(scope["method"], raw.decode("latin-1"), qs, parse_qsl(qs, keep_blank_values=True),
                   pairs, headers, body, too_large, f"{scope.get('scheme', 'http')}://{host}")

    def route(self) -> tuple[str, list[str]] | None:
        """(route name, decoded IDs) or None for a path the emulator does not serve."""
        path = self.raw_path[:-1] if len(self.raw_path) > 1 and self.raw_path.endswith("/") else self.raw_path
        parts = path.split("/")[1:]
        shape = tuple(None if i % 2 else p for i, p in enumerate(parts))
        name = _SHAPES.get(shape)
        if name is None:
            return None
        return name, [unquote(p) for i, p in enumerate(parts) if i % 2]


class ReimageApp:
    """ASGI app serving Compute Node - Reimage plus Get/List Pool and Node, with an optional fault."""

    def __init__(self, state: EmulatorState, *, api_versions: Sequence[str], fault: FaultSpec | None = None,
                 auth: AuthConfig | None = None) -> None:
        self.state = state
        self.versions = {v: spec.version(v) for v in api_versions}
        default = spec.default_version()
        self.default_version = self.versions.get(default) or self.versions[api_versions[-1]]
        self.max_body, self.max_id = spec.limits()
        self.fault = fault
        self.lenient = fault.lenient if fault else frozenset()
        self.flags = fault.flags if fault else frozenset()
        self.auth = auth
        self.accepted = 0
        self.null_options = 0  # explicit null options seen (the flip-flop fault answers every second one 400)
        # A fault shows only on the api-versions its rule names: other versions get a fault-free twin
        # sharing the same state.
        self._clean = (ReimageApp(state, api_versions=api_versions, auth=auth)
                       if fault is not None and fault.when is not None else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, too_large = await self._read_body(receive)
        req = Incoming.from_scope(scope, body, too_large)
        if "racy-reimage" in self.flags and req.method == "POST":
            # the deviation: read the state, let other requests in, decide on what was read (no lock held)
            req.stale_state = self._state_now(req)
            await asyncio.sleep(RACE_PAUSE_SECONDS)
        reply = self.handle(req)
        status, headers, payload = serialise(reply)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size, too_large = 0, False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            too_large = too_large or size > self.max_body
            if not too_large or "body-size" in self.lenient:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks), too_large

    def _state_now(self, req: Incoming) -> str | None:
        found = req.route()
        if found is None or found[0] != "reimage":
            return None
        try:
            return self.state.node_state(*found[1])
        except KeyError:
            return None

    def handle(self, req: Incoming) -> Reply:
        """Answer one request; the fault (if any) alters the reply last."""
        if self._clean is not None and self.fault is not None and self.fault.when is not None:
            asked = next((v for k, v in req.query if k == "api-version"), None)
            if asked in self.versions and not self.fault.when(self.versions[asked]):
                return self._clean.handle(req)
        crid = req.headers.get("client-request-id")
        ctx = Context(req.base_url, "", crid)
        reply = self._dispatch(req, ctx)
        if crid is not None and req.headers.get("return-client-request-id", "").lower() == "true":
            reply.set_header("client-request-id", crid)
        if reply.status == 202:
            with self.state.lock:
                ctx.accepted_seq, self.accepted = self.accepted, self.accepted + 1
        if self.fault is not None and self.fault.alter is not None:
            self.fault.alter(reply, ctx)
        return reply

    def _dispatch(self, req: Incoming, ctx: Context) -> Reply:
        found = req.route()
        if found is None:
            return error_reply(404, "ResourceNotFound", req.base_url)
        name, ids = found
        ctx.route = name
        allowed = ROUTES[name]
        treat_as_post = name == "reimage" and req.method == "GET" and "method" in self.lenient
        if req.method not in allowed and not treat_as_post:
            reply = error_reply(405, "UnsupportedHttpVerb", req.base_url)
            reply.headers.append(("Allow", ", ".join(allowed)))
            return reply
        early = validation.Checker(self, req)
        version = early.auth() or early.version()
        if isinstance(version, Reply):
            return version
        failed = early.headers(version) or early.timeout(version)
        if failed is not None:
            return failed
        if name == "reimage":
            return self._reimage(req, early, version, ids)
        return self._get(req, name, ids, version)

    def _reimage(self, req: Incoming, early: validation.Checker, version: spec.ApiVersion, ids: list[str]) -> Reply:
        option = early.body()
        if isinstance(option, Reply):
            return option
        pool_id, node_id = ids
        with self.state.lock:
            pool = self.state.pool(pool_id, case_sensitive="case-sensitive-pools" in self.flags)
            if pool is None:
                if "pool" in self.lenient:
                    return accepted_reply(req.base_url + req.raw_path)
                return error_reply(404, "PoolNotFound", req.base_url)
            node = pool.nodes.get(node_id)
            if node is None:
                return error_reply(404, "NodeNotFound", req.base_url)
            refused = early.pool_config(pool, version) or early.node_state(node, version)
            if refused is not None:
                return refused
            if "no-state-change" not in self.flags:
                self.state.reimage(pool, node, option, effect="no-option-effect" not in self.flags)
        return accepted_reply(req.base_url + req.raw_path)

    def _get(self, req: Incoming, name: str, ids: list[str], version: spec.ApiVersion) -> Reply:
        base = req.base_url
        with self.state.lock:
            if name == "pools":
                pools, link = _page(req, self.state.pools.values())
                return json_reply({"value": [pool_view(p, base) for p in pools], **link})
            pool = self.state.pool(ids[0], case_sensitive="case-sensitive-pools" in self.flags)
            if pool is None:
                return error_reply(404, "PoolNotFound", base)
            if name == "pool":
                return json_reply(pool_view(pool, base))
            now = self.state.clock()
            if name == "nodes":
                nodes, link = _page(req, pool.nodes.values())
                return json_reply({"value": [node_view(pool, n, now, version.node_states, base) for n in nodes],
                                   **link})
            node = pool.nodes.get(ids[1])
            if node is None:
                return error_reply(404, "NodeNotFound", base)
            return json_reply(node_view(pool, node, now, version.node_states, base))



PAGE_SIZE = 1000  # items per page of a list, at most and by default, as the service pages (maxresults)


def _page(req: Incoming, items: Iterable[T]) -> tuple[list[T], dict[str, str]]:
    """One page of a list (`maxresults`, `$skiptoken`) and, when more follow, its odata.nextLink."""
    query = dict(req.query)
    size = int(query["maxresults"]) if query.get("maxresults", "").isdigit() else PAGE_SIZE
    size = min(max(size, 1), PAGE_SIZE)
    skip = int(query["$skiptoken"]) if query.get("$skiptoken", "").isdigit() else 0
    window = list(itertools.islice(items, skip, skip + size + 1))
    if len(window) <= size:
        return window, {}
    rest = urlencode([(k, v) for k, v in req.query if k != "$skiptoken"] + [("$skiptoken", str(skip + size))])
    return window[:size], {"odata.nextLink": f"{req.base_url}{req.raw_path.split('?')[0]}?{rest}"}
