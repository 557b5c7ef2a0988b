"""Open a run: pick the target, load or discover its inventory, and close everything at the end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from conformance.config import KEY_ENV, TOKEN_ENV, Settings
from conformance.inventory import Inventory, default_inventory, load_inventory
from conformance.models import UsageError
from conformance.redaction import register_secret, register_url_secret
from conformance.reporting.har import TrafficRecorder
from conformance.reporting.results import RunResult
from conformance.run.discovery import discover_inventory
from conformance.run.session import Session
from conformance.spec import versions
from conformance.targets.base import Target
from conformance.targets.guard import Guard
from conformance.targets.http import HttpTarget


def _signer(settings: Settings) -> Any:
    # always a signer: with --auth none it still strips the suite's auth directive header from the wire
    from conformance.targets.auth import make_signer

    return make_signer(settings)


def _emulator_auth(settings: Settings) -> Any:
    """The embedded emulator enforces the same authentication the run signs with."""
    if settings.auth == "none":
        return None
    from conformance.emulator.auth import AuthConfig

    token = os.environ.get(TOKEN_ENV)
    return AuthConfig(account_name=settings.account_name or "", account_key=os.environ.get(KEY_ENV),
                      bearer_tokens=frozenset({token} if token else ()))


@contextlib.contextmanager
def _embedded(settings: Settings, inventory: Inventory, guard: Guard) -> Iterator[Target]:
    from conformance.emulator import EmbeddedEmulator

    if settings.auth == "entra":
        raise UsageError("--auth entra needs a real target (--target URL): the embedded emulator cannot "
                         "verify Microsoft Entra tokens")
    emulator = EmbeddedEmulator(inventory=inventory, api_versions=list(versions()),
                                fault=settings.emulator_fault, auth=_emulator_auth(settings))
    emulator.start()
    target = HttpTarget(emulator.url, timeout=settings.request_timeout, signer=_signer(settings), guard=guard,
                        max_body=settings.max_body_bytes)
    try:
        yield target
    finally:
        target.close()
        emulator.stop()


@contextlib.contextmanager
def _remote(settings: Settings, guard: Guard) -> Iterator[Target]:
    assert settings.target is not None
    url = settings.target
    if url.startswith("sdk+"):
        from conformance.targets.sdk import SdkTarget

        sdk = SdkTarget(url.removeprefix("sdk+"), settings)
        sdk.govern(guard, settings.max_body_bytes)  # its plain-HTTP GETs and its retries
        target: Target = sdk
    elif url.startswith(("http://", "https://")):
        target = HttpTarget(url, timeout=settings.request_timeout, rate=settings.rate, signer=_signer(settings),
                            guard=guard, max_body=settings.max_body_bytes)
    else:
        raise UsageError(f"--target {url!r}: give an http(s):// URL, or sdk+https://... for the SDK target")
    try:
        yield target
    finally:
        target.close()


@contextlib.contextmanager
def open_session(settings: Settings, run: RunResult, guard: Guard | None = None) -> Iterator[Session]:
    """The run's Session, with its target started and its inventory known; the guard (the run's deadline,
    breaker and stop) bounds every request, discovery's included."""
    register_secret(os.environ.get(KEY_ENV))
    register_secret(os.environ.get(TOKEN_ENV))
    register_url_secret(settings.target)
    own_guard = guard is None
    guard = guard or Guard(max_duration=settings.max_duration)
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    recorder = TrafficRecorder(settings.record) if settings.record else None
    opener = (_embedded(settings, inventory or default_inventory(), guard) if settings.embedded
              else _remote(settings, guard))
    try:
        with opener as target:
            if inventory is None:
                inventory = default_inventory() if settings.embedded else discover_inventory(
                    target, settings.api_version)
            served = frozenset(versions()) if settings.embedded else None
            # the embedded emulator enforces auth exactly when the run signs; a remote target is known to
            # enforce it when the user says how to sign, and is otherwise unknown
            auth = (settings.auth != "none") if settings.embedded else (settings.auth != "none" or None)
            yield Session(settings, target, inventory, run, served_versions=served,
                          auth_enforced=auth, recorder=recorder, guard=guard)
    finally:
        if recorder is not None:
            recorder.write()
        if own_guard:
            guard.close()


__all__ = ["discover_inventory", "open_session"]  # discover_inventory: diff's discovery too
