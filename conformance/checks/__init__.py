"""Each requirement's home in code: its check, the requests that exercise it, its explicit examples.

One module per category: response (RSP-*), errors (ERR-* and the no-5xx rule), semantics (SEM-* status rules),
effects (what a 202 does to the node), auth (AUTH-*), sdk (SDK-*). Importing the package registers them all.
"""

from __future__ import annotations

from hypothesis.strategies import SearchStrategy

from conformance.checks import auth, effects, errors, response, sdk, semantics
from conformance.checks._base import CHECKS, Check, batch_error, describe_request, describe_response, is_transient
from conformance.examples import explicit_examples
from conformance.inventory import Inventory
from conformance.models import Exchange, NotApplicable, Request
from conformance.spec import catalogue
from conformance.strategies import ANY_REQUESTS

__all__ = ["CHECKS", "Check", "auth", "batch_error", "describe_request", "describe_response", "effects", "errors",
           "evaluate", "examples_for", "is_transient", "requests_for", "response", "sdk", "semantics"]


def evaluate(requirement_id: str, exchange: Exchange) -> bool:
    """True when the check decided and passed, False when not applicable; RequirementFailure on violation."""
    try:
        CHECKS.get(requirement_id).fn(exchange)
    except NotApplicable:
        return False
    return True


def requests_for(requirement_id: str, *, inventory: Inventory, api_version: str) -> SearchStrategy[Request]:
    """Generated requests focused on the inputs that exercise one requirement: its home's focus, or any request
    for a catalogue requirement another layer decides (spec-driven); KeyError for an unknown ID."""
    if requirement_id in CHECKS or requirement_id not in catalogue():
        focus = CHECKS.get(requirement_id).focus
    else:
        focus = ANY_REQUESTS
    return focus.requests(inventory=inventory, api_version=api_version)


def examples_for(requirement_id: str, *, inventory: Inventory, api_version: str) -> list[Request]:
    """One request per input class of the requirement, tried before the generated ones (none for a catalogue
    requirement another layer decides)."""
    if requirement_id not in CHECKS and requirement_id in catalogue():
        return []
    return explicit_examples(CHECKS.get(requirement_id).examples, inventory=inventory, api_version=api_version)
