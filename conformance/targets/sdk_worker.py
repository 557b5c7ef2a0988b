"""The worker that drives azure-batch 15.x: run as a script by that release's own interpreter (sdk_env.py), it
imports only the standard library and the SDK (with azure-core, which the SDK brings), never this package.

It speaks line-delimited JSON over stdin/stdout with sdk_process.py. The suite opens with
    {"op": "open", "endpoint": URL, "timeout": S, "proxy": URL|null}          -> {"ready": {...versions}}
then, per generated request,
    {"op": "reimage", "call": {pool_id, node_id, options, service_timeout, ocp_date},
     "client": {credential, request_id, headers}, "poll": {"interval": S, "budget": S}}
and ends with {"op": "exit"}. During a call the worker's transport asks before every request the SDK puts on the
wire, {"send": {method, url, headers, body}}, and sends nothing unless the answer is {"go": true}; it reports what
came back, {"received": {status, headers, body, elapsed}} (or {"failed": why}); then {"done": {...}} says what the
call did: returned (what, and where its poller got to) or raised (which exception, carrying which code), and
whether anything was sent. Bodies travel base64-encoded.
"""

from __future__ import annotations

import base64
import email.utils
import importlib.metadata
import json
import sys
import threading
import time
from typing import IO, Any

# mypy reads these against the package's own azure-batch 14.1.0, which has neither name
from azure.batch import BatchClient  # type: ignore[attr-defined]
from azure.batch.models._models import BatchNodeReimageOptions  # type: ignore[attr-defined]  # 15.1.0's namespace
from azure.core.credentials import AccessToken, AzureNamedKeyCredential
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport

MAX_CLIENTS = 16


class Refused(Exception):  # noqa: N818 - a signal: the suite did not let this request go
    """The suite refused to let the SDK's request go on the wire."""


class Channel:
    """The protocol's two pipes; one message at a time, from whichever thread."""

    def __init__(self, reader: IO[str], writer: IO[str]) -> None:
        self.reader, self.writer = reader, writer
        self.lock = threading.RLock()
        self.open = False  # a call is in progress: the transport may ask and report
        # threads alive when the call began, other than the caller: pollers of earlier calls, which may not send
        self.stale: set[threading.Thread] = set()

    def write(self, message: dict[str, Any]) -> None:
        """Write one message."""
        with self.lock:
            self.writer.write(json.dumps(message) + "\n")
            self.writer.flush()

    def read(self) -> dict[str, Any] | None:
        """Read one message (None at end of input)."""
        line = self.reader.readline()
        return json.loads(line) if line else None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


class WireTransport(RequestsTransport):  # type: ignore[misc]
    """azure-core's requests transport, asking the suite before each send and reporting what came back."""

    def __init__(self, channel: Channel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel = channel
        self.sent = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send one request the SDK built, if the suite lets it go."""
        content = getattr(request, "content", None)
        if content is None:
            content = getattr(request, "body", None)
        body = content.encode("utf-8") if isinstance(content, str) else (bytes(content) if content else None)
        with self.channel.lock:
            if not self.channel.open or threading.current_thread() in self.channel.stale:
                # a poller of an earlier call, polling after its follow ended: it ends Failed, unsent
                raise ServiceRequestError("the suite sends nothing for a call that is over")
            self.channel.write({"send": {"method": request.method, "url": request.url,
                                         "headers": list(request.headers.items()), "body": _b64(body)}})
            answer = self.channel.read() or {}
            if not answer.get("go"):
                raise Refused(str(answer.get("why", "refused")))
            self.sent += 1
        started = time.monotonic()
        try:
            response = super().send(request, **kwargs)
        except Exception as err:
            self._report({"failed": f"{type(err).__name__}: {str(err)[:300]}"})
            raise
        self._report({"received": {"status": response.status_code, "headers": list(response.headers.items()),
                                   "body": _b64(response.body()), "elapsed": time.monotonic() - started}})
        return response

    def _report(self, message: dict[str, Any]) -> None:
        with self.channel.lock:
            if self.channel.open:  # after "done" the suite no longer listens
                self.channel.write(message)


class StaticToken:
    """A TokenCredential for a token the suite already holds (bearer or Microsoft Entra, fetched by the suite)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token, valid for the next hour."""
        return AccessToken(self.token, int(time.time()) + 3600)


class Worker:
    """The clients (one per credential and client-level header set) and the calls."""

    def __init__(self, channel: Channel, opening: dict[str, Any]) -> None:
        self.channel = channel
        self.endpoint = str(opening["endpoint"])
        timeout = float(opening.get("timeout") or 30)
        self.transport = WireTransport(channel, use_env_settings=False, connection_timeout=timeout,
                                       read_timeout=timeout)
        proxy = opening.get("proxy")
        self.proxies = {"http": proxy, "https": proxy} if proxy else None
        self.clients: dict[str, BatchClient] = {}

    def client(self, spec: dict[str, Any]) -> BatchClient:
        """The BatchClient for a credential, a fixed client-request-id and fixed headers (client-level settings:
        15.1.0's begin_reimage_node hands per-call keywords on to LROPoller, which takes none)."""
        key = json.dumps(spec, sort_keys=True)
        if key not in self.clients:
            if len(self.clients) >= MAX_CLIENTS:
                self.clients.pop(next(iter(self.clients)))
            credential = spec["credential"]
            kwargs: dict[str, Any] = {"transport": self.transport, "retry_total": 0, "permit_redirects": False,
                                      "auto_request_id": False, "headers": dict(spec.get("headers") or {})}
            if self.proxies:
                kwargs["proxies"] = self.proxies
            if spec.get("request_id") is not None:
                kwargs["request_id"] = spec["request_id"]
            if credential["kind"] == "sharedkey":
                cred: Any = AzureNamedKeyCredential(credential["account"], credential["key"])
            elif credential["kind"] == "token":
                cred = StaticToken(credential["token"])
            else:  # no Authorization at all: a credential is required, so a placeholder and a policy that adds none
                cred = StaticToken("unused")
                kwargs["authentication_policy"] = SansIOHTTPPolicy()
            self.clients[key] = BatchClient(self.endpoint, cred, **kwargs)
        return self.clients[key]

    def reimage(self, message: dict[str, Any]) -> dict[str, Any]:
        """One begin_reimage_node call: what it did, and (after a 202) where its poller got to."""
        call, poll = message["call"], message.get("poll") or {}
        client = self.client(message["client"])
        option = call.get("options")
        options = None if option is None else (
            BatchNodeReimageOptions(node_reimage_option=option["nodeReimageOption"])
            if "nodeReimageOption" in option else BatchNodeReimageOptions())
        date = email.utils.parsedate_to_datetime(call["ocp_date"]) if call.get("ocp_date") else None
        before = self.transport.sent
        with self.channel.lock:
            self.channel.open = True
            self.channel.stale = set(threading.enumerate()) - {threading.current_thread()}
        try:
            poller = client.begin_reimage_node(call["pool_id"], call["node_id"], options,
                                               service_timeout=call.get("service_timeout"), ocp_date=date,
                                               polling_interval=float(poll.get("interval", 5)))
        except Refused as why:
            return self._close({"refused": str(why)})
        except Exception as err:  # what the SDK raises is what its caller meets
            return self._close({"raised": _raised(err), "sent": self.transport.sent > before})
        initial = poller.status()
        started = time.monotonic()
        budget = float(poll.get("budget", 0))
        if budget > 0:
            poller.wait(timeout=budget)
        done = poller.done()
        result, error = None, ""
        if done:
            try:
                result = type(poller.result(timeout=0)).__name__
            except Exception as err:
                error = f"{type(err).__name__}: {str(err)[:200]}"
        view = {"initial": initial, "status": poller.status(), "done": done, "result": result, "error": error,
                "waited": time.monotonic() - started}
        return self._close({"returned": type(poller).__name__, "sent": self.transport.sent > before, "poller": view})

    def _close(self, outcome: dict[str, Any]) -> dict[str, Any]:
        with self.channel.lock:
            self.channel.open = False
        return outcome


def _raised(err: BaseException) -> dict[str, Any]:
    """An exception as the suite compares it: class and bases, the code where 15.x documents it (.error.code)."""
    error = getattr(err, "error", None)
    model = getattr(err, "model", None)
    code = getattr(error, "code", None)
    return {"type": type(err).__name__, "bases": [k.__name__ for k in type(err).__mro__],
            "code": code if isinstance(code, str) else None, "has_model": model is not None,
            "status": getattr(err, "status_code", None), "message": str(err).splitlines()[0][:300] if str(err) else ""}


def main() -> int:
    """Serve the protocol until told to exit or the input ends."""
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # anything the SDK prints must not break the protocol
    channel = Channel(sys.stdin, protocol_out)
    opening = channel.read()
    if opening is None or opening.get("op") != "open":
        return 2
    worker = Worker(channel, opening)
    channel.write({"ready": {"azure-batch": importlib.metadata.version("azure-batch"),
                             "azure-core": importlib.metadata.version("azure-core"),
                             "python": sys.version.split()[0]}})
    while True:
        message = channel.read()
        if message is None or message.get("op") == "exit":
            return 0
        if message.get("op") == "reimage":
            channel.write({"done": worker.reimage(message)})
        else:
            channel.write({"done": {"error": f"unknown op {message.get('op')!r}"}})


if __name__ == "__main__":
    sys.exit(main())
