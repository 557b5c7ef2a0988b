"""The reference emulator of Compute Node - Reimage: state model, raw ASGI app, fault catalogue."""

from __future__ import annotations

from conformance.emulator.auth import AuthConfig
from conformance.emulator.faults import FaultSpec, catalogue
from conformance.emulator.server import EmbeddedEmulator
from conformance.emulator.state import EmulatorState

__all__ = ["AuthConfig", "EmbeddedEmulator", "EmulatorState", "FaultSpec", "catalogue"]
