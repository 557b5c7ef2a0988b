"""EmbeddedEmulator: the app served by uvicorn in a daemon thread on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import uvicorn

from conformance import spec
from conformance.emulator import faults
from conformance.emulator.app import ReimageApp
from conformance.emulator.auth import AuthConfig
from conformance.emulator.state import EmulatorState
from conformance.inventory import Inventory, default_inventory
from conformance.models import HarnessError, UsageError

START_TIMEOUT = 10.0


def resolve_versions(api_versions: Sequence[str] | None) -> list[str]:
    """The api-versions to serve (default: all known); UsageError naming an unknown one."""
    if not api_versions:
        return list(spec.versions())
    out = []
    for v in api_versions:
        try:
            out.append(spec.version(v).id)
        except ValueError as err:
            raise UsageError(str(err)) from None
    return out


def resolve_fault(name: str | None) -> faults.FaultSpec | None:
    """The fault by name, or None; UsageError listing the known faults."""
    if name is None:
        return None
    try:
        return faults.get(name)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None


class _Server(uvicorn.Server):
    """uvicorn's server, woken at once by stop() instead of polling should_exit every 0.1 s."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # one tick a second: on_tick refreshes Date every 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    def request_exit(self) -> None:
        """Ask the serving loop to exit now (thread-safe)."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)


class EmbeddedEmulator:
    """A reference emulator running in this process; use as a context manager or start()/stop()."""

    def __init__(self, *, inventory: Inventory | None = None, api_versions: Sequence[str] | None = None,
                 fault: str | None = None, reimage_seconds: float = 0.0, auth: AuthConfig | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.inventory = inventory or default_inventory()
        self.api_versions = resolve_versions(api_versions)
        self.fault = resolve_fault(fault)
        self.auth = auth
        self.host, self.port = host, port
        if self.fault is not None:  # a race shows only when a reimage outlasts the simultaneous requests
            reimage_seconds = max(reimage_seconds, self.fault.reimage_seconds)
        self.state = EmulatorState(self.inventory, reimage_seconds=reimage_seconds)
        self.app = ReimageApp(self.state, api_versions=self.api_versions, fault=self.fault, auth=auth)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (valid once started)."""
        if self._sock is None:
            raise HarnessError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedEmulator:
        """Bind, serve in a daemon thread, and return once connections are accepted."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit TCP_NODELAY on Linux: without it, a chunked 202 written in two
        # segments waits on the client's delayed ACK (~40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as err:
            sock.close()
            raise UsageError(f"cannot listen on {self.host}:{self.port}: {err.strerror}") from None
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=1, loop="asyncio")
        self._server = server = _Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                        name=f"emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"the emulator did not start on {self.host}:{self.port}")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = None

    def serve_forever(self) -> None:
        """Block until the server thread ends (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.2)

    def node_state(self, pool_id: str, node_id: str) -> str:
        """The node's current state (reimaging windows computed now)."""
        return self.state.node_state(pool_id, node_id)

    def __enter__(self) -> EmbeddedEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
