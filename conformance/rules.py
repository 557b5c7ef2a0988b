"""Request-reading rules the oracle, the checks and the signers share: paths, IDs, GUIDs, dates, codes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import unquote

from conformance.models import Outcome, Request

REIMAGE_PATH = re.compile(r"^/pools/(?P<pool>[^/]*)/nodes/(?P<node>[^/]*)/reimage/?$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
VERSION_SHAPE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(\.\d+\.\d+)?(-preview)?$")
OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
OPTION_KEY = "nodeReimageOption"
ACCEPTING_STATES = ("idle", "running")
CANONICAL_CONTENT_TYPE = "application/json;odata=minimalmetadata"
INT32 = (-(2**31), 2**31 - 1)
TIMEOUT_MAX = 30
CLOCK_SKEW_SECONDS = 15 * 60  # Shared Key rejects an ocp-date this far from the service clock

# Auth intent travels with a generated request in this header; the target's signer reads and strips it
# ("omit": send no Authorization; "bad-signature": sign, then corrupt the signature).
AUTH_DIRECTIVE_HEADER = "x-batch-conformance-auth"
AUTH_OMIT, AUTH_BAD_SIGNATURE = "omit", "bad-signature"
# Signatures that can never verify (base64 of fixed text), recognisable in requests sent as they are.
BAD_SIGNATURES = ("Y29uZm9ybWFuY2UtYmFkLXNpZ25hdHVyZQ==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")

STATE_CODES = frozenset({"NodeBeingReimaged", "NodeBeingRebooted", "NodeBeingCreated", "NodeBeingStarted",
                         "NodeStateUnusable", "OperationInvalidForCurrentState", "OperationNotValidOnNode"})
BODY_CODES = frozenset({"InvalidRequestBody"})
OPTION_CODES = frozenset({"InvalidPropertyValue", "InvalidRequestBody"})
HEADER_CODES = frozenset({"InvalidHeaderValue"})
QUERY_CODES = frozenset({"InvalidQueryParameterValue", "OutOfRangeQueryParameterValue"})
VERSION_CODES = frozenset({"UnsupportedRequestVersion", "InvalidQueryParameterValue"})
MISSING_VERSION_CODES = frozenset({"MissingRequiredQueryParameter"})


def _o(status: int, *codes: str) -> Outcome:
    return Outcome(status, frozenset(codes))


POOL_NOT_FOUND = _o(404, "PoolNotFound")
NODE_NOT_FOUND = _o(404, "NodeNotFound")
NODE_STATE = Outcome(409, STATE_CODES)
POOL_CONFIG = _o(409, "OperationNotValidOnNode")
# The ways a request with no (or a bad) Authorization is refused.
AUTH_MISSING = frozenset({_o(400, "MissingRequiredHeader"), _o(401)})
AUTH_FAILED = frozenset({_o(403, "AuthenticationFailed")})
ACCEPTED = _o(202)


def reimage_target(request: Request) -> tuple[str, str] | None:
    """(pool ID, node ID) addressed by a reimage-path request, decoded; None for any other path."""
    if request.path is None:
        return request.pool_id, request.node_id
    match = REIMAGE_PATH.match(request.path.split("?", 1)[0])
    if match is None:
        return None
    return unquote(match["pool"]), unquote(match["node"])


def auth_directive(request: Request) -> str | None:
    """The auth intent a generated request carries for the signer (AUTH_OMIT / AUTH_BAD_SIGNATURE)."""
    return request.header(AUTH_DIRECTIVE_HEADER)


def strip_auth_directive(request: Request) -> Request:
    """The request without the auth directive header, as it should go on the wire."""
    low = AUTH_DIRECTIVE_HEADER.lower()
    return replace(request, headers=tuple((k, v) for k, v in request.headers if k.lower() != low))


def is_guid(value: str) -> bool:
    """True for 8-4-4-4-12 hex (either case), no braces."""
    return GUID.match(value) is not None


def valid_id(value: str, *, limit: int | None = None) -> bool:
    """ID syntax: letters, digits, hyphens, underscores, at most `limit` characters (when given)."""
    return ID_PATTERN.match(value) is not None and (limit is None or len(value) <= limit)


def parse_http_date(value: str) -> datetime | None:
    """An RFC 1123 / RFC 7231 IMF-fixdate ('Tue, 03 Feb 2026 18:19:59 GMT'), or None."""
    match = re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (\w{3}) (\d{4}) (\d{2}:\d{2}:\d{2}) "
                     r"(GMT|UTC|UT|[+-]0000)$", value.strip())
    if match is None:
        return None
    try:
        parsed = datetime.strptime(f"{match[2]} {match[3]} {match[4]} {match[5]}", "%d %b %Y %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


def _loose_date(value: str) -> bool:
    """Other date shapes a lenient server may read (RFC 850, asctime, ISO 8601): not clearly garbage."""
    from email.utils import parsedate_to_datetime

    try:
        parsedate_to_datetime(value)
        return True
    except (TypeError, ValueError, IndexError):
        pass
    try:
        datetime.fromisoformat(value.strip())
        return True
    except ValueError:
        return False
