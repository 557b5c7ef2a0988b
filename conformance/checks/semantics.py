"""Status rules (SEM-*): for each kind of input, the status fits the oracle's set; each rule's home.

Every rule here is decided the same way (judge): the request exercises the requirement (the oracle says so)
and the answer is in the oracle's set of acceptable outcomes. What differs per requirement, and lives in
its home below, is why, which generated requests exercise it (focus) and its explicit examples.
"""

from __future__ import annotations

from conformance.checks._base import (
    Check,
    batch_error,
    check,
    fail,
    is_transient,
    not_applicable,
    other_open_statuses,
)
from conformance.examples import NONE as NO_EXAMPLES
from conformance.examples import (
    Examples,
    body,
    changed,
    header,
    near_node,
    near_pool,
    pool_id_as,
    query,
    same,
    timeout,
    when,
)
from conformance.models import Answer, Exchange
from conformance.rules import OPTION_KEY, OPTIONS
from conformance.spec import limits
from conformance.strategies import ANY_REQUESTS as _ANY
from conformance.strategies import (
    BAD_BOOLEANS,
    BAD_CRIDS,
    BAD_DATES,
    BIG_BODY,
    MALFORMED,
    NON_OBJECTS,
    NOT_INTEGERS,
    OTHER_METHODS,
    UNKNOWN_PROPS,
    UNKNOWN_VERSIONS,
    VALID_REQUESTS,
    Focus,
    focused,
)


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


def status_rule(requirement: str, doc: str, *, why: str, offline: bool, focus: Focus = _ANY,
                examples: Examples = NO_EXAMPLES) -> Check:
    """Register a requirement decided by judge(): the home of a status rule."""
    def rule(ex: Exchange) -> None:
        judge(requirement, ex, why)
    rule.__doc__ = doc
    rule.__name__ = requirement.lower().replace("-", "_")
    return check(requirement, offline=offline, focus=focus, examples=examples)(rule)


accept = status_rule(
    "SEM-ACCEPT", "A valid request gets 202.", offline=True, focus=VALID_REQUESTS,
    why="pool, node, state, option, headers and query are all valid",
    examples=Examples(tuple(body({OPTION_KEY: o}) for o in OPTIONS)))

no_body = status_rule(
    "SEM-NO-BODY", "No body, an empty body and {} mean requeue and are accepted.", offline=True,
    focus=focused(body=("empty",), extra_fault=False),
    why="the body parameter is optional; absent means requeue (SDKs send none)",
    examples=Examples((same, changed(body=b""), body({}))))

pool_not_found = status_rule(
    "SEM-POOL-NOT-FOUND", "An unknown pool gets 404.", offline=False,
    focus=focused(target=("pool-unknown", "pool-malformed")),
    why="the pool does not exist (PoolNotFound, batch error codes)",
    examples=Examples((changed(pool_id="nopool-explicit"), near_pool, changed(pool_id="bad.pool"),
                       changed(pool_id="p" * (limits()[1] + 1)))))

node_not_found = status_rule(
    "SEM-NODE-NOT-FOUND", "A known pool with an unknown node gets 404.", offline=False,
    focus=focused(target=("node-unknown", "node-malformed")),
    why="the node does not exist (NodeNotFound, batch error codes)",
    examples=Examples((changed(node_id="nonode-explicit"), near_node, changed(node_id="bad.node"))))

pool_id_case = status_rule(
    "SEM-POOL-ID-CASE", "A pool ID differing only in letter case addresses the pool.", offline=False,
    focus=focused(target=("case",), extra_fault=False),
    why="pool IDs are case-preserving and case-insensitive (Pool Add docs)",
    examples=Examples((pool_id_as(str.upper), pool_id_as(str.swapcase))))

pool_config = status_rule(
    "SEM-POOL-CONFIG", "virtualMachineConfiguration pools: 409 where the api-version refuses them, else accepted.",
    offline=False, focus=focused(target=("vm",), extra_fault=False),
    why="per api-version (versions.json vm_pool_allowed): cloud-service-only before 2024-07-01.20.0, any pool "
        "from then on",
    examples=Examples(targets="vm-pool"))

node_state = status_rule(
    "SEM-NODE-STATE", "A node neither idle nor running gets 409.", offline=False, focus=focused(target=("state",)),
    why="reimage is allowed only on idle or running nodes", examples=Examples(targets="refusing-state"))

bad_option = status_rule(
    "SEM-BAD-OPTION", "nodeReimageOption outside the four values gets 400.", offline=True,
    focus=focused(body=("bad-option", "other-option", "null-option")),
    why="the option enum is requeue, terminate, taskcompletion, retaineddata",
    examples=Examples((body({OPTION_KEY: 1}), body({OPTION_KEY: ["requeue"]}), body({OPTION_KEY: None}),
                       when(lambda v: not v.option_enum_open, body({OPTION_KEY: "Requeue"})))))

unknown_property = status_rule(
    "SEM-UNKNOWN-PROPERTY", "An undefined body property is ignored (202) or refused (400), never 5xx.",
    offline=True, focus=focused(body=("unknown-property",)),
    why="not known whether the service ignores or refuses it: both are fine",
    examples=Examples((body(UNKNOWN_PROPS[0]),)))

bad_body = status_rule(
    "SEM-BAD-BODY", "A body that is not a JSON object gets 400.", offline=True,
    focus=focused(body=("malformed", "non-object")), why="the body must be a NodeReimageParameter JSON object",
    examples=Examples((body(MALFORMED[0]), body(MALFORMED[1]), body(NON_OBJECTS[0]), body(NON_OBJECTS[1]))))

body_too_large = status_rule(
    "SEM-BODY-TOO-LARGE", "A body over 1 MiB gets 413 or 400.", offline=True, focus=focused(body=("too-large",)),
    why="bodies are limited to 1 MiB (RequestBodyTooLarge, MaxLimit=1048576)", examples=Examples((body(BIG_BODY),)))

timeout_valid = status_rule(
    "SEM-TIMEOUT-VALID", "timeout 1..30 is accepted; above 30 per the api-version's data.", offline=True,
    focus=focused(timeout=("valid", "above"), extra_fault=False),
    why="timeout is int32 seconds, default 30; above 30 falls back to 30 from 2024-02-01.19.0 (SHOULD before)",
    examples=Examples((timeout("1"), timeout("30"), timeout("31"))))

timeout_invalid = status_rule(
    "SEM-TIMEOUT-INVALID", "A non-integer or out-of-int32 timeout gets 400.", offline=True,
    focus=focused(timeout=("not-integer", "beyond-int32", "nonpositive")), why="timeout is an int32 query parameter",
    examples=Examples((timeout(NOT_INTEGERS[0]), timeout(str(2**31)), timeout("0"), timeout("-1"))))

bad_header = status_rule(
    "SEM-BAD-HEADER", "Malformed client-request-id, return-client-request-id or ocp-date gets 400.", offline=True,
    focus=focused(headers="bad"), why="the headers' formats are declared per api-version (uuid, boolean, RFC 1123)",
    examples=Examples((header("return-client-request-id", BAD_BOOLEANS[0]), header("ocp-date", BAD_DATES[0]),
                       header("ocp-date", BAD_DATES[2]),
                       when(lambda v: v.client_request_id_format == "uuid",
                            header("client-request-id", BAD_CRIDS[0])))))

api_version_missing = status_rule(
    "SEM-API-VERSION-MISSING", "No api-version gets 400.", offline=True, focus=focused(version="missing"),
    why="api-version is a required query parameter", examples=Examples((query(),)))

api_version_unknown = status_rule(
    "SEM-API-VERSION-UNKNOWN", "An api-version the target does not serve gets 400.", offline=True,
    focus=focused(version="unknown"), why="the target cannot answer in a version it does not serve",
    examples=Examples((query(("api-version", UNKNOWN_VERSIONS[0])), query(("api-version", UNKNOWN_VERSIONS[2])))))

other_method = status_rule(
    "SEM-METHOD", "GET, PUT, PATCH or DELETE on the reimage path: 405 or 400, never 2xx or 5xx.", offline=True,
    focus=focused(method="other", body=("empty",)), why="the reimage path defines only POST (UnsupportedHttpVerb)",
    examples=Examples(tuple(changed(method=m) for m in OTHER_METHODS)))


@check("SEM-CONSISTENT", offline=False, everywhere=True,
       focus=focused(body=("null-option", "unknown-property", "other-option"), extra_fault=False),
       examples=Examples(tuple(variant for variant in (
           body({OPTION_KEY: None}), timeout("0"), body(UNKNOWN_PROPS[0]),
           when(lambda v: not v.option_enum_open, body({OPTION_KEY: "Terminate"}))) for _ in range(2))))
def consistent(ex: Exchange) -> None:
    """An input whose answer the target settled earlier in the run gets the same kind of answer again."""
    exp = ex.expectation
    if exp.settled is None:
        raise not_applicable("the target has not answered this class of input alone before")
    if is_transient(ex.response) or ex.response.status >= 500:
        raise not_applicable("a transient or server error answer (the no-5xx rule decides those)")
    now = Answer(ex.response.status, _code(ex))
    if not now.same_as(exp.settled.answer):
        raise fail("SEM-CONSISTENT", ex, f"{exp.sole_key} answered {now.describe()}",
                   expected=f"{exp.settled.answer.describe()}, as the target answered the same input before "
                            f"({exp.settled.first})",
                   why="the facts leave this input open, and the target's own first answer settled it")


def _code(ex: Exchange) -> str | None:
    error = batch_error(ex.response) if ex.response.status >= 300 else None
    return str(error["code"]) if error else None
