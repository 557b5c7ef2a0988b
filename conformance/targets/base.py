"""The one interface every target implements; checks never know which target ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from conformance.models import ConformanceError, HarnessError, Request, Response


class NotExpressible(ConformanceError):  # noqa: N818 - a signal: this target cannot send that input
    """The target cannot express this request (e.g. an SDK cannot send a malformed header)."""


class ChangedOnTheWire(NotExpressible):
    """The target would put another request on the wire than the one asked for (an SDK re-serialised the
    body, dropped, added or rewrote a header): nothing is sent, and the case is not applicable to it."""


@runtime_checkable
class Target(Protocol):
    """Sends a Request and returns the Response that came over the wire."""

    name: str
    base_url: str
    # The request the last send put on the wire (signed, serialised as the target did), None when unknown.
    last_sent: Request | None

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


def sent_request(target: Target, request: Request) -> Request:
    """The request as `target` put it on the wire for its last send of `request` (request itself when unknown)."""
    return getattr(target, "last_sent", None) or request


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
