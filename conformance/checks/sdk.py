"""Checks of the SDK-level requirements: what azure-batch made of the response that came over the wire.

They decide only exchanges made by the SDK target (an SdkResponse carrying an SdkCall); against any other
target they are not applicable, so the requirements are reported as skipped, never as passed.
"""

from __future__ import annotations

from conformance.checks._base import batch_error, check, fail, not_applicable
from conformance.models import Exchange
from conformance.strategies import VALID_REQUESTS
from conformance.targets.sdk import SDK_LABEL, SdkCall, SdkResponse


def _sdk_call(ex: Exchange) -> SdkCall:
    if not isinstance(ex.response, SdkResponse) or ex.response.sdk is None:
        raise not_applicable("only the SDK target (--target sdk+URL) records what the SDK did")
    return ex.response.sdk


def _did(call: SdkCall) -> str:
    if call.returned:
        return "the SDK returned normally"
    code = f" with .error.code {call.error_code!r}" if call.exception == "BatchErrorException" else ""
    detail = f" ({call.detail})" if call.detail else ""
    return f"the SDK raised {call.exception}{code}{detail}"


@check("SDK-ERROR-CODE", offline=False)
def sdk_error_code(ex: Exchange) -> None:
    """An error on the wire: the SDK raised BatchErrorException carrying the wire's code."""
    call = _sdk_call(ex)
    if ex.response.status < 300:
        raise not_applicable("not an error response")
    wire = batch_error(ex.response)
    wire_code = wire.get("code") if wire is not None else None
    expected = (f"{SDK_LABEL} raises BatchErrorException"
                + (f" with .error.code {wire_code!r}" if wire_code else ""))
    if call.exception != "BatchErrorException":
        raise fail("SDK-ERROR-CODE", ex, f"{_did(call)} on a {ex.response.status}", expected=expected)
    if wire_code and call.error_code != wire_code:
        raise fail("SDK-ERROR-CODE", ex, f"{_did(call)}, but the wire code is {wire_code!r}", expected=expected,
                   why="SDK users read the code from the exception, not the wire")


@check("SDK-ACCEPT-RETURNS", offline=False, focus=VALID_REQUESTS)
def sdk_accept_returns(ex: Exchange) -> None:
    """A 202 on the wire: the SDK's reimage returned normally."""
    call = _sdk_call(ex)
    if ex.response.status != 202:
        raise not_applicable("not a 202")
    if not call.returned:
        raise fail("SDK-ACCEPT-RETURNS", ex, f"{_did(call)} on a 202",
                   expected=f"{SDK_LABEL} returns normally from compute_node.reimage")
