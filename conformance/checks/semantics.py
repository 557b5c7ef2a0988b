"""Checks that the status fits the input (SEM-*, AUTH-*), and the observed effects of a 202."""

from __future__ import annotations

import json
from typing import Any

from conformance.checks._base import check, fail, is_reimage, is_transient, not_applicable, other_open_statuses
from conformance.models import Exchange
from conformance.rules import OPTION_KEY

# Reimaging passes through these states before the node is idle again (node lifecycle, swagger states).
STATES_AFTER = frozenset({"reimaging", "starting", "waitingforstarttask", "idle"})
# Tasks that are back in the queue (requeued) and tasks that are over.
QUEUED, DONE = frozenset({"active", "preparing"}), frozenset({"completed"})


def judge(requirement: str, ex: Exchange, why: str) -> None:
    """Fail when the status is outside the oracle's set for a request that exercises the requirement."""
    exp = ex.expectation
    if requirement not in exp.requirements:
        raise not_applicable(f"the request does not exercise {requirement}")
    if is_transient(ex.response):
        raise not_applicable("a transient server answer (ServerBusy / OperationTimedOut)")
    if ex.response.status not in exp.statuses:
        raise fail(requirement, ex, f"status {ex.response.status}", expected=exp.describe(), why=why)
    if ex.response.status in other_open_statuses(ex, requirement):
        raise not_applicable("only an open point of another requirement explains this status")


@check("SEM-ACCEPT", offline=True)
def accept(ex: Exchange) -> None:
    """A valid request gets 202."""
    judge("SEM-ACCEPT", ex, "pool, node, state, option, headers and query are all valid")


@check("SEM-NO-BODY", offline=True)
def no_body(ex: Exchange) -> None:
    """No body, an empty body and {} mean requeue and are accepted."""
    judge("SEM-NO-BODY", ex, "the body parameter is optional; absent means requeue (SDKs send none)")


@check("SEM-POOL-NOT-FOUND", offline=False)
def pool_not_found(ex: Exchange) -> None:
    """An unknown pool gets 404."""
    judge("SEM-POOL-NOT-FOUND", ex, "the pool does not exist (PoolNotFound, batch error codes)")


@check("SEM-NODE-NOT-FOUND", offline=False)
def node_not_found(ex: Exchange) -> None:
    """A known pool with an unknown node gets 404."""
    judge("SEM-NODE-NOT-FOUND", ex, "the node does not exist (NodeNotFound, batch error codes)")


@check("SEM-POOL-ID-CASE", offline=False)
def pool_id_case(ex: Exchange) -> None:
    """A pool ID differing only in letter case addresses the pool."""
    judge("SEM-POOL-ID-CASE", ex, "pool IDs are case-preserving and case-insensitive (Pool Add docs)")


@check("SEM-POOL-CONFIG", offline=False)
def pool_config(ex: Exchange) -> None:
    """virtualMachineConfiguration pools: 409 where the api-version refuses them, else accepted."""
    judge("SEM-POOL-CONFIG", ex, "per api-version (versions.json vm_pool_allowed): cloud-service-only "
          "before 2024-07-01.20.0, any pool from then on")


@check("SEM-NODE-STATE", offline=False)
def node_state(ex: Exchange) -> None:
    """A node neither idle nor running gets 409."""
    judge("SEM-NODE-STATE", ex, "reimage is allowed only on idle or running nodes")


@check("SEM-BAD-OPTION", offline=True)
def bad_option(ex: Exchange) -> None:
    """nodeReimageOption outside the four values gets 400."""
    judge("SEM-BAD-OPTION", ex, "the option enum is requeue, terminate, taskcompletion, retaineddata")


@check("SEM-UNKNOWN-PROPERTY", offline=True)
def unknown_property(ex: Exchange) -> None:
    """An undefined body property is ignored (202) or refused (400), never 5xx."""
    judge("SEM-UNKNOWN-PROPERTY", ex, "not known whether the service ignores or refuses it: both are fine")


@check("SEM-BAD-BODY", offline=True)
def bad_body(ex: Exchange) -> None:
    """A body that is not a JSON object gets 400."""
    judge("SEM-BAD-BODY", ex, "the body must be a NodeReimageParameter JSON object")


@check("SEM-BODY-TOO-LARGE", offline=True)
def body_too_large(ex: Exchange) -> None:
    """A body over 1 MiB gets 413 or 400."""
    judge("SEM-BODY-TOO-LARGE", ex, "bodies are limited to 1 MiB (RequestBodyTooLarge, MaxLimit=1048576)")


@check("SEM-TIMEOUT-VALID", offline=True)
def timeout_valid(ex: Exchange) -> None:
    """timeout 1..30 is accepted; above 30 per the api-version's data."""
    judge("SEM-TIMEOUT-VALID", ex, "timeout is int32 seconds, default 30; above 30 falls back to 30 "
          "from 2024-02-01.19.0 (SHOULD before)")


@check("SEM-TIMEOUT-INVALID", offline=True)
def timeout_invalid(ex: Exchange) -> None:
    """A non-integer or out-of-int32 timeout gets 400."""
    judge("SEM-TIMEOUT-INVALID", ex, "timeout is an int32 query parameter")


@check("SEM-BAD-HEADER", offline=True)
def bad_header(ex: Exchange) -> None:
    """Malformed client-request-id, return-client-request-id or ocp-date gets 400."""
    judge("SEM-BAD-HEADER", ex, "the headers' formats are declared per api-version (uuid, boolean, RFC 1123)")


@check("SEM-API-VERSION-MISSING", offline=True)
def api_version_missing(ex: Exchange) -> None:
    """No api-version gets 400."""
    judge("SEM-API-VERSION-MISSING", ex, "api-version is a required query parameter")


@check("SEM-API-VERSION-UNKNOWN", offline=True)
def api_version_unknown(ex: Exchange) -> None:
    """An api-version the target does not serve gets 400."""
    judge("SEM-API-VERSION-UNKNOWN", ex, "the target cannot answer in a version it does not serve")


@check("SEM-METHOD", offline=True)
def other_method(ex: Exchange) -> None:
    """GET, PUT, PATCH or DELETE on the reimage path: 405 or 400, never 2xx or 5xx."""
    judge("SEM-METHOD", ex, "the reimage path defines only POST (UnsupportedHttpVerb)")


def _auth(requirement: str, ex: Exchange, why: str) -> None:
    if ex.context.get("auth_enforced") is not True:
        raise not_applicable("the target is not known to enforce authentication")
    judge(requirement, ex, why)


@check("AUTH-MISSING", offline=False)
def auth_missing(ex: Exchange) -> None:
    """No Authorization: 400 MissingRequiredHeader or 401, never 202."""
    _auth("AUTH-MISSING", ex, "the live service answers 400 MissingRequiredHeader (HeaderName=Authorization)")


@check("AUTH-BAD-SIGNATURE", offline=False)
def auth_bad_signature(ex: Exchange) -> None:
    """A Shared Key signature that does not verify: 403."""
    _auth("AUTH-BAD-SIGNATURE", ex, "Shared Key authentication fails (AuthenticationFailed, 403)")


def _option(ex: Exchange) -> str:
    """The option the request asked for; requeue when absent."""
    try:
        doc = json.loads(ex.request.body or b"{}")
    except ValueError:
        return "requeue"
    value = doc.get(OPTION_KEY) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else "requeue"


def _accepted(ex: Exchange) -> None:
    if ex.response.status != 202 or not is_reimage(ex.request):
        raise not_applicable("not an accepted reimage")


def _state(raw: Any) -> str | None:
    value = raw.get("state") if isinstance(raw, dict) else raw
    return value if isinstance(value, str) else None


@check("SEM-STATE-AFTER", offline=False)
def state_after(ex: Exchange) -> None:
    """After a 202 the node reads reimaging (or, once done, idle)."""
    _accepted(ex)
    after = _state(ex.context.get("node_after"))
    if after is None:
        raise not_applicable("the node was not read after the 202")
    allowed = set(STATES_AFTER)
    # Running tasks may still be finishing (taskcompletion, retaineddata) or being terminated: a node
    # that was running may still read running; one known to have been idle may not.
    if _state(ex.context.get("node_before")) != "idle":
        allowed.add("running")
    if after not in allowed:
        raise fail("SEM-STATE-AFTER", ex, f"the node reads {after!r} after the 202",
                   expected=f"one of {', '.join(sorted(allowed))}",
                   why="an accepted reimage puts the node in reimaging, and it comes back idle")
    _changed_since(ex, after)


def _transition(raw: Any) -> str | None:
    value = raw.get("stateTransitionTime") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


def _changed_since(ex: Exchange, after: str) -> None:
    """An idle node reading idle again must show a newer stateTransitionTime: it went through reimaging."""
    before = ex.context.get("node_before")
    if _state(before) != "idle" or after != "idle":
        return
    watched = (ex.context.get("node_watch") or {}).get("states") or ()
    if "reimaging" in watched:
        return  # the live-safety watch saw the node reimaging
    t_before, t_after = _transition(before), _transition(ex.context.get("node_after"))
    if t_before is not None and t_before == t_after:
        raise fail("SEM-STATE-AFTER", ex,
                   f"the node reads idle with the same stateTransitionTime ({t_after}) as before the 202",
                   expected="the node to enter reimaging (a new stateTransitionTime), then come back idle",
                   why="an accepted reimage changes the node's state; ComputeNode.stateTransitionTime records it")


def _tasks(raw: Any) -> dict[str, str]:
    if not isinstance(raw, list):
        return {}
    return {str(t["id"]): str(t.get("state")) for t in raw if isinstance(t, dict) and "id" in t}


@check("SEM-OPTION-EFFECT", offline=False)
def option_effect(ex: Exchange) -> None:
    """Running tasks are requeued, terminated or left to finish as the option says."""
    _accepted(ex)
    if "tasks_before" not in ex.context or "tasks_after" not in ex.context:
        raise not_applicable("tasks were not observed around the 202")
    before, after = _tasks(ex.context["tasks_before"]), _tasks(ex.context["tasks_after"])
    running = [t for t, s in before.items() if s == "running" and t in after]
    if not running:
        raise not_applicable("no running task was observed before and after")
    option = _option(ex)
    node_after = _state(ex.context.get("node_after"))
    still = [t for t in running if after[t] == "running"]
    if option in ("requeue", "terminate") and node_after in ("reimaging", "idle") and still:
        raise fail("SEM-OPTION-EFFECT", ex,
                   f"with {option}, the node reads {node_after} while tasks {still} still run",
                   expected="running tasks terminated before the node is reimaged",
                   why="requeue and terminate: 'Reimage the Compute Node as soon as Tasks have been terminated'")
    # Otherwise only contradictions are failures: timing can leave a task running a little longer.
    forbidden = {"requeue": DONE, "terminate": QUEUED}.get(option, QUEUED)
    wrong = {t: after[t] for t in running if after[t] in forbidden}
    if wrong:
        meaning = {"requeue": "terminated and requeued (active again, not completed)",
                   "terminate": "terminated and not run again (not requeued)"}.get(
            option, "allowed to finish (not requeued)")
        raise fail("SEM-OPTION-EFFECT", ex, f"with {option}, running tasks are now {wrong}",
                   expected=f"running tasks {meaning}", why="the option enum's descriptions (swagger)")
