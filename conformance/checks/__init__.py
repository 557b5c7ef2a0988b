"""One check per catalogue requirement, registered by ID; evaluate() runs one on an exchange."""

from __future__ import annotations

from conformance.checks import errors, response, semantics
from conformance.checks._base import CHECKS, Check, batch_error, describe_request, describe_response
from conformance.models import Exchange, NotApplicable

__all__ = ["CHECKS", "Check", "batch_error", "describe_request", "describe_response", "errors", "evaluate",
           "response", "semantics"]


def evaluate(requirement_id: str, exchange: Exchange) -> bool:
    """True when the check decided and passed, False when not applicable; RequirementFailure on violation."""
    try:
        CHECKS.get(requirement_id).fn(exchange)
    except NotApplicable:
        return False
    return True
