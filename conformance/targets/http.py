"""The HTTP target: raw requests to any base URL, with timeouts, a rate limit and bounded retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as TimeoutError_

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
        self._pool = _pool_for(self.base_url)
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
        url = self.base_url + request.path_and_query  # sent as built: no re-encoding of path or query
        self.sent += 1
        started = time.monotonic()
        try:
            raw = self._pool.urlopen(request.method, url, body=request.body, headers=dict(request.headers),
                                     retries=False, redirect=False, timeout=self.timeout, preload_content=True)
        except NewConnectionError as err:  # first: urllib3 derives it from ConnectTimeoutError
            raise HarnessError(f"cannot reach {self.base_url}: {_reason(err)}") from None
        except TimeoutError_:
            raise HarnessError(f"{self.base_url} did not answer within {self.timeout:g} s") from None
        except (ProtocolError, urllib3.exceptions.HTTPError) as err:
            if isinstance(err, ProtocolError) and any(m in str(err) for m in ("refused", "reset by peer")):
                raise HarnessError(f"cannot reach {self.base_url}: {_reason(err)}") from None
            raise HarnessError(f"{self.base_url} answered something that is not HTTP: {_reason(err)}") from None
        return Response(raw.status, tuple(raw.headers.items()), raw.data, time.monotonic() - started)

    def express(self, request: Request) -> None:
        """Raw HTTP sends any request as it is."""

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
        self._pool.clear()


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


def proxy_for(base_url: str) -> str | None:
    """The environment's proxy for a target: honoured for remote hosts, never for loopback."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    loopback = host == "localhost" or host.startswith("127.") or host == "::1"
    return None if loopback or proxy_bypass(host) else getproxies().get(parts.scheme)


def _pool_for(base_url: str) -> urllib3.PoolManager:
    """A keep-alive pool for the target (urllib3 directly: requests cost 1 ms a request more on loopback)."""
    proxy = proxy_for(base_url)
    options = {"num_pools": 4, "maxsize": 4, "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    if proxy:
        return urllib3.ProxyManager(proxy, **options)  # type: ignore[arg-type]
    return urllib3.PoolManager(**options)  # type: ignore[arg-type]
