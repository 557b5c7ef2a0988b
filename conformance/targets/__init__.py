"""Targets: one module per kind, all sending a normalised Request and returning a normalised Response."""

from conformance.targets.base import NotExpressible, Target

__all__ = ["NotExpressible", "Target"]
