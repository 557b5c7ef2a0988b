"""What keeps a run bounded whatever the target does: a deadline for every request (connect plus the whole
response), a deadline for the whole run (--max-duration), a circuit breaker, and a stop that a signal can pull.

One Guard serves a run and every target of it. Once it stops (deadline passed, breaker open, SIGTERM/SIGINT),
nothing more is sent: every send raises Stopped, and what is left undecided says why.

The per-request deadline cannot be left to socket timeouts: those bound each read, so a target that sends its
headers a byte at a time, or `100 Continue` forever, keeps a request alive without end. The watchdog thread
shuts the socket of a request whose deadline passed; the blocked read returns at once, on any thread, for
plain HTTP and TLS alike. A signal handler uses the same cut for the request in flight.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from conformance.models import HarnessError

SLEEP_STEP = 0.05  # how soon a retry wait notices a stop
TROUBLE_IN_A_ROW = 5  # consecutive troubled answers (timeouts, connection errors, 429s, 503s) that open the breaker


class Stopped(HarnessError):  # noqa: N818 - a state the run is in, like NotApplicable
    """The run sends nothing more: its deadline passed, the breaker opened, or it was interrupted."""


@dataclass(eq=False)
class InFlight:
    """One request on the wire: its deadline, the socket carrying it (once it has one), whether it was cut."""

    deadline: float
    sock: Any = None
    cut: bool = False

    def attach(self, sock: Any) -> None:
        """The socket this request is sent on (shut at once if the deadline already passed). The socket, not
        its connection: a connection hands its socket to the response when the answer closes it."""
        if sock is not None:
            self.sock = sock
            if self.cut:
                _shut(sock)


def _shut(sock: Any) -> None:
    """Shut the socket in both directions: a read blocked on it returns at once (a closed one is left alone)."""
    sock = getattr(sock, "socket", sock)  # urllib3's SSLTransport (TLS in TLS) wraps the socket it reads
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain fd, even under an SSLSocket


class Watchdog:
    """One daemon thread that cuts every in-flight request whose deadline has passed.

    The thread sleeps until the earliest deadline it knows and is woken only for an earlier one: requests sent
    one after another (each deadline later than the last) cost no wake-up at all."""

    def __init__(self) -> None:
        self._inflight: set[InFlight] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wake_at: float | None = None  # when the thread next looks (None: not until woken)
        self._closed = False

    def track(self, deadline: float) -> InFlight:
        """Watch a request until done(); the thread starts with the first request."""
        entry = InFlight(deadline)
        with self._wake:
            self._inflight.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="batch-conformance-watchdog", daemon=True)
                self._thread.start()
            if self._wake_at is None or deadline < self._wake_at:
                self._wake.notify()
        return entry

    def done(self, entry: InFlight) -> None:
        """The request ended (answered, failed or cut)."""
        with self._wake:
            self._inflight.discard(entry)

    def cut_all(self) -> None:
        """Cut every request in flight now. Takes no lock: a signal handler may call it on a thread that holds one."""
        for entry in list(self._inflight):
            entry.cut = True
            _shut(entry.sock)

    def close(self) -> None:
        """Stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                pending = []
                for entry in self._inflight:
                    if entry.cut:
                        continue
                    if entry.deadline <= now:
                        entry.cut = True
                        _shut(entry.sock)
                    else:
                        pending.append(entry.deadline)
                self._wake_at = min(pending) if pending else None
                self._wake.wait(timeout=None if self._wake_at is None else self._wake_at - now)


class Guard:
    """The run's limits: its deadline, the breaker, the stop; and the watchdog that enforces request deadlines."""

    def __init__(self, *, max_duration: float | None = None, trouble_limit: int = TROUBLE_IN_A_ROW) -> None:
        self.max_duration = max_duration
        self.deadline = time.monotonic() + max_duration if max_duration else None
        self.trouble_limit = trouble_limit
        self.reason = ""  # why the run stopped sending; "" while it may send
        self.watchdog = Watchdog()
        self._troubles = 0

    @property
    def stopped(self) -> bool:
        """Whether the run may send no more (checking the run's deadline too)."""
        if not self.reason and self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = f"the run reached its --max-duration of {self.max_duration:g} s"
        return bool(self.reason)

    def check(self) -> None:
        """Raise Stopped when the run may send no more."""
        if self.stopped:
            raise Stopped(f"the run stopped sending: {self.reason}")

    def remaining(self) -> float | None:
        """Seconds left before the run's deadline (None: no deadline)."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def request_deadline(self, timeout: float) -> float:
        """When a request started now must have its whole answer: its timeout, and never after the run's end."""
        end = time.monotonic() + timeout
        return end if self.deadline is None else min(end, self.deadline)

    def answered(self) -> None:
        """A request got an answer that is no trouble: the breaker's count starts again."""
        self._troubles = 0

    def trouble(self, what: str) -> None:
        """A request timed out, could not connect, or was answered 429 or 503: enough in a row open the breaker."""
        self._troubles += 1
        if self._troubles >= self.trouble_limit and not self.reason:
            self.reason = (f"{self._troubles} requests in a row met trouble (timeouts, connection errors, 429 or 503 "
                           f"answers), the last: {what}")

    def stop(self, reason: str) -> None:
        """Stop the run now (a signal, a time limit) and cut what is in flight. Takes no lock: signal-safe."""
        if not self.reason:
            self.reason = reason
        self.watchdog.cut_all()

    def sleep(self, seconds: float) -> None:
        """Wait before a retry, in short steps so that stop() (or the run's deadline) ends the wait early."""
        end = time.monotonic() + seconds
        while not self.stopped and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, SLEEP_STEP))

    def close(self) -> None:
        """Stop the watchdog thread."""
        self.watchdog.close()
