"""The out-of-process SDK target: generated reimage requests sent through an azure-batch release (15.x) that runs in
its own environment (sdk_env.py) and worker process (sdk_worker.py), judged on what that SDK put on the wire.

Each reimage Request is mapped onto ``BatchClient.begin_reimage_node`` arguments here; the worker makes the call
and asks before every request the SDK puts on the wire. The first one must be the generated request in everything
the checks look at (sdk_call.wire_mismatch), or nothing is sent; later ones are its poller's Get Node reads. This
side paces (--rate) and counts every send, keeps the wire exchange, and returns it as an SdkResponse saying what
the call did. GET requests of the suite (discovery, Get Node) go out as plain HTTP through the inherited HttpTarget.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from conformance.config import Settings
from conformance.models import HarnessError, Request, Response, UsageError
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_OMIT, OPTIONS
from conformance.spec import SdkRelease, version
from conformance.targets.auth import make_signer, shared_key_from_env, token_source
from conformance.targets.base import NotExpressible
from conformance.targets.http import HttpTarget, proxy_for
from conformance.targets.sdk_call import (
    WRONG_KEY,
    PollerView,
    SdkCall,
    SdkRefused,
    SdkResponse,
    json_body,
    option_of,
    plain_get,
    query_timeout,
    reimage_only,
    sdk_request,
    typed_headers,
    wire_mismatch,
)

WORKER = Path(__file__).resolve().parent / "sdk_worker.py"
START_TIMEOUT = 120.0  # importing azure-batch on a cold disk
MARGIN = 30.0  # beyond the request timeout, before a silent worker counts as hung


def call_arguments(request: Request, release: SdkRelease) -> dict[str, Any]:
    """begin_reimage_node's arguments (and the client-level client-request-id and headers) for a reimage Request;
    NotExpressible when it has none."""
    label = release.label
    reimage_only(request, label)
    crid, ret, date = typed_headers(request, label)
    data = version(release.api_version)
    timeout = query_timeout(request, label, release.api_version, data.timeout_param)
    doc = json_body(request.body, label)
    option = option_of(doc, label, None if data.option_enum_open else OPTIONS)
    return {"call": {"pool_id": request.pool_id, "node_id": request.node_id,
                     "options": None if doc is None else ({"nodeReimageOption": option} if option is not None else {}),
                     "service_timeout": timeout, "ocp_date": date},
            "client": {"request_id": crid, "headers": {"return-client-request-id": ret} if ret is not None else {}}}


class _Worker:
    """The worker process and its line-delimited JSON pipes."""

    def __init__(self, python: Path, label: str) -> None:
        self.label = label
        try:
            self.process = subprocess.Popen([str(python), "-I", str(WORKER)], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        except OSError as err:
            raise HarnessError(f"cannot start the {label} worker with {python}: {err.strerror} (try "
                               f"`batch-conformance sdk install --force {label.split()[-1]}`)") from None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: deque[str] = deque(maxlen=20)
        assert self.process.stdout is not None and self.process.stderr is not None
        threading.Thread(target=self._pump, args=(self.process.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self._error), daemon=True).start()

    def _error(self, line: str | None) -> None:
        if line is not None:
            self.errors.append(line)

    @staticmethod
    def _pump(stream: IO[str], put: Any) -> None:
        for line in stream:
            put(line)
        put(None)

    def write(self, message: dict[str, Any]) -> None:
        """Send one message to the worker."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise HarnessError(f"the {self.label} worker stopped{self._why()}") from None

    def read(self, timeout: float) -> dict[str, Any]:
        """The worker's next message; HarnessError when it stops or stays silent past the timeout."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise HarnessError(f"the {self.label} worker did not answer within {timeout:g} s") from None
        if line is None:
            raise HarnessError(f"the {self.label} worker stopped{self._why()}")
        return dict(json.loads(line))

    def _why(self) -> str:
        last = [e.strip() for e in self.errors if e.strip()]
        return f": {last[-1][:300]}" if last else ""

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self.process.poll() is None:
            with contextlib.suppress(HarnessError):
                self.write({"op": "exit"})
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class SdkProcessTarget(HttpTarget):
    """Reimage through an azure-batch release in its own process; GETs as plain HTTP."""

    name = "sdk"

    def __init__(self, base_url: str, settings: Settings, release: SdkRelease, python: Path, *,
                 poll_interval: float, poll_budget: float) -> None:
        if settings.api_version != release.api_version:
            raise UsageError(f"{release.label} speaks only api-version {release.api_version}; "
                             f"run with --api-version {release.api_version}")
        if settings.auth in ("bearer", "entra") and not base_url.startswith("https://"):
            raise UsageError(f"{release.label} (azure-core) sends bearer tokens only over https, not to {base_url}")
        super().__init__(base_url, timeout=settings.request_timeout, rate=settings.rate, signer=make_signer(settings))
        self.release = release
        self.settings = settings
        self.poll = {"interval": poll_interval, "budget": poll_budget}
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self._token = token_source(settings)
        self._call_lock = threading.Lock()
        self._worker = _Worker(python, release.label)
        self._worker.write({"op": "open", "endpoint": self.base_url, "timeout": settings.request_timeout,
                            "proxy": proxy_for(self.base_url)})
        ready = self._worker.read(START_TIMEOUT)
        found = (ready.get("ready") or {}).get("azure-batch")
        if found != release.version:
            self._worker.close()
            raise HarnessError(f"the {release.label} worker runs azure-batch {found}")

    def _credential(self, directive: str | None) -> dict[str, Any]:
        if directive == AUTH_OMIT or (directive != AUTH_BAD_SIGNATURE and self.settings.auth == "none"):
            return {"kind": "none"}
        if directive == AUTH_BAD_SIGNATURE:
            return {"kind": "sharedkey", "account": self.settings.account_name or "conformance", "key": WRONG_KEY}
        if self.settings.auth == "sharedkey":
            return {"kind": "sharedkey", "account": self.settings.account_name, "key": shared_key_from_env()}
        assert self._token is not None
        return {"kind": "token", "token": self._token()}

    def express(self, request: Request) -> None:
        """NotExpressible, sending nothing, when begin_reimage_node cannot send this request."""
        if not plain_get(request):
            call_arguments(sdk_request(request, self.release.label)[0], self.release)

    def _send_once(self, request: Request) -> Response:
        if plain_get(request):
            return super()._send_once(request)
        request, directive = sdk_request(request, self.release.label)
        arguments = call_arguments(request, self.release)
        arguments["client"]["credential"] = self._credential(directive)
        with self._call_lock:
            return self._call(request, arguments)

    def _call(self, request: Request, arguments: dict[str, Any]) -> SdkResponse:
        self.last_sent = None
        self._worker.write({"op": "reimage", **arguments, "poll": self.poll})
        wire: Response | None = None
        polls: list[int] = []
        failure = ""
        wait = max(self.timeout, float(self.poll["interval"])) + MARGIN
        while True:
            message = self._worker.read(wait)
            if "send" in message:
                self._worker.write(self._approve(request, message["send"], first=wire is None and not failure))
            elif "received" in message:
                answer = _response(message["received"])
                if wire is None:
                    wire = answer
                else:
                    polls.append(answer.status)
            elif "failed" in message:
                failure = failure or str(message["failed"])
            elif "done" in message:
                return self._outcome(message["done"], wire, polls, failure)

    def _approve(self, request: Request, sent: dict[str, Any], *, first: bool) -> dict[str, Any]:
        """Let one request of the SDK go (paced, counted), or refuse it: the call's first must be the generated
        one; later ones may only read (its poller's Get Node)."""
        body = base64.b64decode(sent["body"]) if sent.get("body") else None
        headers = [(str(k), str(v)) for k, v in sent.get("headers") or ()]
        if first:
            why = wire_mismatch(request, str(sent["method"]), str(sent["url"]), headers, body, self.base_path)
            if why is not None:
                return {"go": False, "why": f"{self.release.label} would send a different request ({why})"}
            self.last_sent = _wire_request(request, sent, headers, body, self.base_path)
        elif str(sent["method"]).upper() != "GET":
            return {"go": False, "why": f"{self.release.label}'s poller may only read"}
        self._pace()
        self.sent += 1
        return {"go": True}

    def _outcome(self, done: dict[str, Any], wire: Response | None, polls: list[int], failure: str) -> SdkResponse:
        label = self.release.label
        if "refused" in done:
            raise NotExpressible(str(done["refused"]))
        if "error" in done:
            raise HarnessError(f"the {label} worker: {done['error']}")
        if failure and wire is None:
            raise HarnessError(f"{label} could not reach {self.base_url}: {failure}")
        raised = done.get("raised")
        call = SdkCall(returned=raised is None, release=self.release.version, sent=bool(done.get("sent")))
        if raised is not None:
            call = SdkCall(False, str(raised["type"]), raised.get("code"), bool(raised.get("has_model")),
                           str(raised.get("message") or ""), exception_types=tuple(raised.get("bases") or ()),
                           sent=bool(done.get("sent")), release=self.release.version)
            if wire is None:
                raise SdkRefused(f"{label} refused the input before sending ({call.exception}: {call.detail})", call)
        else:
            view = done.get("poller") or {}
            call = SdkCall(True, value=str(done.get("returned")), release=self.release.version, poller=PollerView(
                str(view.get("initial")), str(view.get("status")), bool(view.get("done")), view.get("result"),
                tuple(polls), float(view.get("waited") or 0.0), str(view.get("error") or "")))
        if wire is None:
            raise HarnessError(f"{label} returned without a response from {self.base_url}")
        return SdkResponse(wire.status, wire.headers, wire.body, wire.elapsed, sdk=call)

    def close(self) -> None:
        """Stop the worker and close pooled connections."""
        self._worker.close()
        super().close()


def _response(received: dict[str, Any]) -> Response:
    body = base64.b64decode(received["body"]) if received.get("body") else b""
    headers = tuple((str(k), str(v)) for k, v in received.get("headers") or ())
    return Response(int(received["status"]), headers, body, float(received.get("elapsed") or 0.0))


def _wire_request(request: Request, sent: dict[str, Any], headers: list[tuple[str, str]], body: bytes | None,
                  base_path: str) -> Request:
    """The request as the SDK put it on the wire (what a recording keeps)."""
    parts = urlsplit(str(sent["url"]))
    return Request(request.pool_id, request.node_id, method=str(sent["method"]),
                   query=tuple(parse_qsl(parts.query, keep_blank_values=True)), headers=tuple(headers), body=body,
                   path=parts.path.removeprefix(base_path) or "/")
