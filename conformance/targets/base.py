"""The one interface every target implements; checks never know which target ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from conformance.models import ConformanceError, HarnessError, Request, Response


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

    def express(self, request: Request) -> None:
        """Raise NotExpressible when this target cannot send the request as it is (an SDK's typed surface);
        sends nothing. Lets live safety and diff decline before they read a node or spend a reimage."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def get_json(send: Callable[[Request], Response], path: str, api_version: str, *, strict: bool = False) -> Any:
    """GET a resource through `send`: its JSON, or None for a non-200 (or, unless strict, a body that is
    not JSON; strict makes that a HarnessError, for discovery, where the answer must be understood)."""
    response = send(Request("", "", method="GET", query=(("api-version", api_version),), path=path))
    if response.status != 200:
        return None
    try:
        return response.json()
    except ValueError:
        if strict:
            raise HarnessError(f"GET {path} answered 200 with a body that is not JSON") from None
        return None
