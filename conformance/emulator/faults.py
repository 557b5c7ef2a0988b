"""The fault catalogue: named, single deliberate deviations the emulator can be started with.

A fault is data read by the app at a few hooks, never a copy of the app:
`lenient` names checks whose failure the app ignores, `flags` switch one behaviour, and `alter`
rewrites the finished reply. Each fault names the requirement IDs (spec/requirements.json) it breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from conformance import spec
from conformance.emulator.wire import Reply, error_reply
from conformance.registry import Registry


@dataclass
class Context:
    """What a reply alteration may know about the request it answers."""

    base_url: str
    route: str
    client_request_id: str | None = None
    accepted_seq: int = 0  # how many 202s the emulator had sent before this one


Alter = Callable[[Reply, Context], None]
VersionRule = Callable[[spec.ApiVersion], bool]


@dataclass(frozen=True)
class FaultSpec:
    """One deviation: its name, what it does, which requirements it breaks, and where it shows."""

    name: str
    description: str
    breaks: tuple[str, ...]
    lenient: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    alter: Alter | None = None
    when: VersionRule | None = None  # the api-versions on which the deviation is observable
    needs_auth: bool = False  # observable only when the emulator enforces authentication
    through: str | None = None  # observable only through this azure-batch release (sdk@VERSION+URL)
    # observable only when a reimage lasts at least this long (a race needs the node to stay reimaging for
    # longer than the simultaneous requests take): the emulator started with the fault reimages this slowly
    reimage_seconds: float = 0.0

    def applies(self, api_version: str) -> bool:
        """Whether the deviation is observable under this api-version."""
        return self.when is None or self.when(spec.version(api_version))

    @property
    def versions(self) -> tuple[str, ...]:
        """The known api-versions under which the deviation is observable."""
        return tuple(v for v in spec.versions() if self.applies(v))


FAULTS: Registry[FaultSpec] = Registry("fault")


def _add(name: str, description: str, breaks: tuple[str, ...], **kw: object) -> None:
    FAULTS.add(name, FaultSpec(name, description, breaks, **kw))  # type: ignore[arg-type]


def _on_202(change: Alter) -> Alter:
    def alter(reply: Reply, ctx: Context) -> None:
        if reply.status == 202:
            change(reply, ctx)
    return alter


def _on_error(change: Alter) -> Alter:
    def alter(reply: Reply, ctx: Context) -> None:
        if reply.error is not None:
            change(reply, ctx)
    return alter


def _code_to_500(code: str) -> Alter:
    def alter(reply: Reply, ctx: Context) -> None:
        if reply.code == code:
            fresh = error_reply(500, "InternalError", ctx.base_url)
            reply.status, reply.headers, reply.error = fresh.status, fresh.headers, fresh.error
    return alter


def _set_body_field(key: str, value: object) -> Alter:
    def change(reply: Reply, ctx: Context) -> None:
        assert reply.error is not None
        if value is None:
            reply.error.pop(key, None)
        else:
            reply.error[key] = value
    return _on_error(change)


def _flaky(reply: Reply, ctx: Context) -> None:
    if ctx.accepted_seq % 5 == 4:
        reply.drop_header("request-id")


def _always_echo(reply: Reply, ctx: Context) -> None:
    if ctx.client_request_id is not None:
        reply.set_header("client-request-id", ctx.client_request_id)


def _message_without_rid(reply: Reply, ctx: Context) -> None:
    assert reply.error is not None
    reply.error["message"]["value"] = reply.error["message"]["value"].split("\n", 1)[0]


def _message_as_string(reply: Reply, ctx: Context) -> None:
    assert reply.error is not None
    reply.error["message"] = reply.error["message"]["value"]


def _pool_code(reply: Reply, ctx: Context) -> None:
    assert reply.error is not None
    if reply.error["code"] == "PoolNotFound":
        reply.error["code"] = "ResourceNotFound"


def _reimaged_node_500(reply: Reply, ctx: Context) -> None:
    if ctx.route != "node" or reply.status != 200:
        return
    try:
        reimaged = bool(json.loads(reply.body).get("reimageCount"))
    except (ValueError, AttributeError):
        return
    if reimaged:
        fresh = error_reply(500, "InternalError", ctx.base_url)
        reply.status, reply.headers, reply.error, reply.body = fresh.status, fresh.headers, fresh.error, b""


def _refuses_vm(v: spec.ApiVersion) -> bool:
    return not v.vm_pool_allowed


def _accepts_vm(v: spec.ApiVersion) -> bool:
    return v.vm_pool_allowed


def _uuid_crid(v: spec.ApiVersion) -> bool:
    return v.client_request_id_format == "uuid"


# --- 202 shape ---
_add("no-request-id-202", "202 without a request-id header", ("RSP-202-REQUEST-ID",),
     alter=_on_202(lambda r, c: r.drop_header("request-id")))
_add("request-id-not-guid-202", "202 request-id is not a GUID", ("RSP-202-REQUEST-ID",),
     alter=_on_202(lambda r, c: r.set_header("request-id", "req-" + r.request_id[:8])))
_add("flaky-request-id-202", "every fifth 202 lacks request-id", ("RSP-202-REQUEST-ID",),
     alter=_on_202(_flaky))
_add("no-dataserviceid-202", "202 without DataServiceId",
     ("RSP-202-DATASERVICEID",),  # the URL rule cannot be judged without the header
     alter=_on_202(lambda r, c: r.drop_header("DataServiceId")))
_add("dataserviceid-wrong-url-202", "DataServiceId names the pool, not the action URL",
     ("RSP-202-DATASERVICEID-URL",),
     alter=_on_202(lambda r, c: r.set_header("DataServiceId", (r.header("DataServiceId") or "")
                                             .rsplit("/nodes/", 1)[0])))
_add("status-200", "an accepted reimage answers 200 instead of 202", ("RSP-202-STATUS",),
     alter=_on_202(lambda r, c: setattr(r, "status", 200)))
_add("etag-empty-202", "202 carries an empty ETag", ("RSP-202-ETAG",),
     alter=_on_202(lambda r, c: r.set_header("ETag", "")))
_add("last-modified-iso-202", "202 Last-Modified is ISO 8601, not RFC 1123", ("RSP-202-LAST-MODIFIED",),
     alter=_on_202(lambda r, c: r.set_header("Last-Modified", "2026-02-03T18:19:59Z")))
_add("body-on-202", "202 carries a JSON body", ("RSP-202-EMPTY-BODY",),
     alter=_on_202(lambda r, c: setattr(r, "body", b'{"status":"accepted"}')))
# --- client-request-id ---
_add("no-crid-echo", "client-request-id is never echoed, even when asked for", ("RSP-CRID-ECHO",),
     alter=lambda r, c: r.drop_header("client-request-id"))
_add("crid-always-echoed", "client-request-id is echoed even when not asked for", ("RSP-CRID-NOT-ECHOED",),
     alter=_always_echo)
# --- error shape ---
_add("error-message-string", "error body message is a plain string, not {lang, value}",
     ("ERR-BODY-SCHEMA",), alter=_on_error(_message_as_string))
_add("error-missing-code", "error body has no code", ("ERR-BODY-SCHEMA",),
     alter=_set_body_field("code", None))
_add("error-values-not-list", "error body values is an object, not an array", ("ERR-BODY-SCHEMA",),
     alter=_set_body_field("values", {"key": "Reason"}))
_add("error-content-type-text", "errors are sent as text/plain", ("ERR-CONTENT-TYPE",),
     alter=_on_error(lambda r, c: r.set_header("Content-Type", "text/plain")))
_add("error-no-request-id", "errors carry no request-id header", ("ERR-REQUEST-ID",),
     alter=_on_error(lambda r, c: r.drop_header("request-id")))
_add("error-message-no-request-id", "error message.value lacks the RequestId/Time trailer",
     ("ERR-MESSAGE-REQUEST-ID",), alter=_on_error(_message_without_rid))
_add("pool-not-found-generic-code", "unknown pool answers 404 ResourceNotFound, not PoolNotFound",
     ("ERR-CODE-EXPECTED",), alter=_on_error(_pool_code))
# --- semantics ---
_add("unknown-pool-accepted", "a reimage on an unknown pool gets 202", ("SEM-POOL-NOT-FOUND",),
     lenient=frozenset({"pool"}))
_add("unknown-node-500", "an unknown node answers 500 InternalError",
     ("SEM-NODE-NOT-FOUND", "NO-SERVER-ERROR"), alter=_code_to_500("NodeNotFound"))
_add("unknown-node-500-newer-versions", "an unknown node answers 500, but only on the api-versions from "
     "2024-07-01.20.0 on: an undocumented behaviour change between versions",
     ("SEM-NODE-NOT-FOUND", "NO-SERVER-ERROR"), alter=_code_to_500("NodeNotFound"), when=_accepts_vm)
_add("pool-id-case-sensitive", "pool IDs are case-sensitive: a case variant gets 404",
     ("SEM-POOL-ID-CASE",), flags=frozenset({"case-sensitive-pools"}))
_add("vm-pool-accepted", "virtualMachineConfiguration pools are accepted where the version refuses them",
     ("SEM-POOL-CONFIG",), lenient=frozenset({"pool-config"}), when=_refuses_vm)
_add("vm-pool-refused", "virtualMachineConfiguration pools are refused where the version accepts them",
     ("SEM-POOL-CONFIG", "SEM-ACCEPT"), flags=frozenset({"invert-vm-rule"}), when=_accepts_vm)
_add("any-state-accepted", "nodes in any state are reimaged (202)", ("SEM-NODE-STATE",),
     lenient=frozenset({"node-state"}))
_add("bad-option-accepted", "an unknown nodeReimageOption is accepted", ("SEM-BAD-OPTION",),
     lenient=frozenset({"option"}))
_add("bad-json-500", "a malformed JSON body answers 500", ("SEM-BAD-BODY", "NO-SERVER-ERROR"),
     alter=_code_to_500("InvalidRequestBody"))
_add("oversized-body-accepted", "a body over 1 MiB is accepted", ("SEM-BODY-TOO-LARGE",),
     lenient=frozenset({"body-size"}))
_add("timeout-above-30-refused", "timeout above 30 answers 400 (a MUST violation where the version says "
     "values above 30 fall back to 30)", ("SEM-TIMEOUT-VALID",), flags=frozenset({"timeout-max-30"}),
     when=lambda v: v.timeout_above_max == "must-accept")
_add("bad-timeout-accepted", "a non-integer or out-of-range timeout is accepted", ("SEM-TIMEOUT-INVALID",),
     lenient=frozenset({"timeout"}))
_add("bad-client-request-id-accepted", "a client-request-id that is not a GUID is accepted",
     ("SEM-BAD-HEADER",), lenient=frozenset({"client-request-id"}), when=_uuid_crid)
_add("bad-ocp-date-accepted", "an ocp-date that is not an RFC 1123 date is accepted", ("SEM-BAD-HEADER",),
     lenient=frozenset({"ocp-date"}))
_add("valid-ocp-date-refused", "a valid ocp-date answers 400 InvalidHeaderValue", ("SEM-ACCEPT",),
     flags=frozenset({"refuse-valid-ocp-date"}))
_add("missing-api-version-accepted", "a request without api-version is served at the default version",
     ("SEM-API-VERSION-MISSING",), lenient=frozenset({"api-version-missing"}))
_add("unknown-api-version-accepted", "an api-version the emulator does not serve is accepted",
     ("SEM-API-VERSION-UNKNOWN",), lenient=frozenset({"api-version-unknown"}))
_add("empty-object-refused", "a {} body answers 400 InvalidRequestBody", ("SEM-NO-BODY",),
     flags=frozenset({"refuse-empty-object"}))
_add("flip-flop-null-option", "an explicit null nodeReimageOption is accepted, then refused, in turn (as a target "
     "behind backends that disagree)", ("SEM-CONSISTENT",), flags=frozenset({"flip-flop-null-option"}))
_add("unknown-property-500", "a body with an undefined property answers 500",
     ("SEM-UNKNOWN-PROPERTY", "NO-SERVER-ERROR"), flags=frozenset({"unknown-property-500"}))
_add("get-reimage-accepted", "GET on the reimage path answers 202", ("SEM-METHOD",),
     lenient=frozenset({"method"}))
_add("concurrent-reimage-race", "a reimage reads the node's state, pauses, then marks it reimaging (no lock): two "
     "simultaneous reimages of one idle node both get 202", ("SEM-CONCURRENT-REIMAGE",),
     flags=frozenset({"racy-reimage"}), reimage_seconds=1.0)
_add("no-state-change", "a 202 leaves the node in its old state", ("SEM-STATE-AFTER",),
     flags=frozenset({"no-state-change"}))
_add("option-ignored", "the reimage option does not act on running tasks", ("SEM-OPTION-EFFECT",),
     flags=frozenset({"no-option-effect"}))
# --- what an SDK makes of the target ---
_add("reimaged-node-500", "Get Node answers 500 InternalError for a node the emulator has reimaged (azure-batch "
     "15.x's poller reads Get Node after a 202: it ends Failed)", ("SDK-POLLER",), alter=_reimaged_node_500,
     through="15.1.0")
_add("auth-missing-accepted", "a request without Authorization is served", ("AUTH-MISSING",),
     lenient=frozenset({"auth-missing"}), needs_auth=True)
_add("auth-bad-signature-accepted", "a Shared Key signature that does not verify is accepted",
     ("AUTH-BAD-SIGNATURE",), lenient=frozenset({"auth-signature"}), needs_auth=True)


def catalogue() -> list[FaultSpec]:
    """Every fault, in catalogue order."""
    return [f for _, f in FAULTS.items()]


def get(name: str) -> FaultSpec:
    """One fault by name; KeyError listing the known names."""
    return FAULTS.get(name)
