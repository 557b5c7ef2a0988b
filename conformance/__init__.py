"""batch-conformance: a property-based conformance suite for Azure Batch Compute Node - Reimage."""

from __future__ import annotations

from conformance.inventory import Inventory, default_inventory, load_inventory
from conformance.models import (
    Exchange,
    Expectation,
    Fault,
    HarnessError,
    NotApplicable,
    Outcome,
    Request,
    RequirementFailure,
    Response,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "Exchange",
    "Expectation",
    "Fault",
    "HarnessError",
    "Inventory",
    "NotApplicable",
    "Outcome",
    "Request",
    "RequirementFailure",
    "Response",
    "UsageError",
    "__version__",
    "default_inventory",
    "load_inventory",
]
