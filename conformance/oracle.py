"""The oracle: (inventory, request) -> the set of acceptable outcomes, built from the facts, not an emulator.

Where the facts leave a choice open (which check comes first, which 409 code, 0 or negative timeout, a
null option, an unknown body property, a Content-Type variant), every documented choice is accepted: a
false failure against the live service is as bad as a missed fault. Per-version behaviour is read from
spec/versions.json; nothing here branches on a version string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from conformance.checks import auth as auth_rules
from conformance.checks import semantics as sem
from conformance.inventory import Inventory, Node
from conformance.models import Answer, Expectation, Fault, Outcome, Request, Response, Settled
from conformance.rules import (
    ACCEPTED,
    ACCEPTING_STATES,
    AUTH_BAD_SIGNATURE,
    AUTH_FAILED,
    AUTH_MISSING,
    AUTH_OMIT,
    BAD_SIGNATURES,
    BODY_CODES,
    CANONICAL_CONTENT_TYPE,
    CLOCK_SKEW_SECONDS,
    HEADER_CODES,
    INT32,
    MISSING_VERSION_CODES,
    NODE_NOT_FOUND,
    NODE_STATE,
    OPTION_CODES,
    OPTION_KEY,
    OPTIONS,
    POOL_CONFIG,
    POOL_NOT_FOUND,
    QUERY_CODES,
    TIMEOUT_MAX,
    VERSION_CODES,
    VERSION_SHAPE,
    _loose_date,
    _o,
    auth_directive,
    is_guid,
    parse_http_date,
    reimage_target,
    valid_id,
)
from conformance.spec import ApiVersion, limits, version, versions


@dataclass
class _Verdict:
    """Accumulates what one request contains while it is being read."""

    faults: list[Fault] = field(default_factory=list)
    maybe: set[Outcome] = field(default_factory=set)  # open points: may be refused with these
    open_points: list[Fault] = field(default_factory=list)
    requirements: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    acceptance: set[Outcome] = field(default_factory=lambda: {ACCEPTED})
    uncertain: bool = False

    def fault(self, requirement: str, description: str, *outcomes: Outcome, key: str = "") -> None:
        self.faults.append(Fault(requirement, description, frozenset(outcomes), key))
        self.requirements.add(requirement)

    def open(self, requirement: str | None, note: str, *outcomes: Outcome, key: str = "") -> None:
        self.maybe.update(outcomes)
        self.open_points.append(Fault(requirement or "", note, frozenset(outcomes), key))
        self.notes.append(note)
        if requirement:
            self.requirements.add(requirement)


class Oracle:
    """Computes, for each request and the target's inventory, the set of acceptable outcomes."""

    def __init__(self, inventory: Inventory | None, api_version: str, *,
                 served_versions: frozenset[str] | None = None, auth_enforced: bool | None = None) -> None:
        self.inventory = inventory
        self.api_version = api_version
        self.data = version(api_version)
        self.served_versions = served_versions
        self.auth_enforced = auth_enforced
        self.auth_evidence = ""  # what showed the target does not authenticate, when its answers did
        self._reimaged: set[tuple[str, str]] = set()
        self._answers: dict[str, Settled] = {}  # how the target answered each settleable class of input
        self._states: dict[tuple[str, str], str] = {}

    # --- state the run itself changes ------------------------------------------------------------
    def _key(self, pool_id: str, node_id: str) -> tuple[str, str]:
        pool = self.inventory.pool(pool_id) if self.inventory else None
        return ((pool.id if pool else pool_id).lower(), node_id)

    def observe(self, request: Request, response: Response) -> None:
        """Learn from an exchange: a 202 on a node leaves its state unknown until note_state(); an unsigned
        request answered 2xx shows the target does not authenticate; the answer to a request whose only open
        point (or only fault) is a settleable class of input settles that class for the rest of the run."""
        self._settle(request, response)
        target = reimage_target(request)
        if target is not None and request.method.upper() == "POST" and response.status == 202:
            self._reimaged.add(self._key(*target))
        if self.auth_enforced is None and 200 <= response.status < 300 and _unsigned(request):
            self.auth_enforced = False
            self.auth_evidence = (f"the target serves unsigned requests ({request.method} {request.target_path} "
                                  f"without Authorization answered {response.status}): it does not authenticate")

    def _settle(self, request: Request, response: Response) -> None:
        if response.status >= 500 or response.status == 429 or reimage_target(request) is None:
            return
        sole = self.expect(request).sole_key
        if sole and sole not in self._answers:
            answer = Answer(response.status, _error_code(response) if response.status >= 300 else None)
            first = f"{request.method} {request.path_and_query} answered {answer.describe()}"
            self._answers[sole] = Settled(sole, answer, first)

    def note_state(self, pool_id: str, node_id: str, state: str) -> None:
        """Record a node state read from the target (e.g. Get Node): it replaces the inventory's."""
        key = self._key(pool_id, node_id)
        self._reimaged.discard(key)
        self._states[key] = state

    # --- the expectation --------------------------------------------------------------------------
    def expect(self, request: Request) -> Expectation:
        """The acceptable outcomes for a request, the faults it contains and the requirements it exercises."""
        target = reimage_target(request)
        if target is None:
            return Expectation(frozenset(), notes=(f"{request.target_path} is not the reimage path: "
                                                   "no outcome predicted",))
        v = _Verdict()
        if request.method.upper() != "POST":
            v.fault(sem.other_method.id, f"{request.method} is not a method of the reimage path",
                    _o(405, "UnsupportedHttpVerb"), _o(400, "InvalidHttpVerb"))
        data = self._read_version(request, v)
        self._read_auth(request, v)
        self._read_headers(request, data, v)
        self._read_query(request, data, v)
        body_empty = self._read_body(request, data, v)
        self._read_resources(target, data, v)
        if not v.faults and body_empty:
            v.requirements.add(sem.no_body.id)
        return self._assemble(v)

    def _assemble(self, v: _Verdict) -> Expectation:
        if v.faults:
            outcomes = {o for f in v.faults for o in f.outcomes} | v.maybe
            # A resource check may come first: its answers stay valid alongside the request's faults.
            outcomes |= {o for o in v.acceptance if o.status != 202}
        else:
            # Open points keep the request "valid" for the acceptance rule: the check counts an answer that only
            # another requirement's open point explains as undecided, not as a pass.
            outcomes = v.acceptance | v.maybe
            v.requirements.add(sem.accept.id)
        if v.faults:
            outcomes = {o for o in outcomes if o.status != 202}
        points = v.faults + v.open_points
        sole = points[0].key if len(points) == 1 and not v.uncertain else ""
        return Expectation(frozenset(outcomes), tuple(v.faults), frozenset(v.requirements), v.uncertain,
                           tuple(v.notes), tuple(v.open_points), sole, self._answers.get(sole) if sole else None)

    def _read_version(self, request: Request, v: _Verdict) -> ApiVersion:
        value = request.query_value("api-version")
        if value is None:
            loose = next((val for k, val in request.query if k.lower() == "api-version"), None)
            if loose is None:
                v.fault(sem.api_version_missing.id, "no api-version query parameter", _o(400, *MISSING_VERSION_CODES))
                return self.data
            spelled = next(k for k, _ in request.query if k.lower() == "api-version")
            v.open(None, "api-version spelled in another case: the service may not read it",
                   _o(400, *MISSING_VERSION_CODES), key=f"query-name:{spelled}")
            value = loose
        known = versions()
        if not value:
            v.fault(sem.api_version_unknown.id, "api-version is empty",
                    _o(400, *VERSION_CODES, *MISSING_VERSION_CODES))
            return self.data
        if self.served_versions is not None:
            if value not in self.served_versions:
                v.fault(sem.api_version_unknown.id, f"api-version {value!r} is not served by the target",
                        _o(400, *VERSION_CODES))
            return known.get(value, self.data)
        if value == self.api_version:
            return self.data
        if not _plausible_version(value):
            v.fault(sem.api_version_unknown.id, f"api-version {value!r} is not an api-version",
                    _o(400, *VERSION_CODES))
            return self.data
        # Served versions unknown: a real-looking version may or may not be served.
        v.open(None, f"api-version {value!r} may not be served by the target", _o(400, *VERSION_CODES),
               key=f"api-version:{value}")
        return known.get(value, self.data)

    def _read_auth(self, request: Request, v: _Verdict) -> None:
        if self.auth_enforced is False:
            return
        directive = auth_directive(request)
        authorization = request.header("Authorization")
        if directive == AUTH_OMIT or (authorization is not None and not authorization.strip()):
            self._auth(v, auth_rules.auth_missing.id, "no Authorization header", AUTH_MISSING)
        elif directive == AUTH_BAD_SIGNATURE or (
                authorization is not None and any(s in authorization for s in BAD_SIGNATURES)):
            self._auth(v, auth_rules.auth_bad_signature.id, "a Shared Key signature that does not verify", AUTH_FAILED)
        elif authorization is None and self.auth_enforced is None:
            # The request goes unsigned (no signer) or was recorded without it: a target may refuse it.
            v.open(None, "no Authorization and auth enforcement unknown: 400/401 possible", *AUTH_MISSING)

    def _auth(self, v: _Verdict, requirement: str, why: str, outcomes: frozenset[Outcome]) -> None:
        if self.auth_enforced:
            v.fault(requirement, why, *outcomes)
        else:
            v.open(None, f"{why}; auth enforcement unknown", *outcomes)

    def _read_headers(self, request: Request, data: ApiVersion, v: _Verdict) -> None:
        crid = request.header("client-request-id")
        if crid is not None and data.client_request_id_format == "uuid" and not is_guid(crid):
            if crid.strip().strip("{}") and is_guid(crid.strip().strip("{}")):
                v.open(sem.bad_header.id, "client-request-id is a GUID in braces or padded: may be read",
                       _o(400, *HEADER_CODES), key=f"client-request-id:{crid}")
            else:
                v.fault(sem.bad_header.id, f"client-request-id {crid!r} is not a GUID", _o(400, *HEADER_CODES))
        ret = request.header("return-client-request-id")
        if ret is not None and ret not in ("true", "false"):
            if ret.strip().lower() in ("true", "false"):
                v.open(sem.bad_header.id, f"return-client-request-id {ret!r}: a boolean in another case",
                       _o(400, *HEADER_CODES), key=f"return-client-request-id:{ret}")
            else:
                v.fault(sem.bad_header.id, f"return-client-request-id {ret!r} is not a boolean",
                        _o(400, *HEADER_CODES))
        self._read_date(request, v)
        self._read_content_type(request, v)

    def _read_date(self, request: Request, v: _Verdict) -> None:
        date = request.header("ocp-date")
        if date is None:
            return
        parsed = parse_http_date(date)
        if parsed is None:
            if _loose_date(date):
                v.open(sem.bad_header.id, f"ocp-date {date!r} is a date, not RFC 1123", _o(400, *HEADER_CODES),
                       key=f"ocp-date:{date}")
            else:
                v.fault(sem.bad_header.id, f"ocp-date {date!r} is not an RFC 1123 date", _o(400, *HEADER_CODES))
        elif self.auth_enforced is not False:
            skew = abs((datetime.now(UTC) - parsed).total_seconds())
            if skew > CLOCK_SKEW_SECONDS:
                v.open(None, "ocp-date far from now: a Shared Key service may refuse it", *AUTH_FAILED)

    def _read_content_type(self, request: Request, v: _Verdict) -> None:
        ctype = request.header("Content-Type")
        has_body = bool(request.body)
        if ctype is None:
            if has_body:  # facts are silent: a server may read it as JSON or refuse it
                v.open(None, "a body without Content-Type", _o(400, *HEADER_CODES), _o(415), key="content-type:")
            return
        if re.sub(r"\s+", "", ctype.lower()) != CANONICAL_CONTENT_TYPE:
            # The live service once refused a charset parameter (InvalidHeaderValue): variants are open.
            v.open(None, f"Content-Type {ctype!r} is not the documented one", _o(400, *HEADER_CODES), _o(415),
                   key=f"content-type:{ctype}")

    def _read_query(self, request: Request, data: ApiVersion, v: _Verdict) -> None:
        name = data.timeout_param
        known = {"api-version", name.lower()}
        for key, _ in request.query:
            if key.lower() not in known:
                v.open(None, f"query parameter {key!r} is not defined", _o(400, "UnsupportedQueryParameter"),
                       key=f"query-name:{key}")
        raw = request.query_value(name)
        if raw is None:
            raw = next((val for k, val in request.query if k.lower() == name.lower()), None)
            if raw is None:
                return
            v.open(None, f"timeout spelled in another case than {name!r}", _o(400, *QUERY_CODES),
                   key=f"query-name:{next(k for k, _ in request.query if k.lower() == name.lower())}")
        self._read_timeout(raw, data, v)

    def _read_timeout(self, raw: str, data: ApiVersion, v: _Verdict) -> None:
        bad = _o(400, *QUERY_CODES)
        if not re.fullmatch(r"-?\d+", raw):
            if re.fullmatch(r"\s*[+-]?\d+\s*", raw) or not raw:
                v.open(sem.timeout_invalid.id, f"timeout {raw!r}: an integer a lenient parser may read", bad,
                       key=f"timeout:{raw}")
            else:
                v.fault(sem.timeout_invalid.id, f"timeout {raw!r} is not an integer", bad)
            return
        value = int(raw)
        if not INT32[0] <= value <= INT32[1]:
            v.fault(sem.timeout_invalid.id, f"timeout {raw} is outside int32", bad)
        elif value <= 0:
            v.open(sem.timeout_invalid.id, f"timeout {value}: 0 or negative is not known (no minimum)", bad,
                   key=f"timeout:{raw}")
        elif value <= TIMEOUT_MAX or data.timeout_above_max == "must-accept":
            v.requirements.add(sem.timeout_valid.id)
        else:
            v.open(sem.timeout_valid.id, f"timeout {value} above 30: SHOULD be accepted in this version", bad,
                   key=f"timeout:{raw}")

    def _read_body(self, request: Request, data: ApiVersion, v: _Verdict) -> bool:
        """Read the body; True when it means 'no option' (absent, empty, {})."""
        body = request.body
        if not body:
            return True
        if not body.strip():  # whitespace only: a server may read it as no body or as broken JSON
            v.open(sem.bad_body.id, "a body of whitespace only", _o(400, *BODY_CODES), key="body:whitespace")
            return False
        max_bytes = limits()[0]
        if len(body) > max_bytes:
            v.fault(sem.body_too_large.id, f"a body of {len(body)} bytes (limit {max_bytes})",
                    _o(413, "RequestBodyTooLarge"), _o(400, "RequestBodyTooLarge", "RequestEntityTooLarge",
                                                         "InvalidRequestBody"))
            return False
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            v.fault(sem.bad_body.id, "the body is not JSON", _o(400, *BODY_CODES))
            return False
        if doc is None:  # JSON null: a model binder may read it as an absent body
            v.open(sem.bad_body.id, "the body is JSON null", _o(400, *BODY_CODES), key="body:null")
            return False
        if not isinstance(doc, dict):
            v.fault(sem.bad_body.id, f"the body is JSON {type(doc).__name__}, not an object", _o(400, *BODY_CODES))
            return False
        for key in doc:
            if key != OPTION_KEY:
                v.open(sem.unknown_property.id, f"body property {key!r} is not defined",
                       _o(400, "UnsupportedProperty", "InvalidRequestBody", "InvalidPropertyValue"),
                       key=f"property:{key}={json.dumps(doc[key], sort_keys=True)}")
        if OPTION_KEY in doc:
            self._read_option(doc[OPTION_KEY], data, v)
        return not doc

    def _read_option(self, option: object, data: ApiVersion, v: _Verdict) -> None:
        bad = _o(400, *OPTION_CODES)
        if option is None:
            v.open(sem.bad_option.id, "nodeReimageOption null: 202 as if absent, or 400", bad, key="option:null")
        elif isinstance(option, str) and option in OPTIONS:
            return
        elif isinstance(option, str) and option.lower() in OPTIONS:
            # .NET enum parsing is commonly case-insensitive; nothing recorded shows what the service does
            v.open(sem.bad_option.id, f"nodeReimageOption {option!r}: one of the four values in another letter case",
                   bad, key=f"option:{option}")
        elif isinstance(option, str) and data.option_enum_open:
            v.open(sem.bad_option.id, f"nodeReimageOption {option!r} outside the four values of an open enum", bad,
                   key=f"option:{option}")
        else:
            v.fault(sem.bad_option.id, f"nodeReimageOption {json.dumps(option)} is not one of {', '.join(OPTIONS)}",
                    bad)

    def _read_resources(self, target: tuple[str, str], data: ApiVersion, v: _Verdict) -> None:
        pool_id, node_id = target
        for kind, value, miss, home in (("pool", pool_id, POOL_NOT_FOUND, sem.pool_not_found),
                                        ("node", node_id, NODE_NOT_FOUND, sem.node_not_found)):
            if value in ("", ".", ".."):  # the path no longer names this resource: any 4xx routing answer
                v.fault(home.id, f"an empty {kind} ID segment",
                        miss, _o(404), _o(400), _o(405))
                return
            # The 64-character limit binds IDs users choose (pools); the service's own node IDs are longer
            # (live: 'tvmps_<64 hex>_d', 72 characters), so only a node ID's characters are judged.
            if not valid_id(value, limit=limits()[1] if kind == "pool" else None):
                v.fault(home.id, f"{kind} ID {value!r} is not a valid ID",
                        Outcome(404, miss.codes | {"ResourceNotFound"}), _o(400))
        if any(f.requirement in (sem.pool_not_found.id, sem.node_not_found.id) for f in v.faults):
            return
        if self.inventory is None:
            v.uncertain = True
            v.notes.append("no inventory: the pool or node may not exist, or be busy")
            v.acceptance |= {POOL_NOT_FOUND, NODE_NOT_FOUND, NODE_STATE, POOL_CONFIG}
            return
        pool = self.inventory.pool(pool_id)
        if pool is None:
            v.fault(sem.pool_not_found.id, f"no pool {pool_id!r} in the inventory", POOL_NOT_FOUND)
            return
        if pool.id != pool_id:
            v.requirements.add(sem.pool_id_case.id)
            v.notes.append(f"pool ID {pool_id!r} addresses pool {pool.id!r} (IDs are case-insensitive)")
        if pool.configuration == "virtualMachineConfiguration":
            if data.vm_pool_allowed:
                v.requirements.add(sem.pool_config.id)
            else:
                v.fault(sem.pool_config.id, f"pool {pool.id!r} uses virtualMachineConfiguration, refused at "
                        f"api-version {data.id}", POOL_CONFIG)
        node = pool.node(node_id)
        if node is None:
            self._unknown_node(pool.nodes, pool.id, node_id, v)
            return
        self._read_state(pool.id, node, v)

    def _unknown_node(self, nodes: tuple[Node, ...], pool_id: str, node_id: str, v: _Verdict) -> None:
        twin = next((n for n in nodes if n.id.lower() == node_id.lower()), None)
        if twin is None:
            v.fault(sem.node_not_found.id, f"no node {node_id!r} in pool {pool_id!r}", NODE_NOT_FOUND)
            return
        # Node ID case sensitivity is not documented: it may address the node or no node.
        v.open(None, f"node ID {node_id!r} differs from {twin.id!r} only by case", NODE_NOT_FOUND,
               key=f"node-id:{pool_id}/{node_id}")
        self._read_state(pool_id, twin, v)

    def _read_state(self, pool_id: str, node: Node, v: _Verdict) -> None:
        key = (pool_id.lower(), node.id)
        if key in self._reimaged:
            v.uncertain = True
            v.notes.append(f"node {node.id!r} was reimaged by this run: 202 or 409 until it is read again")
            v.acceptance.add(NODE_STATE)
            return
        state = self._states.get(key, node.state)
        if state not in ACCEPTING_STATES:
            v.fault(sem.node_state.id, f"node {node.id!r} is {state}, not idle or running", NODE_STATE,
                    key=f"node-state:{state}")


def _error_code(response: Response) -> str | None:
    """The code of a BatchError answer, or None."""
    try:
        doc = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    code = doc.get("code") if isinstance(doc, dict) else None
    return code if isinstance(code, str) else None


def _unsigned(request: Request) -> bool:
    """Whether the request went on the wire without Authorization (the signer adds one only when asked)."""
    return request.header("Authorization") is None and auth_directive(request) != AUTH_BAD_SIGNATURE


def _plausible_version(value: str) -> bool:
    """A real-looking api-version (a calendar date, optional .major.minor): one a target might serve."""
    match = VERSION_SHAPE.match(value)
    if match is None:
        return False
    try:
        datetime.strptime(match["date"], "%Y-%m-%d")
    except ValueError:
        return False
    return True
