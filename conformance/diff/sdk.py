"""What changes for an SDK caller: what each side's azure-batch call did, against what its release documents for the
answer it got (spec/sdks.json), and which documented SDK change explains a difference between the two."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.models import Request
from conformance.rules import OPTION_KEY
from conformance.spec import SdkChange, sdk, sdk_changes, sdks
from conformance.targets.sdk_call import SdkCall


@dataclass(frozen=True)
class SdkObserved:
    """A call reduced to what a caller notices: returned or raised, which type, the code, where the poller got."""

    release: str
    returned: bool
    type: str  # what the call returned, or the exception it raised
    types: tuple[str, ...]  # the exception's class and bases (raised only)
    code: str | None
    sent: bool
    poller: str | None  # the poller's final status ('unfinished' when the follow ended first), 15.x only

    def describe(self) -> str:
        """'15.1.0 raised ResourceNotFoundError (PoolNotFound)'."""
        if self.returned:
            return f"{self.release} returned {self.type}" + (f" (poller {self.poller})" if self.poller else "")
        code = f" ({self.code})" if self.code else ""
        return f"{self.release} raised {self.type}{code}" + ("" if self.sent else " before sending")

    def key(self) -> tuple[Any, ...]:
        """What two releases are compared on (the release itself aside)."""
        return self.returned, self.type, self.code, self.sent, self.poller

    def to_json(self) -> dict[str, Any]:
        """The JSON form used in diff.json."""
        return {"release": self.release, "returned": self.returned, "type": self.type, "code": self.code,
                "sent": self.sent, "poller": self.poller}


def observe(call: SdkCall) -> SdkObserved:
    """The caller's view of one SDK call."""
    poller = None
    if call.poller is not None:
        poller = call.poller.status if call.poller.done else "unfinished"
    kind = (call.value or "None") if call.returned else (call.exception or "Exception")
    return SdkObserved(call.release, call.returned, kind, call.exception_types, call.error_code, call.sent, poller)


def _has_option(request: Request) -> bool:
    try:
        doc = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and OPTION_KEY in doc


# input class -> whether a request belongs to it (the keys of `unsendable` in spec/sdks.json)
UNSENDABLE: dict[str, Callable[[Request], bool]] = {"without_option": lambda r: not _has_option(r)}


def deviation(seen: SdkObserved, request: Request, status: int | None, wire_code: str | None) -> str | None:
    """How a call differs from what its release documents for this answer (None when it does not)."""
    release = sdk(seen.release)
    if status is None:
        documented = [t for input_class, t in release.unsendable.items() if UNSENDABLE[input_class](request)]
        if not seen.returned and seen.type in documented:
            return None
        return f"{release.label} {_did(seen)} before sending, which it documents for no such input"
    if status == 202:
        if not seen.returned or seen.type != release.returns:
            return f"{release.label} {_did(seen)} on a 202, where it documents returning {release.returns}"
        if release.poller and seen.poller not in ("Succeeded", "unfinished"):
            return f"{release.label}'s poller ended {seen.poller}, where it documents Succeeded"
        return None
    if status < 300:
        return None  # a status the operation does not document: the wire rules judge it
    wanted = release.raises_for(status)
    if seen.returned or (wanted not in seen.types and seen.type != wanted):
        return f"{release.label} {_did(seen)} on a {status}, where it documents raising {wanted}"
    if wire_code and seen.code != wire_code:
        return f"{release.label} {_did(seen)}, but the code on the wire is {wire_code}"
    return None


def _did(seen: SdkObserved) -> str:
    return seen.describe().removeprefix(seen.release + " ")


def changes_between(r1: str, r2: str) -> list[SdkChange]:
    """The documented SDK changes that arrived after the older and up to the newer of two releases."""
    order = list(sdks())
    low, high = sorted((order.index(r1), order.index(r2)))
    return [c for c in sdk_changes() if low < order.index(c.to) <= high]


def _returns(a: SdkObserved, b: SdkObserved, requests: Sequence[Request]) -> bool:
    return a.returned and b.returned and (a.type, a.poller) != (b.type, b.poller)


def _error_type(a: SdkObserved, b: SdkObserved, requests: Sequence[Request]) -> bool:
    return not a.returned and not b.returned and a.sent and b.sent and a.type != b.type


def _unsendable(input_class: str) -> Callable[[SdkObserved, SdkObserved, Sequence[Request]], bool]:
    def rule(a: SdkObserved, b: SdkObserved, requests: Sequence[Request]) -> bool:
        return any(not s.sent and UNSENDABLE[input_class](r) for s, r in zip((a, b), requests, strict=True))
    return rule


# aspect of spec/sdks.json -> whether a pair of calls differs in it
EXPLAINS: dict[str, Callable[[SdkObserved, SdkObserved, Sequence[Request]], bool]] = {
    "returns": _returns, "error_type": _error_type, "without_option": _unsendable("without_option")}


def cited(a: SdkObserved, b: SdkObserved, requests: Sequence[Request],
          between: list[SdkChange]) -> tuple[SdkChange, ...]:
    """The documented SDK changes a difference between two calls shows."""
    return tuple(c for c in between if c.aspect in EXPLAINS and EXPLAINS[c.aspect](a, b, requests))


def touches(change: SdkChange, requests: Sequence[Request], seen: Sequence[SdkObserved]) -> bool:
    """Whether a case exercised the aspect a documented SDK change is about."""
    if change.aspect in UNSENDABLE:
        return any(UNSENDABLE[change.aspect](r) for r in requests)
    if change.aspect == "returns":
        return any(s.returned for s in seen)
    return any(not s.returned and s.sent for s in seen)

