"""A small Batch reimage server written apart from the emulator, for tests that must not share its blind spots.

It follows the facts (FACTS.md) in the plainest way: a pool and node table, BatchError answers with request-id,
the client-request-id echo, 405 for other methods, 400 for anything malformed, 404 for what does not exist,
409 for a node that is not idle or running. Each test subclass changes one behaviour in a few lines.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

API_VERSION = "2023-11-01.18.0"
OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
GUID_CHARS = set("0123456789abcdefABCDEF-")


def inventory(nodes: dict[str, str], pool: str = "pool-a") -> dict[str, Any]:
    """The inventory file a run is given for this server: every idle node expendable."""
    return {"pools": [{"id": pool, "configuration": "cloudServiceConfiguration",
                       "nodes": [{"id": n, "state": s, "expendable": s == "idle"} for n, s in nodes.items()]}]}


class TinyBatch(BaseHTTPRequestHandler):
    """One pool of nodes; reimage completes at once (the node stays idle)."""

    pool = "pool-a"
    nodes: ClassVar[dict[str, str]] = {"node-1": "idle", "node-2": "idle", "node-3": "idle", "busy-1": "rebooting"}

    def log_message(self, *_: Any) -> None:
        pass

    # --- what a subclass changes ---------------------------------------------------------------------
    def find_pool(self, pool_id: str) -> bool:
        """Pool IDs are case-insensitive."""
        return pool_id.lower() == self.pool.lower()

    def state(self, node_id: str) -> str:
        """The node's state now (Get Node reads it, reimage checks it)."""
        return self.nodes[node_id]

    def reimage(self, pool_id: str, node_id: str, query: dict[str, str], body: bytes) -> tuple[int, str]:
        """(status, error code) for a reimage; 202 with no code when accepted."""
        if "api-version" not in query:
            return 400, "MissingRequiredQueryParameter"
        if query["api-version"] != API_VERSION:
            return 400, "UnsupportedRequestVersion"
        if set(query) - {"api-version", "timeout"} or not _int32(query.get("timeout", "30")):
            return 400, "InvalidQueryParameterValue"
        if not self._headers_ok():
            return 400, "InvalidHeaderValue"
        if not self._body_ok(body):
            return 400, "InvalidRequestBody"
        if not self.find_pool(pool_id):
            return 404, "PoolNotFound"
        if node_id not in self.nodes:
            return 404, "NodeNotFound"
        if self.state(node_id) not in ("idle", "running"):
            return 409, "NodeBeingReimaged" if self.state(node_id) == "reimaging" else "NodeBeingRebooted"
        return 202, ""

    # --- plumbing ---------------------------------------------------------------------------------------
    def _headers_ok(self) -> bool:
        crid, ret = self.headers.get("client-request-id"), self.headers.get("return-client-request-id")
        date = self.headers.get("ocp-date")
        return ((crid is None or (len(crid) == 36 and set(crid) <= GUID_CHARS)) and ret in (None, "true", "false")
                and (date is None or _http_date(date)))

    def _body_ok(self, body: bytes) -> bool:
        if len(body) > 1024 * 1024:
            return False
        if not body:
            return True
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        return isinstance(doc, dict) and doc.get("nodeReimageOption", "requeue") in OPTIONS

    def _answer(self, status: int, code: str = "", doc: Any = None, extra: dict[str, str] | None = None) -> None:
        rid = str(uuid.uuid4())
        payload = b""
        if code:
            payload = json.dumps({"code": code, "message": {"lang": "en-US", "value": f"{code}\nRequestId:{rid}\n"
                                                            "Time:2026-01-01T00:00:00.0000000Z"}}).encode()
        elif doc is not None:
            payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("request-id", rid)
        if payload:
            self.send_header("Content-Type", "application/json;odata=minimalmetadata")
        if status == 202:
            self.send_header("DataServiceId", f"http://tiny{urlsplit(self.path).path}")
        if self.headers.get("return-client-request-id") == "true" and self.headers.get("client-request-id"):
            self.send_header("client-request-id", self.headers["client-request-id"])
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if len(parts) != 6 or parts[1] != "pools" or parts[3] != "nodes" or parts[5] != "reimage":
            self._answer(404, "ResourceNotFound")
            return
        status, code = self.reimage(parts[2], parts[4], dict(parse_qsl(url.query, keep_blank_values=True)), body)
        self._answer(status, code)

    def do_GET(self) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")]
        if len(parts) == 5 and parts[1] == "pools" and self.find_pool(parts[2]) and parts[4] in self.nodes:
            self._answer(200, doc={"id": parts[4], "state": self.state(parts[4])})
        elif len(parts) >= 5 and parts[3:4] == ["nodes"] and parts[-1] == "reimage":
            self._answer(405, "UnsupportedHttpVerb")
        else:
            self._answer(404, "ResourceNotFound")

    def _not_allowed(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(405, "UnsupportedHttpVerb")

    do_PUT = do_PATCH = do_DELETE = _not_allowed  # noqa: N815


def _http_date(value: str) -> bool:
    try:
        datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
    except ValueError:
        return False
    return True


def _int32(value: str) -> bool:
    try:
        return -(2**31) <= int(value) < 2**31 and value.strip() == value
    except ValueError:
        return False


@contextmanager
def serving(handler: type[TinyBatch]) -> Iterator[str]:
    """Serve the handler on a loopback port for the duration; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
