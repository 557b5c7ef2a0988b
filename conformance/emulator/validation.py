"""The request checks of the emulator, in the order it applies them; each returns an error Reply or None."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from conformance import spec
from conformance.emulator.auth import authenticate
from conformance.emulator.state import OPTIONS, NodeState, PoolState
from conformance.emulator.wire import Reply, error_reply, is_guid, is_rfc1123, parse_int32

if TYPE_CHECKING:
    from conformance.emulator.app import Incoming, ReimageApp

MAX_TIMEOUT = 30
VM_REASON = "Operation reimage can be invoked only on pools created with cloudServiceConfiguration"
STATE_CODES = {"reimaging": "NodeBeingReimaged", "rebooting": "NodeBeingRebooted",
               "creating": "NodeBeingCreated", "starting": "NodeBeingStarted", "unusable": "NodeStateUnusable"}
REIMAGEABLE = ("idle", "running")


class Checker:
    """Runs the checks for one request against the app's configuration and fault."""

    def __init__(self, app: ReimageApp, req: Incoming) -> None:
        self.app, self.req = app, req
        self.lenient = app.lenient

    def _error(self, status: int, code: str, values: list[tuple[str, str]] | None = None) -> Reply:
        return error_reply(status, code, self.req.base_url, values=values)

    def auth(self) -> Reply | None:
        """400 MissingRequiredHeader without Authorization; 403 AuthenticationFailed when it fails."""
        config = self.app.auth
        if config is None:
            return None
        req = self.req
        path_and_query = req.raw_path + (f"?{req.query_string}" if req.query_string else "")
        failure = authenticate(config, req.method, path_and_query, req.pairs, req.headers.get("authorization"))
        if failure is None:
            return None
        if failure.missing:
            if "auth-missing" in self.lenient:
                return None
            return self._error(400, "MissingRequiredHeader", [("HeaderName", "Authorization")])
        if "auth-signature" in self.lenient:
            return None
        return self._error(403, "AuthenticationFailed", [("AuthenticationErrorDetail", failure.detail)])

    def version(self) -> spec.ApiVersion | Reply:
        """The served api-version, or 400 when it is missing or not served."""
        given = next((v for k, v in self.req.query if k == "api-version"), None)
        if given is None:
            if "api-version-missing" in self.lenient:
                return self.app.default_version
            return self._error(400, "MissingRequiredQueryParameter", [("QueryParameterName", "api-version")])
        served = self.app.versions.get(given)
        if served is not None:
            return served
        if "api-version-unknown" in self.lenient:
            return self.app.default_version
        return self._error(400, "UnsupportedRequestVersion",
                           [("QueryParameterName", "api-version"), ("QueryParameterValue", given)])

    def _bad_header(self, name: str, value: str) -> Reply:
        return self._error(400, "InvalidHeaderValue", [("HeaderName", name), ("HeaderValue", value)])

    def headers(self, version: spec.ApiVersion) -> Reply | None:
        """client-request-id, return-client-request-id, ocp-date and Content-Type values."""
        h = self.req.headers
        crid = h.get("client-request-id")
        if (crid is not None and version.client_request_id_format == "uuid" and not is_guid(crid)
                and "client-request-id" not in self.lenient):
            return self._bad_header("client-request-id", crid)
        ret = h.get("return-client-request-id")
        if ret is not None and ret.lower() not in ("true", "false"):
            return self._bad_header("return-client-request-id", ret)
        date = h.get("ocp-date")
        if date is not None:
            valid = is_rfc1123(date)
            if (not valid and "ocp-date" not in self.lenient) or (valid and "refuse-valid-ocp-date" in
                                                                   self.app.flags):
                return self._bad_header("ocp-date", date)
        ctype = h.get("content-type")
        if ctype is not None and self.req.body and ctype.split(";")[0].strip().lower() != "application/json":
            return self._bad_header("Content-Type", ctype)
        return None

    def timeout(self, version: spec.ApiVersion) -> Reply | None:
        """The timeout must be a positive int32; above 30 it falls back to 30."""
        name = version.timeout_param
        raw = next((v for k, v in self.req.query if k == name), None)
        if raw is None:
            return None
        number = parse_int32(raw)
        if number is None or number <= 0:
            if "timeout" in self.lenient:
                return None
            reason = "The value must be a positive 32-bit integer (seconds)."
        elif number > MAX_TIMEOUT and "timeout-max-30" in self.app.flags:
            reason = f"The value must not exceed {MAX_TIMEOUT}."
        else:
            return None
        return self._error(400, "InvalidQueryParameterValue",
                           [("QueryParameterName", name), ("QueryParameterValue", raw), ("Reason", reason)])

    def body(self) -> str | Reply:
        """The reimage option from the body (absent, empty, {} and null mean requeue), or a 400/413."""
        if self.req.too_large and "body-size" not in self.lenient:
            return self._error(413, "RequestBodyTooLarge", [("MaxLimit", str(self.app.max_body))])
        if not self.req.body:
            return "requeue"
        try:
            doc: Any = json.loads(self.req.body)
        except ValueError:  # includes UnicodeDecodeError
            return self._error(400, "InvalidRequestBody")
        if not isinstance(doc, dict):
            return self._error(400, "InvalidRequestBody")
        if not doc and "refuse-empty-object" in self.app.flags:
            return self._error(400, "InvalidRequestBody")
        if set(doc) - {"nodeReimageOption"} and "unknown-property-500" in self.app.flags:
            return self._error(500, "InternalError")
        option = doc.get("nodeReimageOption")
        if option is None and "nodeReimageOption" in doc and "flip-flop-null-option" in self.app.flags:
            self.app.null_options += 1
            if self.app.null_options % 2 == 0:
                return self._error(400, "InvalidPropertyValue", [("PropertyName", "nodeReimageOption")])
        if option is None:
            return "requeue"
        if isinstance(option, str) and option in OPTIONS:
            return option
        if "option" in self.lenient:
            return "requeue"
        shown = option if isinstance(option, str) else json.dumps(option)
        return self._error(400, "InvalidPropertyValue",
                           [("PropertyName", "nodeReimageOption"), ("PropertyValue", shown)])

    def pool_config(self, pool: PoolState, version: spec.ApiVersion) -> Reply | None:
        """409 OperationNotValidOnNode for a VM pool where the api-version allows only cloud-service pools."""
        allowed = version.vm_pool_allowed != ("invert-vm-rule" in self.app.flags)
        if pool.configuration == "virtualMachineConfiguration" and not allowed and "pool-config" not in \
                self.lenient:
            return self._error(409, "OperationNotValidOnNode", [("Reason", VM_REASON)])
        return None

    def node_state(self, node: NodeState, version: spec.ApiVersion) -> Reply | None:
        """409 with a state-specific code unless the node is idle or running."""
        state = self.req.stale_state or node.current(self.app.state.clock())
        if state in REIMAGEABLE or "node-state" in self.lenient:
            return None
        code = STATE_CODES.get(state, "OperationInvalidForCurrentState")
        shown = state if state in version.node_states else "unknown"
        return self._error(409, code, [("Reason", f"The node is in state {shown}.")])
