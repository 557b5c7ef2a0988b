"""Checks of the SDK-level requirements: what an azure-batch release made of the response that came over the wire.

They decide only exchanges made through an SDK target (an SdkResponse carrying an SdkCall), each against what its
own release documents (spec/sdks.json: 14.1.0 raises BatchErrorException, 15.x azure-core's HttpResponseError and
returns a poller); against any other target they are not applicable, so the requirements are reported as skipped,
never as passed.
"""

from __future__ import annotations

from conformance.checks._base import batch_error, check, fail, not_applicable
from conformance.models import Exchange
from conformance.spec import SdkRelease, default_sdk, sdk
from conformance.strategies import VALID_REQUESTS
from conformance.targets.sdk_call import SdkCall, SdkResponse


def _sdk_call(ex: Exchange) -> tuple[SdkCall, SdkRelease]:
    if not isinstance(ex.response, SdkResponse) or ex.response.sdk is None:
        raise not_applicable("only an SDK target (--target sdk@VERSION+URL) records what the SDK did")
    call = ex.response.sdk
    return call, sdk(call.release or default_sdk())


def _did(call: SdkCall) -> str:
    detail = f" ({call.detail})" if call.detail and not call.returned else ""
    return f"the SDK {call.describe()}{detail}"


@check("SDK-ERROR-CODE", offline=False)
def sdk_error_code(ex: Exchange) -> None:
    """An error on the wire: the SDK raised its documented error type carrying the wire's code."""
    call, release = _sdk_call(ex)
    if ex.response.status < 300:
        raise not_applicable("not an error response")
    wire = batch_error(ex.response)
    wire_code = wire.get("code") if wire is not None else None
    expected = (f"{release.label} raises {release.error_type}"
                + (f" with .error.code {wire_code!r}" if wire_code else ""))
    if call.returned or not call.raised(release.error_type):
        raise fail("SDK-ERROR-CODE", ex, f"{_did(call)} on a {ex.response.status}", expected=expected)
    if wire_code and call.error_code != wire_code:
        raise fail("SDK-ERROR-CODE", ex, f"{_did(call)}, but the wire code is {wire_code!r}", expected=expected,
                   why="SDK users read the code from the exception, not the wire")


@check("SDK-ACCEPT-RETURNS", offline=False, focus=VALID_REQUESTS)
def sdk_accept_returns(ex: Exchange) -> None:
    """A 202 on the wire: the SDK's reimage call returned normally, what its release documents."""
    call, release = _sdk_call(ex)
    if ex.response.status != 202:
        raise not_applicable("not a 202")
    if not call.returned or call.value != release.returns:
        raise fail("SDK-ACCEPT-RETURNS", ex, f"{_did(call)} on a 202",
                   expected=f"{release.label} returns {release.returns} from {release.call}")


@check("SDK-POLLER", offline=False, focus=VALID_REQUESTS)
def sdk_poller(ex: Exchange) -> None:
    """A 202 through a release with a poller: followed, the poller ends Succeeded with result None once Get Node
    no longer shows the node reimaging."""
    call, release = _sdk_call(ex)
    if not release.poller:
        raise not_applicable(f"{release.label} returns no poller")
    if ex.response.status != 202 or not call.returned or call.poller is None:
        raise not_applicable("no poller: not a 202 the SDK returned from")
    poller = call.poller
    if not poller.done:
        raise not_applicable(f"the node was still being reimaged when the follow ended ({poller.waited:.0f} s, "
                             "--watch-seconds)")
    if poller.status != "Succeeded" or poller.result != "NoneType" or poller.error:
        raise fail("SDK-POLLER", ex, f"{release.call}'s poller ended {poller.describe()}",
                   expected="status Succeeded and result() None once Get Node shows the node no longer reimaging",
                   why="a caller waits on poller.result() to know the reimage finished")
