"""The HTTP target: raw requests to any base URL, bounded in time and memory whatever the target sends.

- Time: each request has one deadline for connect plus the whole response (the run's Guard enforces it, and
  the run's own deadline); 429 and 503 are retried per Retry-After (RFC 9110: delay-seconds or an HTTP-date;
  anything else counts as absent) only while the wait fits the retry budget.
- Memory: the body is read in chunks up to a cap, and decompressed (gzip, deflate) up to the same cap. A larger
  body is kept cut, with a note saying so, and judged for what it is; it is never held whole.
- Redirects are never followed: a 3xx is the answer, and no request (nor its credentials) goes elsewhere.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as TimeoutError_

from conformance.models import HarnessError, Request, Response
from conformance.rules import parse_http_date
from conformance.targets.guard import Guard, InFlight

RETRY_STATUSES = frozenset({429, 503})
DEFAULT_RETRY_DELAY = 1.0  # seconds before retrying a 429/503 that gave no usable Retry-After
MAX_BODY_BYTES = 4 * 1024 * 1024  # the default cap on a response body (decoded), per response
CHUNK = 64 * 1024
Signer = Callable[[Request, str], Request]

_current = threading.local()  # the request this thread is sending, for the connection to attach to


class _Watched:
    """A connection that tells the in-flight request which socket carries it, so its deadline can cut it."""

    sock: object

    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        entry: InFlight | None = getattr(_current, "entry", None)
        if entry is not None:
            entry.attach(self.sock)  # a kept-alive connection's socket
        super().request(*args, **kwargs)  # type: ignore[misc]
        if entry is not None:
            entry.attach(self.sock)  # a new connection's, now connected


class _Connection(_Watched, HTTPConnection):
    pass


class _TLSConnection(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class HttpTarget:
    """Any Batch endpoint reachable over HTTP(S): the embedded emulator, another emulator, the service."""

    name = "http"

    def __init__(self, base_url: str, *, timeout: float = 30.0, rate: float | None = None,
                 retry_budget: float = 60.0, max_retries: int = 3, signer: Signer | None = None,
                 guard: Guard | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.min_interval = 1.0 / rate if rate else 0.0
        self.retry_budget = retry_budget
        self.max_retries = max_retries
        self.signer = signer
        self.max_body = max_body
        self._own_guard = guard is None
        self.guard = guard or Guard()  # the run's, shared by every target of it (see govern)
        self._pool = _pool_for(self.base_url)
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self.sent = 0
        self.last_sent: Request | None = None

    def govern(self, guard: Guard, max_body: int) -> None:
        """Share the run's limits (for a target built without them: the SDK target builds itself)."""
        if self._own_guard:
            self.guard.close()
        self.guard, self._own_guard, self.max_body = guard, False, max_body

    def _pace(self) -> None:
        if not self.min_interval:
            return
        with self._lock:
            if self.guard.shared is not None:  # the workers of a parallel run share one --rate
                self.guard.sleep(self.guard.shared.slot(self.min_interval))
                return
            wait = self._last_sent + self.min_interval - time.monotonic()
            if wait > 0:
                self.guard.sleep(wait)
            self._last_sent = time.monotonic()

    def _send_once(self, request: Request) -> Response:
        if self.signer is not None:
            request = self.signer(request, self.base_url)
        self.last_sent = request  # what went on the wire, signature included (recorded redacted)
        self._pace()
        self.guard.check()
        url = self.base_url + request.path_and_query  # sent as built: no re-encoding of path or query
        self.sent += 1
        started = time.monotonic()
        entry = self.guard.watchdog.track(self.guard.request_deadline(self.timeout))
        _current.entry = entry
        try:
            return self._exchange(request, url, entry, started)
        except HarnessError as err:
            problem = err
            if entry.cut:
                self.guard.check()  # cut because the run stopped: say that, not "timed out"
                problem = HarnessError(f"{self.base_url} did not answer within {self.timeout:g} s "
                                       "(the deadline covers connect and the whole response)")
            self.guard.trouble(str(problem))
            raise problem from None
        finally:
            _current.entry = None
            self.guard.watchdog.done(entry)

    def _exchange(self, request: Request, url: str, entry: InFlight, started: float) -> Response:
        left = max(entry.deadline - started, 0.001)
        try:
            raw = self._pool.urlopen(request.method, url, body=request.body, headers=dict(request.headers),
                                     retries=False, redirect=False, timeout=urllib3.Timeout(connect=left, read=left),
                                     preload_content=False, decode_content=False)
        except NewConnectionError as err:  # first: urllib3 derives it from ConnectTimeoutError
            raise HarnessError(f"cannot reach {self.base_url}: {_reason(err)}") from None
        except TimeoutError_:
            raise HarnessError(f"{self.base_url} did not answer within {self.timeout:g} s") from None
        except (ProtocolError, urllib3.exceptions.HTTPError) as err:
            if entry.cut:
                raise HarnessError("cut") from None
            if isinstance(err, ProtocolError) and "refused" in str(err):
                raise HarnessError(f"cannot reach {self.base_url}: {_reason(err)}") from None
            if isinstance(err, ProtocolError) and any(m in str(err) for m in ("reset by peer", "without response")):
                raise HarnessError(f"{self.base_url} closed the connection without answering: {_reason(err)}") \
                    from None
            raise HarnessError(f"{self.base_url} answered something that is not HTTP: {_reason(err)}") from None
        note = "unread"
        try:
            body, note = read_body(raw, self.max_body, entry)
        finally:
            if note:  # the body was not read to its proper end: the connection cannot carry another request
                raw.close()
            raw.release_conn()
        return Response(raw.status, tuple(raw.headers.items()), body, time.monotonic() - started, note)

    def express(self, request: Request) -> None:
        """Raw HTTP sends any request as it is."""

    def send(self, request: Request) -> Response:
        """Send, retrying 429/503 per Retry-After while the wait fits the retry budget (and the run's deadline);
        a run of troubled answers opens the Guard's breaker, after which nothing more is sent."""
        self.guard.check()
        budget_end = time.monotonic() + self.retry_budget
        for attempt in range(self.max_retries + 1):
            response = self._send_once(request)
            if response.status not in RETRY_STATUSES:
                self.guard.answered()
                return response
            self.guard.trouble(f"{response.status} from {self.base_url}{_retry_note(response)}")
            delay = retry_after(response.header("Retry-After"))
            delay = DEFAULT_RETRY_DELAY if delay is None else delay
            remaining = self.guard.remaining()
            if attempt == self.max_retries or time.monotonic() + delay > budget_end or \
                    (remaining is not None and delay >= remaining) or self.guard.stopped:
                break
            self.guard.sleep(delay)
            if self.guard.stopped:
                break
        return response

    def close(self) -> None:
        """Close pooled connections (and the watchdog, when this target owns its Guard)."""
        self._pool.clear()
        if self._own_guard:
            self.guard.close()


class _Body:
    """Bytes kept up to a cap; what comes after the cap is counted, never kept."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.kept = 0
        self.over = False

    def add(self, data: bytes) -> None:
        room = self.cap - self.kept
        if len(data) > room:
            self.over = True
            data = data[:room]
        if data:
            self.parts.append(data)
            self.kept += len(data)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Inflater:
    """gzip / deflate decompression that never produces more than the room it is given (gzip members chained)."""

    def __init__(self, coding: str) -> None:
        self.wbits = 31 if coding in ("gzip", "x-gzip") else 15
        self._obj = zlib.decompressobj(self.wbits)
        self._fresh = True

    def feed(self, data: bytes, body: _Body) -> None:
        while data and not body.over:
            try:
                out = self._obj.decompress(data, body.cap - body.kept + 1)  # one byte more tells it is over
            except zlib.error:
                if self._fresh and self.wbits == 15:  # "deflate" sent raw, without the zlib wrapper
                    self._obj, self.wbits = zlib.decompressobj(-15), -15
                    continue
                raise
            self._fresh = False
            body.add(out)
            data = self._obj.unconsumed_tail
            if self._obj.eof and self._obj.unused_data:  # another gzip member follows
                data, self._obj = self._obj.unused_data, zlib.decompressobj(self.wbits)

    def finish(self, body: _Body) -> str:
        """'' when the compressed stream ended properly, else what was wrong with it."""
        if not body.over and not self._obj.eof:
            body.add(self._obj.flush())
            return "the compressed body ends before its end marker"
        return ""


def read_body(raw: urllib3.BaseHTTPResponse, cap: int, entry: InFlight) -> tuple[bytes, str]:
    """The body read in chunks, decoded, kept up to `cap` bytes; and a note when it is not the whole body."""
    coding = (raw.headers.get("Content-Encoding") or "identity").strip().lower()
    inflater = _Inflater(coding) if coding in ("gzip", "x-gzip", "deflate") else None
    body, wire = _Body(cap), 0
    note = "" if coding == "identity" or inflater else \
        f"Content-Encoding {coding!r} left as sent (the suite decodes gzip and deflate)"
    try:
        while not body.over and wire <= cap:
            data = raw.read1(CHUNK, decode_content=False)  # what has arrived: never wait for a full chunk
            if not data:
                break
            wire += len(data)
            if inflater is None:
                body.add(data)
            else:
                inflater.feed(data, body)
        if inflater is not None and not body.over and 0 < wire <= cap:  # an empty body is empty, coded or not
            note = inflater.finish(body)
    except zlib.error as err:
        note = f"Content-Encoding {coding}, but the body is not {coding} data ({err})"
    except (ProtocolError, TimeoutError_, urllib3.exceptions.HTTPError) as err:
        if entry.cut or isinstance(err, TimeoutError_):
            raise HarnessError("cut") from None
        declared = raw.headers.get("Content-Length")
        note = (f"the connection closed after {wire} of the {declared} bytes Content-Length declared"
                if declared and "IncompleteRead" in str(err) else f"the body ended early ({_reason(err)})")
    if entry.cut:  # a read-until-close body cut by the deadline looks complete: it is not
        raise HarnessError("cut")
    if body.over or wire > cap:
        declared = raw.headers.get("Content-Length")
        size = f"Content-Length {declared}" if declared else "no Content-Length"
        note = (f"larger than the {cap}-byte cap ({size}{'; ' + coding + ' decoded' if inflater else ''}): "
                "read no further (--max-body-bytes raises the cap)")
    return body.bytes(), note


_DELAY_SECONDS = re.compile(r"[0-9]+")
_OBSOLETE_DATES = ("%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y")  # RFC 850, asctime (RFC 9110 obs-date)


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds per RFC 9110 section 10.2.3 (delay-seconds, or an HTTP-date, a past date being 0);
    None for anything else, which counts as absent."""
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    when = parse_http_date(text)
    for form in _OBSOLETE_DATES:
        if when is not None:
            break
        try:
            when = datetime.strptime(" ".join(text.split()) if "," not in text else text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
    if when is None:
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _retry_note(response: Response) -> str:
    value = response.header("Retry-After")
    if value is None:
        return ""
    return f" (Retry-After: {value[:40]!r}{'' if retry_after(value) is not None else ', unusable: read as absent'})"


def _reason(err: Exception) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset",
                   "Remote end closed connection without response"):
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
    """A keep-alive pool for the target (urllib3 directly: requests cost 1 ms a request more on loopback);
    the environment's proxy is honoured for remote hosts, never for loopback. Its connections are watched."""
    proxy = proxy_for(base_url)
    options = {"num_pools": 4, "maxsize": 4, "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    manager = (urllib3.ProxyManager(proxy, **options) if proxy  # type: ignore[arg-type]
               else urllib3.PoolManager(**options))  # type: ignore[arg-type]
    manager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
    return manager
