"""The spec-driven layer: Schemathesis generates from our spec/ documents, our session sends, IDs get verdicts.

Schemathesis (4.x) supplies the inputs (positive and negative cases of the reimage operation) and its generic
checks; the suite's own Session sends them (oracle, live-safety gate, redaction, recording), and every finding
lands under a requirement ID of the catalogue. Plain Schemathesis on a Batch-style Swagger 2.0 document has
pitfalls, each handled here:

- `date-time-rfc1123` / `date-time-rfc7231` are unknown formats (ocp-date would be any string): registered.
- `status_code_conformance` is a no-op (the spec has a `default` response): replaced by SPEC-STATUS-CODE.
- a bodiless 202 has no Content-Type: judged "no body, no media type needed" (SPEC-CONTENT-TYPE).
- Swagger 2.0 response headers cannot be required and their formats are not ours: SPEC-RESPONSE-HEADERS and the
  RSP-/ERR- header IDs check `x-required-headers`, `x-ms-request-id` and the uuid / RFC 1123 formats.
- a missing api-version must stay a negative case: an explicit case sends a valid request without it.
- Schemathesis's idea of "invalid" is not the service's (open points, lenient headers): a negative or positive
  verdict is only a failure when the oracle does not allow the status either.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response as StResponse
from schemathesis.specs.openapi import checks as st_checks

from conformance.checks import errors, semantics
from conformance.checks import response as rsp
from conformance.checks._base import is_transient
from conformance.models import Exchange, Expectation, HarnessError, Request, RequirementFailure, Response
from conformance.reporting.failures import describe_failure
from conformance.rules import is_guid, parse_http_date
from conformance.run.safety import Withheld, remedy_for
from conformance.spec import swagger_path
from conformance.targets.base import NotExpressible

if TYPE_CHECKING:
    from typing import TypeAlias

    from schemathesis.generation.case import Case as _Case
    from schemathesis.schemas import APIOperation as _APIOperation

    APIOperation: TypeAlias = _APIOperation[Any, Any, Any, Any]
    Case: TypeAlias = _Case[APIOperation]

    from conformance.config import Settings
    from conformance.reporting.results import RunResult
    from conformance.run.session import Session

OPERATION = ("/pools/{poolId}/nodes/{nodeId}/reimage", "POST")
# The catalogue entries this layer owns (category "spec-driven"): this module is their home.
SPEC_IDS = STATUS_CODE, CONTENT_TYPE, RESPONSE_HEADERS, NEGATIVE_REJECTED = (
    "SPEC-STATUS-CODE", "SPEC-CONTENT-TYPE", "SPEC-RESPONSE-HEADERS", "SPEC-NEGATIVE-REJECTED")
# Catalogue entries whose rule a Schemathesis check (or our header check) states exactly: findings go there.
ROUTED_IDS = tuple(home.id for home in (
    errors.no_server_error, errors.error_body_schema, errors.error_content_type, errors.error_request_id,
    rsp.request_id_on_202, rsp.dataserviceid_on_202, rsp.last_modified_is_a_date, semantics.accept))
LAYER_IDS = SPEC_IDS + ROUTED_IDS
# response header -> (the requirement on a 202, the requirement on an error)
HEADER_IDS = {"request-id": (rsp.request_id_on_202.id, errors.error_request_id.id),
              "dataserviceid": (rsp.dataserviceid_on_202.id,) * 2,
              "last-modified": (rsp.last_modified_is_a_date.id,) * 2}
# examples per generation mode (positive, negative): the layer must stay within ~5 s on --profile standard
PROFILE_EXAMPLES = {"quick": 6, "standard": 25, "thorough": 200}
MAX_CANDIDATES = 1000  # nodes per pool the layer considers as targets of a valid case
OFF_REASON = "the spec-driven layer is switched off (--no-schemathesis, setting schemathesis = false)"
SCHEMATHESIS_HEADERS = ("x-schemathesis-testcaseid", "content-length", "host")


def http_dates() -> st.SearchStrategy[str]:
    """RFC 1123 / RFC 7231 IMF-fixdates ('Tue, 03 Feb 2026 18:19:59 GMT')."""
    moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC))
    return moments.map(lambda d: format_datetime(d.replace(microsecond=0), usegmt=True))


@functools.cache
def register_formats() -> None:
    """Teach Schemathesis the Batch string formats (idempotent; Schemathesis's registry is process-wide)."""
    for name in ("date-time-rfc1123", "date-time-rfc7231"):
        schemathesis.openapi.format(name, http_dates())


@functools.cache
def operation(api_version: str) -> APIOperation:
    """The reimage operation of our spec/ document for this api-version, formats registered."""
    register_formats()
    schema = schemathesis.openapi.from_path(swagger_path(api_version))
    return schema[OPERATION[0]][OPERATION[1]]


# --- conversion between Schemathesis and the suite's types -------------------------------------------------
def to_request(case: Case, base_url: str) -> Request:
    """The suite's Request for a Schemathesis case, exactly as Schemathesis would put it on the wire."""
    prepared = requests.Request(**{k: v for k, v in case.as_transport_kwargs(base_url=base_url).items()
                                   if k in ("method", "url", "headers", "params", "data", "json", "cookies")}
                                ).prepare()
    url = urlsplit(prepared.url or "")
    headers = tuple((k, str(v)) for k, v in prepared.headers.items() if k.lower() not in SCHEMATHESIS_HEADERS)
    raw = prepared.body
    body = raw.encode("utf-8") if isinstance(raw, str) else raw if isinstance(raw, bytes) or raw is None else b""
    segments = url.path.split("/")
    pool, node = (unquote(segments[2]), unquote(segments[4])) if len(segments) >= 6 else ("", "")
    return Request(pool, node, method=str(prepared.method), query=tuple(parse_qsl(url.query, keep_blank_values=True)),
                   headers=headers, body=body, path=url.path)


def to_st_response(request: Request, response: Response, base_url: str) -> StResponse:
    """A Schemathesis Response for what came back, bound to the request as really sent."""
    headers: dict[str, list[str]] = {}
    for name, value in response.headers:
        headers.setdefault(name.lower(), []).append(value)
    sent = requests.Request(request.method, base_url.rstrip("/") + request.path_and_query,
                            headers=dict(request.headers), data=request.body).prepare()
    return StResponse(status_code=response.status, headers=headers, content=response.body, request=sent,
                      elapsed=response.elapsed, verify=True)


# --- verdicts ---------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """One rule applied to one exchange: decided, and failed or not."""

    requirement: str
    check: str
    failure: RequirementFailure | None = None


def _st_failures(case: Case, response: StResponse, fn: Any) -> list[Failure]:
    try:
        case.validate_response(response, checks=[fn])
    except FailureGroup as group:
        return list(group.exceptions)
    return []


def _fail(rid: str, check: str, message: str, expected: str) -> Finding:
    return Finding(rid, check, RequirementFailure(rid, message, expected=expected))


def _summary(failures: list[Failure]) -> str:
    return "; ".join(f"{f.title}: {f.message}".replace("\n", " ") for f in failures)


def status_verdict(ex: Exchange) -> Finding:
    """SPEC-STATUS-CODE: the operation documents 202 and, as `default`, the BatchError of an error status."""
    status = ex.response.status
    if status == 202 or status >= 400:
        return Finding(STATUS_CODE, "status_code (ours)")
    return _fail(STATUS_CODE, "status_code (ours)", f"status {status} is not documented by the operation",
                 "202, or an error status (4xx/5xx) answered with the `default` BatchError")


def content_type_verdict(case: Case, ex: Exchange, response: StResponse) -> Iterator[Finding]:
    """content_type_conformance, except that a bodiless 2xx needs no media type (the 202 has no body)."""
    status = ex.response.status
    rid = errors.error_content_type.id if status >= 400 else CONTENT_TYPE
    if status < 400 and not ex.response.body:
        yield Finding(rid, "content_type_conformance")
        return
    failures = _st_failures(case, response, st_checks.content_type_conformance)
    yield (_fail(rid, "content_type_conformance", _summary(failures), "a media type the spec produces "
                 "(application/json)") if failures else Finding(rid, "content_type_conformance"))


def schema_verdict(case: Case, ex: Exchange, response: StResponse) -> Iterator[Finding]:
    """response_schema_conformance: an error answer is the `default` BatchError (the error-schema rule)."""
    if ex.response.status < 400:
        return
    failures = _st_failures(case, response, st_checks.response_schema_conformance)
    yield (_fail(errors.error_body_schema.id, "response_schema_conformance", _summary(failures), "a BatchError body")
           if failures else Finding(errors.error_body_schema.id, "response_schema_conformance"))


def _format_ok(fmt: str | None, value: str) -> bool:
    if fmt == "uuid":
        return is_guid(value)
    if fmt in ("date-time-rfc1123", "date-time-rfc7231"):
        return parse_http_date(value) is not None
    return True


def header_verdicts(ex: Exchange, op: APIOperation) -> Iterator[Finding]:
    """Declared response headers: x-required-headers present, x-ms-request-id present, declared formats met."""
    definition = op.definition.raw
    status = ex.response.status
    declared: dict[str, Any] = definition.get("responses", {}).get(str(status), {}).get("headers", {})
    required = {h.lower() for h in definition.get("responses", {}).get(str(status), {}).get("x-required-headers", [])}
    if "x-ms-request-id" in definition:
        required.add(str(definition["x-ms-request-id"]).lower())
    formats = {name.lower(): spec.get("format") for name, spec in declared.items()}
    formats.setdefault("request-id", "uuid")  # x-ms-request-id names a GUID header on every answer
    for name in sorted(required | {n for n in formats if ex.response.header(n) is not None}):
        rid = HEADER_IDS.get(name, (RESPONSE_HEADERS,) * 2)[0 if status < 400 else 1]
        value = ex.response.header(name)
        check = "response_headers (ours)"
        if value is None:
            yield _fail(rid, check, f"required header {name} missing from the {status} answer", f"header {name}")
        elif not _format_ok(formats.get(name), value):
            yield _fail(rid, check, f"header {name}: {value!r} is not a {formats.get(name)}",
                        f"{name} in format {formats.get(name)}")
        else:
            yield Finding(rid, check)


def server_error_verdict(case: Case, ex: Exchange, response: StResponse) -> Iterator[Finding]:
    """not_a_server_error, with the catalogue's exception: a transient answer (503 ServerBusy, 500
    OperationTimedOut, 429) decides nothing."""
    if is_transient(ex.response):
        return
    failures = _st_failures(case, response, not_a_server_error)
    if failures:
        yield _fail(errors.no_server_error.id, "not_a_server_error", _summary(failures), "no 5xx")
    else:
        yield Finding(errors.no_server_error.id, "not_a_server_error")


def data_verdicts(case: Case, ex: Exchange, response: StResponse, *, negative: bool | None) -> Iterator[Finding]:
    """negative_data_rejection / positive_data_acceptance, a failure only where the oracle agrees."""
    allowed = ex.expectation.statuses
    if not allowed or ex.response.status >= 500:
        return  # no outcome predicted (not the reimage path), or the no-5xx rule's business
    faults = ", ".join(f"{f.requirement}: {f.description}" for f in ex.expectation.faults)
    if negative and ex.expectation.faults:
        fn = st_checks.negative_data_rejection
        failures = _st_failures(case, response, fn) if case.meta is not None else []
        explicit = case.meta is None and 200 <= ex.response.status < 300
        if (failures or explicit) and ex.response.status not in allowed:
            yield _fail(NEGATIVE_REJECTED, "negative_data_rejection",
                        f"invalid input accepted with {ex.response.status} ({faults})", ex.expectation.describe())
        else:
            yield Finding(NEGATIVE_REJECTED, "negative_data_rejection")
    elif negative is False and not ex.expectation.faults:
        # the oracle finds nothing wrong: the acceptance rule (an answer only an open point explains is undecided)
        failures = _st_failures(case, response, st_checks.positive_data_acceptance) if case.meta else []
        refused = bool(failures) or (case.meta is None and ex.response.status != 202)
        if refused and ex.response.status not in allowed:
            yield _fail(semantics.accept.id, "positive_data_acceptance",
                        f"valid input refused with {ex.response.status}", ex.expectation.describe())
        elif ex.response.status == 202:
            yield Finding(semantics.accept.id, "positive_data_acceptance")


def judge(case: Case, ex: Exchange, op: APIOperation, *, negative: bool | None) -> list[Finding]:
    """Every rule of the layer applied to one exchange."""
    response = to_st_response(ex.request, ex.response, ex.base_url)
    return [*server_error_verdict(case, ex, response), status_verdict(ex), *content_type_verdict(case, ex, response),
            *schema_verdict(case, ex, response), *header_verdicts(ex, op),
            *data_verdicts(case, ex, response, negative=negative)]


def own_verdicts(ex: Exchange, op: APIOperation) -> list[Finding]:
    """The layer's own rules (SPEC-*) that need no Schemathesis case, for an exchange the run made itself (the
    reimage plan's accepted requests, which a finite --max-reimages leaves the layer no budget to repeat)."""
    found = [status_verdict(ex), *header_verdicts(ex, op)]
    if 200 <= ex.response.status < 300 and not ex.response.body:
        found.append(Finding(CONTENT_TYPE, "content_type_conformance"))  # a bodiless 2xx needs no media type
    return [f for f in found if f.requirement in SPEC_IDS]


# --- running the layer ------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the layer decided for one requirement: passing examples, failures, the first failure."""

    examples: int = 0
    failures: int = 0
    first: tuple[Exchange, RequirementFailure, str] | None = None


@dataclass
class LayerResult:
    """The layer's own verdicts per requirement ID, before they are merged into the run."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    sent: int = 0
    withheld: list[str] = field(default_factory=list)
    duration: float = 0.0
    stopped: str = ""  # why the run stopped sending before the layer was through

    def add(self, ex: Exchange, findings: list[Finding]) -> None:
        """Count each finding under its requirement."""
        for finding in findings:
            tally = self.tallies.setdefault(finding.requirement, Tally())
            if finding.failure is None:
                tally.examples += 1
                continue
            tally.failures += 1
            if tally.first is None:
                tally.first = (ex, finding.failure, finding.check)


def selected(settings: Settings) -> bool:
    """Whether this run includes the layer: switched on, and (under --only) one of its IDs chosen."""
    return settings.schemathesis and (not settings.only or any(r in LAYER_IDS for r in settings.only))


def _path_positive(case: Case) -> bool:
    meta = case.meta
    if meta is None:
        return True
    component = meta.components.get(ParameterLocation.PATH)
    return component is None or component.mode.is_positive


def acceptable_targets(session: Session) -> list[tuple[str, str]]:
    """Pools and nodes of the inventory where the oracle expects a plain 202 for a valid request, among the
    first MAX_CANDIDATES nodes of each pool (the layer sends a few hundred cases, and asking the oracle about
    every node of a 100,000-node inventory cost seconds); a node this run reimaged is read again first (Get
    Node; one still reimaging is waited for), so that the state it has now counts."""
    version = session.settings.api_version
    found = []
    for pool in session.inventory.pools:
        for node in pool.nodes[:MAX_CANDIDATES]:
            request = Request(pool.id, node.id, query=(("api-version", version),))
            if session.oracle.expect(request).uncertain:
                if not session.nodes.free((pool.id, node.id)):  # still reimaging: wait until it reads idle again
                    session.nodes.choose((pool.id, node.id), [], session.node_state)
                session.node_state(pool.id, node.id)
            if _plain_accept(session.oracle.expect(request)):
                found.append((pool.id, node.id))
    return found


def _plain_accept(expectation: Expectation) -> bool:
    return not expectation.faults and expectation.statuses == {202} and not expectation.uncertain


def targets(session: Session, good: list[tuple[str, str]] | None = None
            ) -> st.SearchStrategy[tuple[str, str | None] | None]:
    """Where a case goes: as generated, an acceptable node, any inventory node, or a known pool's unknown node."""
    good = acceptable_targets(session) if good is None else good
    pairs = [(p.id, n.id) for p in session.inventory.pools for n in p.nodes]
    pools = [p.id for p in session.inventory.pools]
    options: list[st.SearchStrategy[tuple[str, str | None] | None]] = [st.none()]
    if good:
        options += [st.sampled_from(good)] * 2  # valid inputs must reach the 202 path often enough to judge it
    if pairs:
        options.append(st.sampled_from(pairs))
    if pools:
        options.append(st.tuples(st.sampled_from(pools), st.none()))
    return st.one_of(options)


def explicit_cases(op: APIOperation, session: Session,
                   good: list[tuple[str, str]] | None = None) -> list[tuple[Case, bool]]:
    """A valid bodiless request (the 202 path, asking for the client-request-id echo, so that the 202 carries
    an optional declared header too) and the same without api-version (must be refused)."""
    good = acceptable_targets(session) if good is None else good
    if not good:
        return []
    params = {"poolId": good[0][0], "nodeId": good[0][1]}
    headers = {"ocp-date": format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True),
               "client-request-id": "6a3f1c0e-5b7d-4e2a-9c8b-1d2e3f405162", "return-client-request-id": "true"}
    return [(op.Case(path_parameters=params, query={"api-version": session.settings.api_version},
                     headers=dict(headers)), False),
            (op.Case(path_parameters=params, query={}, headers=dict(headers)), True)]


def _sender(session: Session, op: APIOperation, layer: LayerResult) -> Callable[[Case, bool], None]:
    broken: list[HarnessError] = []  # once the network broke, shrinking sends nothing more

    def send(case: Case, negative: bool) -> None:
        if broken:
            raise broken[0]
        request = to_request(case, session.target.base_url)
        try:
            ex = session.exchange(request)
        except (Withheld, NotExpressible) as why:
            layer.withheld.append(str(why))
            return
        except HarnessError as err:
            broken.append(err)
            raise
        layer.sent += 1
        layer.add(ex, judge(case, ex, op, negative=negative))
    return send


def _property(op: APIOperation, mode: GenerationMode, where: st.SearchStrategy[tuple[str, str | None] | None],
              settings: Settings, send: Callable[[Case, bool], None]) -> Callable[[], None]:
    """A Hypothesis property that sends each case (on an inventory node when its path is not the mutated part)."""
    @hsettings(max_examples=PROFILE_EXAMPLES[settings.profile], deadline=None, database=None,
               suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate), print_blob=False)
    @hypothesis_seed(settings.seed)
    @given(op.as_strategy(generation_mode=mode), where)
    def prop(case: Case, target: tuple[str, str | None] | None) -> None:
        if target is not None and _path_positive(case):
            pool, node = target
            case.path_parameters = {**case.path_parameters, "poolId": pool, **({"nodeId": node} if node else {})}
        send(case, mode.is_negative)
    return prop


def run_layer(session: Session) -> LayerResult:
    """Generate, send and judge: explicit cases, then positive and negative Schemathesis cases."""
    started = time.monotonic()
    layer = LayerResult()
    op = operation(session.settings.api_version)
    send = _sender(session, op, layer)
    try:
        good = acceptable_targets(session)
        for case, negative in explicit_cases(op, session, good):
            send(case, negative)
        where = targets(session, good)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _property(op, mode, where, session.settings, send)()
    except HarnessError:
        if not session.stopped:
            raise
        layer.stopped = session.stopped  # what was judged before the stop stands; the rest is undecided
    layer.duration = time.monotonic() - started
    return layer


def merge(run: RunResult, layer: LayerResult, settings: Settings) -> None:
    """Put the layer's verdicts into the run: its own IDs, and the routed IDs next to the engine's."""
    own = [rid for rid in SPEC_IDS if rid in run.requirements]
    for rid in own:
        run.requirements[rid].duration += layer.duration / max(len(own), 1)
    for rid, tally in layer.tallies.items():
        result = run.requirements.get(rid)
        if result is None:
            continue
        result.met(tally.examples)
        result.broke(tally.failures)
        if tally.first is not None:
            ex, failure, check = tally.first
            found_by = {"found_by": f"spec-driven layer (Schemathesis, {check})"}
            result.fail(describe_failure(ex, failure, settings) | found_by)
        else:
            result.settle(result.reason)
    withheld = sorted(set(layer.withheld))[0] if layer.withheld else ""
    why = f"; withheld: {withheld}" if withheld else ""
    why += f"; the run stopped sending ({layer.stopped})" if layer.stopped else ""
    for rid in own:  # settled: the reimage plan's exchanges may have decided them without the layer
        run.requirements[rid].settle(f"no Schemathesis-generated exchange could decide it{why}",
                                     remedy=remedy_for(withheld) or "a larger --profile")


def fail_layer(run: RunResult, why: str) -> None:
    """The layer broke before deciding: its own IDs are errors (never a silent pass), the reason recorded."""
    for rid in SPEC_IDS:
        if rid in run.requirements:
            run.requirements[rid].error(why)
    run.harness_errors.append(f"spec-driven layer: {why}")
