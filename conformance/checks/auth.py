"""Authentication rules (AUTH-*), decided only against a target known to enforce authentication."""

from __future__ import annotations

from conformance.checks._base import check, not_applicable
from conformance.checks.semantics import judge
from conformance.examples import Examples, header
from conformance.models import Exchange
from conformance.rules import AUTH_BAD_SIGNATURE, AUTH_DIRECTIVE_HEADER, AUTH_OMIT
from conformance.strategies import focused


def _auth(requirement: str, ex: Exchange, why: str) -> None:
    if ex.observed.auth_enforced is not True:
        raise not_applicable("the target is not known to enforce authentication")
    judge(requirement, ex, why)


@check("AUTH-MISSING", offline=False, focus=focused(auth=AUTH_OMIT),
       examples=Examples((header(AUTH_DIRECTIVE_HEADER, AUTH_OMIT),)))
def auth_missing(ex: Exchange) -> None:
    """No Authorization: 400 MissingRequiredHeader or 401, never 202."""
    _auth("AUTH-MISSING", ex, "the live service answers 400 MissingRequiredHeader (HeaderName=Authorization)")


@check("AUTH-BAD-SIGNATURE", offline=False, focus=focused(auth=AUTH_BAD_SIGNATURE),
       examples=Examples((header(AUTH_DIRECTIVE_HEADER, AUTH_BAD_SIGNATURE),)))
def auth_bad_signature(ex: Exchange) -> None:
    """A Shared Key signature that does not verify: 403."""
    _auth("AUTH-BAD-SIGNATURE", ex, "Shared Key authentication fails (AuthenticationFailed, 403)")
