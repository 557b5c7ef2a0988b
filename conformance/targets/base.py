"""The one interface every target implements; checks never know which target ran."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from conformance.models import ConformanceError, Request, Response


class NotExpressible(ConformanceError):  # noqa: N818 - a signal: this target cannot send that input
    """The target cannot express this request (e.g. an SDK cannot send a malformed header)."""


@runtime_checkable
class Target(Protocol):
    """Sends a Request and returns the Response that came over the wire."""

    name: str
    base_url: str

    def send(self, request: Request) -> Response:
        """Send one request; HarnessError when the target cannot be reached or answers no HTTP."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
