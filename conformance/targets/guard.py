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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from conformance.models import HarnessError

SLEEP_STEP = 0.05  # how soon a retry wait notices a stop
TROUBLE_IN_A_ROW = 5  # consecutive troubled answers (timeouts, connection errors, 429s, 503s) that open the breaker
STOP_POLL = 0.25  # how soon a worker of a parallel run cuts its requests in flight once another process stopped


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
    one after another (each deadline later than the last) cost no wake-up at all. In a worker of a parallel run
    (`stop_seen`) it also looks every STOP_POLL seconds while a request is in flight: a stop pulled in another
    process (a signal to the controller) cuts this one's requests too."""

    def __init__(self, stop_seen: Callable[[], bool] | None = None) -> None:
        self.stop_seen = stop_seen
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
                if pending and self.stop_seen is not None:
                    if self.stop_seen():
                        self.cut_all()
                        pending = []
                    else:
                        pending.append(now + STOP_POLL)
                self._wake_at = min(pending) if pending else None
                self._wake.wait(timeout=None if self._wake_at is None else self._wake_at - now)


class Shared(Protocol):
    """What the processes of one parallel run share (run/shared.py): the stop, and the pace --rate sets."""

    def stopped(self) -> str:
        """Why another process stopped the run, or ''."""

    def stop(self, reason: str) -> None:
        """Stop every process of the run; signal-safe."""

    def slot(self, interval: float) -> float:
        """Seconds to wait for this process's next send slot, the run's slots `interval` apart."""


class Guard:
    """The run's limits: its deadline, the breaker, the stop; and the watchdog that enforces request deadlines.

    A worker of a parallel run shares them with the other workers (`shared`): a stop in any process, its deadline,
    its breaker or a signal, stops them all, as it stops a serial run."""

    def __init__(self, *, max_duration: float | None = None, trouble_limit: int = TROUBLE_IN_A_ROW,
                 shared: Shared | None = None, started: float | None = None) -> None:
        self.max_duration = max_duration
        self.deadline = (started or time.monotonic()) + max_duration if max_duration else None
        self.trouble_limit = trouble_limit
        self.reason = ""  # why the run stopped sending; "" while it may send
        self.shared = shared
        self.watchdog = Watchdog(stop_seen=(lambda: self.stopped) if shared is not None else None)
        self._troubles = 0

    def _stopping(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
            if self.shared is not None:
                self.shared.stop(reason)

    @property
    def stopped(self) -> bool:
        """Whether the run may send no more (checking the run's deadline, and the other workers, too)."""
        if not self.reason and self.deadline is not None and time.monotonic() >= self.deadline:
            self._stopping(f"the run reached its --max-duration of {self.max_duration:g} s")
        if not self.reason and self.shared is not None:
            self.reason = self.shared.stopped()
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
            self._stopping(f"{self._troubles} requests in a row met trouble (timeouts, connection errors, 429 or 503 "
                           f"answers), the last: {what}")

    def stop(self, reason: str) -> None:
        """Stop the run now (a signal, a time limit) and cut what is in flight. Takes no lock: signal-safe."""
        self._stopping(reason)
        self.watchdog.cut_all()

    def sleep(self, seconds: float) -> None:
        """Wait before a retry, in short steps so that stop() (or the run's deadline) ends the wait early."""
        end = time.monotonic() + seconds
        while not self.stopped and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, SLEEP_STEP))

    def close(self) -> None:
        """Stop the watchdog thread."""
        self.watchdog.close()
