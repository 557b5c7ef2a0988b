"""Status rules (SEM-*): for each kind of input, the status fits the oracle's set; each rule's home.

Every rule here is decided the same way (judge): the request exercises the requirement (the oracle says so)
and the answer is in the oracle's set of acceptable outcomes. What differs per requirement, and lives in
its home below, is why, which generated requests exercise it (focus) and its explicit examples.

A valid request may carry several factors (a body, a timeout, optional headers, the pool ID in another letter
case, a virtualMachineConfiguration pool): when such a request is refused, SEM-ACCEPT fails and names every factor,
while a rule about one factor is decided only by a request carrying no other one (a refusal cannot say which
factor was refused). The rules for valid requests are judged on every exchange, so one accepted reimage decides
all the factors it carried.
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
from conformance.models import Answer, Exchange, Overlap
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


def judge(requirement: str, ex: Exchange, why: str, *, one_factor: bool = False) -> None:
    """Fail when the status is outside the oracle's set for a request that exercises the requirement.

    one_factor: the rule is about one factor of a valid request, so a refusal of a request that also carries
    another factor does not decide it (SEM-ACCEPT fails for it, naming every factor), nor does a request that must
    be refused for another reason meet it."""
    exp = ex.expectation
    if requirement not in exp.requirements:
        raise not_applicable(f"the request does not exercise {requirement}")
    if is_transient(ex.response):
        raise not_applicable("a transient server answer (ServerBusy / OperationTimedOut)")
    if exp.uncertain and ex.response.status == 409:
        raise not_applicable("this run reimaged the node and has not read it since: a 409 says nothing")
    if ex.response.status not in exp.statuses:
        others = [text for owner, text in factors(ex) if owner != requirement]
        if one_factor and others and 202 in exp.statuses:
            raise not_applicable(f"refused, but the request also carried {'; '.join(others)}: not known which "
                                 "factor was refused")
        raise fail(requirement, ex, f"status {ex.response.status}", expected=exp.describe(), why=why)
    if ex.response.status in other_open_statuses(ex, requirement):
        raise not_applicable("only an open point of another requirement explains this status")
    if one_factor and any(f.requirement != requirement for f in exp.faults):
        raise not_applicable("the request must be refused for another reason: it cannot show this factor accepted")


def status_rule(requirement: str, doc: str, *, why: str, offline: bool, focus: Focus = _ANY,
                examples: Examples = NO_EXAMPLES, everywhere: bool = False, one_factor: bool = False) -> Check:
    """Register a requirement decided by judge(): the home of a status rule."""
    def rule(ex: Exchange) -> None:
        judge(requirement, ex, why, one_factor=one_factor)
    rule.__doc__ = doc
    rule.__name__ = requirement.lower().replace("-", "_")
    return check(requirement, offline=offline, focus=focus, examples=examples, everywhere=everywhere)(rule)


def factors(ex: Exchange) -> list[tuple[str, str]]:
    """What a request carries beyond the plainest valid one (no body, no query but api-version, no optional
    header, the pool ID as the inventory spells it): (the requirement about that factor, or '', what it is)."""
    request, exercised = ex.request, ex.expectation.requirements
    out: list[tuple[str, str]] = []
    if pool_id_case.id in exercised:
        out.append((pool_id_case.id, f"the pool ID {request.pool_id!r} in another letter case"))
    if pool_config.id in exercised and 202 in ex.expectation.statuses:
        out.append((pool_config.id, "a node of a virtualMachineConfiguration pool"))
    if request.body is not None:
        empty = request.body.strip() in (b"", b"{}")
        out.append((no_body.id if empty else "", f"the body {request.body[:60].decode('utf-8', 'replace')!r}"))
    for name, value in request.query:
        if name != "api-version":
            owner = timeout_valid.id if timeout_valid.id in exercised else ""
            out.append((owner, f"{name}={value}"))
    for optional in ("ocp-date", "client-request-id", "return-client-request-id"):
        if (shown := request.header(optional)) is not None:
            out.append(("", f"{optional}: {shown}"))
    return out


@check("SEM-ACCEPT", offline=True, everywhere=True, focus=VALID_REQUESTS,
       examples=Examples(tuple(body({OPTION_KEY: o}) for o in OPTIONS)))
def accept(ex: Exchange) -> None:
    """A valid request gets 202; a refusal names every factor the request carried."""
    carried = "; ".join(text for _, text in factors(ex)) or "nothing beyond the plainest valid request"
    judge("SEM-ACCEPT", ex, f"pool, node, state, option, headers and query are all valid (it carried: {carried})")


no_body = status_rule(
    "SEM-NO-BODY", "No body, an empty body and {} mean requeue and are accepted.", offline=True,
    focus=focused(body=("empty",), extra_fault=False), everywhere=True, one_factor=True,
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
    focus=focused(target=("case",), extra_fault=False), everywhere=True, one_factor=True,
    why="pool IDs are case-preserving and case-insensitive (Pool Add docs)",
    examples=Examples((pool_id_as(str.upper), pool_id_as(str.swapcase))))

pool_config = status_rule(
    "SEM-POOL-CONFIG", "virtualMachineConfiguration pools: 409 where the api-version refuses them, else accepted.",
    offline=False, focus=focused(target=("vm",), extra_fault=False), everywhere=True, one_factor=True,
    why="per api-version (versions.json vm_pool_allowed): cloud-service-only before 2024-07-01.20.0, any pool "
        "from then on",
    examples=Examples(targets="vm-pool"))

@check("SEM-NODE-STATE", offline=False, everywhere=True, focus=focused(target=("state",)),
       examples=Examples(targets="refusing-state"))
def node_state(ex: Exchange) -> None:
    """A node neither idle nor running gets 409, including one this run has just put into reimaging."""
    if ex.observed.second is not None:
        _second_reimage(ex, ex.observed.second)
        return
    judge("SEM-NODE-STATE", ex, "reimage is allowed only on idle or running nodes")


def _second_reimage(ex: Exchange, second: Overlap) -> None:
    """A second reimage sent right after this run's 202 on the node: refused with 409, unless the first reimage
    may have ended in between (then it decides nothing)."""
    status = ex.response.status
    if is_transient(ex.response) or status >= 500:
        raise not_applicable("a transient or server error answer (the no-5xx rule decides those)")
    if status == 409:
        return
    seen = (f"Get Node read the node {second.read_state} just before" if second.read_state else
            "sent straight after the 202 (the target serves no Get Node)")
    if status == 202 and second.read_state is not None and not second.race_shown:
        raise not_applicable(f"accepted, but the node's first reimage may have ended between the read and this "
                             f"request ({race_timing(second)}): a finished reimage, not a race")
    problem = (f"a second reimage of a node this run had just reimaged answered {status}; {seen}"
               + (f"; {race_timing(second)}" if status == 202 else ""))
    raise fail("SEM-NODE-STATE", ex, problem, expected="409: the node is being reimaged",
               why="a node just accepted for reimage is no longer idle or running (REQUIREMENTS.md SEM-NODE-STATE)")


def race_timing(overlap: Overlap) -> str:
    """The timing that decides whether a second 202 was a race, as a person reads it."""
    after = ("the node was not read reimaging afterwards" if overlap.reimaging_after is None else
             f"the node still read reimaging {overlap.reimaging_after:.3f} s after the last answer")
    return f"the first reimage could have ended within {overlap.window:.3f} s; {after}"

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
    focus=focused(timeout=("valid", "above"), extra_fault=False), everywhere=True, one_factor=True,
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
