"""A hostile Batch target for the project's own tests: a real server on loopback, raw sockets, one mode per way
a target can break its client (never answering, trickling, throttling forever, huge or poisonous bodies, bytes
that are not HTTP, resets, lying lengths, redirects, broken discovery).

Every answer closes its connection (`Connection: close`), so a mode needs no keep-alive bookkeeping. Modes that
serve a Batch-like answer use a well-formed BatchError (`batch_error`), so that the one hostile trait of the
mode is the only thing wrong with it. Try a mode by hand: `python tests/hostile.py slow-headers --port 9000`.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import socket
import socketserver
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

TRICKLE = 0.05  # seconds between the bytes of a trickling mode
HUGE = 200 * 1024 * 1024  # the size of the huge body: 200 MB, generated as it is sent, never held
BOMB_MIB = 1024  # the gzip bomb's decompressed size in MiB (about 1 MiB on the wire)
DEEP = 100_000  # nesting depth of the deep JSON body
PAGE = 1000  # items per page, as the live service pages its lists


@dataclass(frozen=True)
class Seen:
    """A request as the server read it (for tests that check what reached a server)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Ask:
    """The request a mode answers, and the server it arrived at."""

    method: str
    target: str
    headers: dict[str, str]
    server: HostileServer

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters."""
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def link(self, path: str, **query: str) -> str:
        """An absolute URL on this server (for odata.nextLink)."""
        pairs = "&".join(f"{k}={v}" for k, v in {"api-version": self.query.get("api-version", ""), **query}.items())
        return f"{self.server.url}{path}?{pairs}"


Mode = Callable[[Ask, socket.socket], None]


def batch_error(status: int, code: str, *, headers: tuple[tuple[str, str], ...] = (), message: str = "",
                values: list[dict[str, str]] | None = None) -> bytes:
    """A complete, well-formed Batch error answer (BatchError body, request-id, Content-Length)."""
    rid = str(uuid.uuid4())
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    doc: dict[str, object] = {"code": code, "message": {"lang": "en-US",
                                                        "value": f"{message or code}\nRequestId:{rid}\nTime:{when}"}}
    if values:
        doc["values"] = values
    return answer(status, json.dumps(doc).encode(), headers=(("request-id", rid), *headers))


def answer(status: int, body: bytes, *, headers: tuple[tuple[str, str], ...] = (),
           content_type: str = "application/json;odata=minimalmetadata") -> bytes:
    """Status line, headers and body, ready for the wire."""
    head = [f"HTTP/1.1 {status} Status", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
            "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _not_found(ask: Ask, conn: socket.socket) -> None:
    conn.sendall(batch_error(404, "PoolNotFound", message="The specified pool does not exist."))


def _wait_out(ask: Ask, conn: socket.socket) -> None:
    ask.server.stopping.wait()


def _trickle(data: bytes) -> Mode:
    def mode(ask: Ask, conn: socket.socket) -> None:
        for i in range(len(data)):
            if ask.server.stopping.wait(TRICKLE):
                return
            conn.sendall(data[i:i + 1])
        ask.server.stopping.wait()
    return mode


def _continue_forever(ask: Ask, conn: socket.socket) -> None:
    while not ask.server.stopping.wait(TRICKLE):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def _slow_body(ask: Ask, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n"
                 b"Connection: close\r\n\r\n{")
    while not ask.server.stopping.wait(TRICKLE):
        conn.sendall(b" ")


def _throttled(status: int, code: str, *retry_after: str) -> Mode:
    """Always this answer, its Retry-After taking each value in turn."""
    def mode(ask: Ask, conn: socket.socket) -> None:
        value = retry_after[(len(ask.server.seen) - 1) % len(retry_after)]
        conn.sendall(batch_error(status, code, headers=(("Retry-After", value),)))
    return mode


def _huge_body(ask: Ask, conn: socket.socket) -> None:
    start = b'{"code": "PoolNotFound", "message": {"lang": "en-US", "value": "'
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nrequest-id: "
                 + str(uuid.uuid4()).encode() + b"\r\nContent-Length: " + str(HUGE).encode()
                 + b"\r\nConnection: close\r\n\r\n" + start)
    block, sent = b"x" * (1 << 20), len(start)
    while sent < HUGE:
        piece = block[:HUGE - sent]
        conn.sendall(piece)
        sent += len(piece)


def _gzip_bomb(ask: Ask, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                 b"Connection: close\r\n\r\n")
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    for _ in range(BOMB_MIB):  # each MiB flushed at once (zlib would otherwise hold it back)
        conn.sendall(packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH))
    conn.sendall(packer.flush())


def _gzipped(ask: Ask, conn: socket.socket) -> None:
    """A well-formed 404 BatchError sent gzip-encoded, in two members (the decoder's control case)."""
    whole = batch_error(404, "PoolNotFound")
    head, _, body = whole.partition(b"\r\n\r\n")
    half = len(body) // 2
    packed = gzip.compress(body[:half]) + gzip.compress(body[half:])
    head = head.replace(f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(packed)}".encode())
    conn.sendall(head + b"\r\nContent-Encoding: gzip\r\n\r\n" + packed)


def _body(status: int, body: bytes) -> Mode:
    def mode(ask: Ask, conn: socket.socket) -> None:
        conn.sendall(answer(status, body, headers=(("request-id", str(uuid.uuid4())),)))
    return mode


def _reset(ask: Ask, conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST


def _lying_length(ask: Ask, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                 b"request-id: " + str(uuid.uuid4()).encode() + b"\r\nConnection: close\r\n\r\n"
                 b'{"code": "PoolNotFound"')


def _redirect(ask: Ask, conn: socket.socket) -> None:
    conn.sendall(answer(307, b"", headers=(("Location", ask.server.elsewhere + ask.target),)))


def _echo_secrets(ask: Ask, conn: socket.socket) -> None:
    """403 AuthenticationFailed echoing what was sent, as Azure Storage's AuthenticationErrorDetail does."""
    sent = ask.headers.get("authorization", "")
    signature = sent.rpartition(":")[2]
    detail = (f"The MAC signature found in the HTTP request '{signature}' is not the same as any computed "
              "signature.")
    conn.sendall(batch_error(403, "AuthenticationFailed", headers=(("x-echo-authorization", sent),),
                             message=detail, values=[{"key": "AuthenticationErrorDetail", "value": detail},
                                                     {"key": "HeaderValue", "value": sent}]))


def _discovery(pools: Callable[[Ask], bytes], nodes: Callable[[Ask], bytes] | None = None) -> Mode:
    """List Pools (and List Nodes) as the mode serves them; every other request a plain 404."""
    def mode(ask: Ask, conn: socket.socket) -> None:
        parts = ask.path.strip("/").split("/")
        if ask.method == "GET" and parts == ["pools"]:
            conn.sendall(pools(ask))
        elif ask.method == "GET" and len(parts) == 3 and parts[2] == "nodes" and nodes is not None:
            conn.sendall(nodes(ask))
        elif ask.method == "GET" and len(parts) == 3 and parts[2] == "nodes":
            conn.sendall(answer(200, json.dumps({"value": [{"id": f"{parts[1]}-n", "state": "idle"}]}).encode()))
        else:
            _not_found(ask, conn)
    return mode


def _json(doc: object) -> bytes:
    return answer(200, json.dumps(doc).encode())


def _paged_pools(ask: Ask) -> bytes:
    page = int(ask.query.get("page", "0"))
    doc: dict[str, object] = {"value": [{"id": f"pool-{page}-{i}", "cloudServiceConfiguration": {}} for i in range(2)]}
    if page < 2:
        doc["odata.nextLink"] = ask.link("/pools", page=str(page + 1))
    return _json(doc)


def _paged_nodes(ask: Ask) -> bytes:
    page, pool = int(ask.query.get("page", "0")), ask.path.split("/")[2]
    doc: dict[str, object] = {"value": [{"id": f"{pool}-node-{page}", "state": "idle"}]}
    if page < 1:
        doc["odata.nextLink"] = ask.link(ask.path, page=str(page + 1))
    return _json(doc)


def _one_pool(ask: Ask) -> bytes:
    return _json({"value": [{"id": "big", "cloudServiceConfiguration": {}}]})


def _endless_nodes(ask: Ask) -> bytes:
    page = int(ask.query.get("page", "0"))
    return _json({"value": [{"id": f"n-{page}-{i}", "state": "idle"} for i in range(PAGE)],
                  "odata.nextLink": ask.link(ask.path, page=str(page + 1))})


def _million_nodes(ask: Ask, conn: socket.socket) -> None:
    parts = ask.path.strip("/").split("/")
    if parts == ["pools"]:
        conn.sendall(_one_pool(ask))
        return
    total = 1_000_000
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    conn.sendall(b'{"value": [')
    for start in range(0, total, PAGE):
        items = ",".join(f'{{"id": "n-{i}", "state": "idle"}}' for i in range(start, start + PAGE))
        conn.sendall(((", " if start else "") + items).encode())
    conn.sendall(b"]}")


def _slow(ask: Ask, conn: socket.socket) -> None:
    if not ask.server.stopping.wait(0.2):
        _not_found(ask, conn)


MODES: dict[str, Mode] = {
    "plain": _not_found,  # a well-behaved 404 PoolNotFound to everything
    "gzipped": _gzipped,  # the same, gzip-encoded: not hostile, the control case of the decoder
    "slow": _slow,  # the same after 0.2 s
    "silent": _wait_out,  # reads the request, never answers
    "slow-headers": _trickle(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n" * 100),
    "continue-forever": _continue_forever,
    "slow-body": _slow_body,
    "throttle-forever": _throttled(429, "TooManyRequests", "3600"),
    "busy-bad-retry-after": _throttled(503, "ServerBusy", "NaN", "soon", "1.5", "-1", "Tue, 3 Feb 2026"),
    "huge-body": _huge_body,
    "gzip-bomb": _gzip_bomb,
    "lone-surrogate": _body(404, b'{"code": "Pool\\ud800NotFound", "message": {"lang": "en-US", "value": "x"}}'),
    "control-chars": _body(404, b'{"code": "PoolNotFound", "message": {"lang": "en-US", "value": "a\x00b\x1b[31m"}}'),
    "invalid-utf8": _body(404, b'{"code": "PoolNotFound\xff\xfe", "message": {"lang": "en-US", "value": "x"}}'),
    "deep-json": _body(404, b"[" * DEEP + b"]" * DEEP),
    "not-http": lambda ask, conn: conn.sendall(b"garbage garbage\r\n\r\n{not http"),
    "reset": _reset,
    "lying-length": _lying_length,
    "redirect": _redirect,
    "echo-secrets": _echo_secrets,
    "pools-not-objects": _discovery(lambda ask: _json({"value": [1, "two", None]})),
    "pages": _discovery(_paged_pools, _paged_nodes),
    "page-loop": _discovery(lambda ask: _json({"value": [], "odata.nextLink": ask.link("/pools")})),
    "page-elsewhere": _discovery(lambda ask: _json({"value": [],
                                                     "odata.nextLink": ask.server.elsewhere + "/pools?page=2"})),
    "endless-pages": _discovery(_one_pool, _endless_nodes),
    "million-nodes": _million_nodes,
}


def _read_request(conn: socket.socket) -> tuple[str, str, dict[str, str]] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(rest) < length:
        chunk = conn.recv(min(65536, length - len(rest)))
        if not chunk:
            break
        rest += chunk
    return method, target, headers


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(30)
        with contextlib.suppress(OSError):
            read = _read_request(conn)
            if read is None:
                return
            method, target, headers = read
            owner = self.server.owner
            owner.seen.append(Seen(method, urlsplit(target).path, headers))
            MODES[owner.mode](Ask(method, target, headers, owner), conn)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer


@dataclass
class HostileServer:
    """The hostile target in one mode, on an ephemeral loopback port (a context manager)."""

    mode: str
    port: int = 0
    elsewhere: str = ""  # another server's URL, for redirects and foreign nextLinks
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _server: _TCPServer | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"no mode {self.mode!r}; modes: {', '.join(MODES)}")

    @property
    def url(self) -> str:
        """The base URL to give --target."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._server = _TCPServer(("127.0.0.1", self.port), _Handler)
        self._server.owner = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextlib.contextmanager
def hostile(mode: str, **kwargs: str) -> Iterator[HostileServer]:
    """A HostileServer in this mode, running for the with block."""
    with HostileServer(mode, **kwargs) as server:  # type: ignore[arg-type]
        yield server


def main() -> None:
    """Serve one mode in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    with HostileServer(args.mode, port=args.port) as server:
        print(f"hostile target ({args.mode}) on {server.url}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
