"""The check type, its registry and the helpers every check uses to describe an exchange to people."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from conformance.examples import NONE as NO_EXAMPLES
from conformance.examples import Examples
from conformance.models import Exchange, Fault, NotApplicable, Request, RequirementFailure, Response
from conformance.registry import Registry
from conformance.rules import is_guid, reimage_target
from conformance.strategies import ANY_REQUESTS, Focus

CheckFn = Callable[[Exchange], None]
SHOWN_HEADERS = ("client-request-id", "return-client-request-id", "ocp-date", "Content-Type")
TRANSIENT = {503: "ServerBusy", 500: "OperationTimedOut"}


@dataclass(frozen=True)
class Check:
    """One requirement's home in code: its check, the requests that exercise it and its explicit examples.

    The check raises RequirementFailure, raises NotApplicable, or returns None (decided and met). The ID,
    level, category and source live in spec/requirements.json; everything the code knows about the
    requirement lives here, and other modules name it through this object (`.id`), never by a literal.
    """

    id: str
    fn: CheckFn
    offline: bool  # one recorded exchange, without an inventory, can decide it
    focus: Focus = ANY_REQUESTS  # which generated requests exercise it
    examples: Examples = NO_EXAMPLES  # one request per input class, tried before the generated ones
    # "node": needs the node read before and after each 202; "tasks": also its running tasks, so it runs
    # before any other property may reimage the nodes whose tasks still run
    observes: Literal["", "node", "tasks"] = ""
    generic: bool = False  # a rule every Batch operation follows (recorded traffic of other operations)
    everywhere: bool = False  # judged on every exchange a run sends, whatever property made it
    # sent as this many identical requests at once (a burst at one node); only where the run may reimage freely
    simultaneous: int = 0

    def __call__(self, exchange: Exchange) -> None:
        self.fn(exchange)


CHECKS: Registry[Check] = Registry("check")


def check(requirement: str, *, offline: bool, focus: Focus = ANY_REQUESTS, examples: Examples = NO_EXAMPLES,
          observes: Literal["", "node", "tasks"] = "", generic: bool = False, everywhere: bool = False,
          simultaneous: int = 0) -> Callable[[CheckFn], Check]:
    """Register a check function as the home of its requirement; the decorated name is the home."""
    def wrap(fn: CheckFn) -> Check:
        return CHECKS.add(requirement, Check(requirement, fn, offline, focus, examples, observes, generic, everywhere,
                                             simultaneous))
    return wrap


def not_applicable(why: str) -> NotApplicable:
    """The signal that this exchange cannot decide the requirement."""
    return NotApplicable(why)


def describe_request(request: Request) -> str:
    """What was sent, without secrets: method, path and query, the headers that matter, the body."""
    parts = [f"{request.method} {request.path_and_query}"]
    parts += [f"{name}: {value}" for name in SHOWN_HEADERS if (value := request.header(name)) is not None]
    if request.body is None:
        parts.append("(no body)")
    else:
        parts.append(f"body ({len(request.body)} bytes): {_short(request.body)}")
    return "; ".join(parts)


def describe_response(response: Response) -> str:
    """What came back: status, the code of a BatchError, the body's start."""
    error = batch_error(response)
    if error is not None:
        return f"{response.status} {error.get('code')!s}"
    return f"{response.status} body {_short(response.body)}" if response.body else f"{response.status} (no body)"


def _short(data: bytes, limit: int = 160) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text) + ("..." if len(data) > limit else "")


def fail(requirement: str, ex: Exchange, problem: str, *, expected: str, why: str = "") -> RequirementFailure:
    """A failure message for people: what was sent, what came back, what was expected and why."""
    text = (f"{problem}. Sent: {describe_request(ex.request)}. Got: {describe_response(ex.response)}. "
            f"Expected: {expected}.")
    if why:
        text += f" Why: {why}."
    return RequirementFailure(requirement, text, expected=expected)


def batch_error(response: Response) -> dict[str, Any] | None:
    """The body as a JSON object with a string code, or None."""
    try:
        doc = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("code"), str):
        return doc
    return None


def is_transient(response: Response) -> bool:
    """429 (still throttled after the retries), or 503 ServerBusy / 500 OperationTimedOut with a BatchError:
    allowed, and says nothing about what the request meant."""
    if response.status == 429:
        return True
    error = batch_error(response)
    return error is not None and TRANSIENT.get(response.status) == error.get("code")


def bodiless_answer(ex: Exchange) -> str | None:
    """Why this answer carries no body by HTTP's own rules, or None: responses to HEAD and 1xx, 204 and 304
    responses never include content (RFC 9110, 6.4.1), so no rule about a body applies to them."""
    status = ex.response.status
    if ex.request.method.upper() == "HEAD":
        return f"a {status} answer to HEAD carries no body (RFC 9110, 6.4.1)"
    if 100 <= status < 200 or status in (204, 304):
        return f"a {status} answer carries no body (RFC 9110, 6.4.1)"
    return None


def is_reimage(request: Request) -> bool:
    """A POST on the reimage path."""
    return request.method.upper() == "POST" and reimage_target(request) is not None


def other_open_statuses(ex: Exchange, requirement: str) -> frozenset[int]:
    """Statuses only an open point of another requirement (or of none) explains."""
    others: set[Fault] = {p for p in ex.expectation.open_points if p.requirement != requirement}
    other_outcomes = {o for p in others for o in p.outcomes}
    settled = {o.status for o in ex.expectation.outcomes if o not in other_outcomes}
    return frozenset({o.status for o in other_outcomes} - settled)


def jsonish(value: Any) -> str:
    """A compact JSON rendering for messages."""
    try:
        return json.dumps(value, sort_keys=True)[:200]
    except RecursionError:
        return "(a value nested too deeply to show)"


def require_guid_request_id(requirement: str, ex: Exchange, why: str) -> None:
    """Fail `requirement` unless the response carries a GUID request-id header."""
    value = ex.response.header("request-id")
    if value is None or not is_guid(value.strip()):
        raise fail(requirement, ex, f"request-id header is {value!r}",
                   expected="a request-id header holding a GUID", why=why)
