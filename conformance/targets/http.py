"""The HTTP target: raw requests to any base URL, with timeouts, a rate limit and bounded retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from conformance.models import HarnessError, Request, Response

RETRY_STATUSES = frozenset({429, 503})
Signer = Callable[[Request, str], Request]


class HttpTarget:
    """Any Batch endpoint reachable over HTTP(S): the embedded emulator, another emulator, the service."""

    name = "http"

    def __init__(self, base_url: str, *, timeout: float = 30.0, rate: float | None = None,
                 retry_budget: float = 60.0, max_retries: int = 3, signer: Signer | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.min_interval = 1.0 / rate if rate else 0.0
        self.retry_budget = retry_budget
        self.max_retries = max_retries
        self.signer = signer
        self._session = requests.Session()
        host = urlsplit(self.base_url).hostname or ""
        # proxies and .netrc never apply to loopback, and looking them up costs a millisecond a request
        self._session.trust_env = not (host == "localhost" or host.startswith("127.") or host == "::1")
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self.sent = 0
        self.last_sent: Request | None = None

    def _pace(self) -> None:
        if not self.min_interval:
            return
        with self._lock:
            wait = self._last_sent + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_sent = time.monotonic()

    def _send_once(self, request: Request) -> Response:
        if self.signer is not None:
            request = self.signer(request, self.base_url)
        self.last_sent = request  # what went on the wire, signature included (recorded redacted)
        self._pace()
        prepared = requests.Request(request.method, self.base_url + request.path_and_query,
                                    headers=dict(request.headers), data=request.body).prepare()
        if request.body is None:
            prepared.headers.pop("Content-Length", None)
        # requests would otherwise re-encode the path and query we built on purpose
        prepared.url = self.base_url + request.path_and_query
        self.sent += 1
        started = time.monotonic()
        try:
            raw = self._session.send(prepared, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            raise HarnessError(f"{self.base_url} did not answer within {self.timeout:g} s") from None
        except requests.ConnectionError as err:
            if any(m in str(err) for m in ("BadStatusLine", "RemoteDisconnected", "LineTooLong", "InvalidChunk")):
                raise HarnessError(f"{self.base_url} answered something that is not HTTP: {_reason(err)}") from None
            raise HarnessError(f"cannot reach {self.base_url}: {_reason(err)}") from None
        except requests.RequestException as err:
            raise HarnessError(f"{self.base_url} answered something that is not HTTP: {_reason(err)}") from None
        return Response(raw.status_code, tuple(raw.headers.items()), raw.content, time.monotonic() - started)

    def send(self, request: Request) -> Response:
        """Send, retrying 429/503 per Retry-After within the retry budget."""
        deadline = time.monotonic() + self.retry_budget
        response = self._send_once(request)
        for _ in range(self.max_retries):
            if response.status not in RETRY_STATUSES:
                break
            delay = _retry_after(response)
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            response = self._send_once(request)
        return response

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()


def _retry_after(response: Response) -> float:
    value = response.header("Retry-After")
    try:
        return min(max(float(value), 0.0), 30.0) if value else 1.0
    except ValueError:
        return 1.0


def _reason(err: Exception) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else type(err).__name__
