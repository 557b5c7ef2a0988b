"""Open a run: pick the target, load or discover its inventory, and close everything at the end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from conformance.config import KEY_ENV, TOKEN_ENV, Settings
from conformance.inventory import Inventory, default_inventory, load_inventory, parse_inventory
from conformance.models import Request, Response, UsageError
from conformance.redaction import register_secret
from conformance.reporting.har import TrafficRecorder
from conformance.reporting.results import RunResult
from conformance.run.plan import describe, make_plan, run_plan
from conformance.run.session import Session
from conformance.spec import catalogue, versions
from conformance.targets.base import Target, get_json
from conformance.targets.http import HttpTarget

# results.json's config entry: the cases not applicable to the SDK target (it counts them; HTTP targets have none)
NOT_APPLICABLE_KEY = "sdk_not_applicable"
# The embedded emulator a run starts models a reimage of this many seconds: a node just accepted is reimaging for a
# while, as on the service, so that second and simultaneous reimages of it can be judged; the run rotates nodes.
EMBEDDED_REIMAGE_SECONDS = 0.05


def discover_inventory(target: Target, api_version: str) -> Inventory:
    """Build the inventory from List Pools and List Nodes, where the target serves them."""
    pools = get_json(target.send, "/pools", api_version, strict=True)
    if not isinstance(pools, dict) or not isinstance(pools.get("value"), list):
        raise UsageError(f"{target.base_url} does not serve List Pools; describe it with --inventory FILE")
    raw_pools = []
    for pool in pools["value"]:
        pid = str(pool.get("id", ""))
        conf = ("virtualMachineConfiguration" if "virtualMachineConfiguration" in pool
                else "cloudServiceConfiguration")
        nodes = get_json(target.send, f"/pools/{pid}/nodes", api_version, strict=True) or {}
        raw_pools.append({"id": pid, "configuration": conf, "nodes": [
            {"id": str(n.get("id")), "state": str(n.get("state"))} for n in nodes.get("value", [])]})
    return parse_inventory({"pools": raw_pools}, source=f"inventory discovered at {target.base_url}")


class _Witnessed:
    """A target whose exchanges are kept, so that what discovery's answers showed reaches the oracle."""

    def __init__(self, target: Target) -> None:
        self.target, self.name, self.base_url = target, target.name, target.base_url
        self.last_sent: Request | None = None
        self.exchanges: list[tuple[Request, Response]] = []

    def send(self, request: Request) -> Response:
        """Send through the target and keep the exchange."""
        response = self.target.send(request)
        self.last_sent = self.target.last_sent
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        """Closing stays with whoever opened the target."""


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
def _embedded(settings: Settings, inventory: Inventory) -> Iterator[Target]:
    from conformance.emulator import EmbeddedEmulator

    if settings.auth == "entra":
        raise UsageError("--auth entra needs a real target (--target URL): the embedded emulator cannot "
                         "verify Microsoft Entra tokens")
    emulator = EmbeddedEmulator(inventory=inventory, api_versions=list(versions()), fault=settings.emulator_fault,
                                auth=_emulator_auth(settings), reimage_seconds=EMBEDDED_REIMAGE_SECONDS)
    emulator.start()
    target = HttpTarget(emulator.url, timeout=settings.request_timeout, signer=_signer(settings))
    try:
        yield target
    finally:
        target.close()
        emulator.stop()


@contextlib.contextmanager
def _remote(settings: Settings) -> Iterator[Target]:
    assert settings.target is not None
    url = settings.target
    if url.startswith("sdk+"):
        from conformance.targets.sdk import SdkTarget

        target: Target = SdkTarget(url.removeprefix("sdk+"), settings)
    elif url.startswith(("http://", "https://")):
        target = HttpTarget(url, timeout=settings.request_timeout, rate=settings.rate,
                            signer=_signer(settings))
    else:
        raise UsageError(f"--target {url!r}: give an http(s):// URL, or sdk+https://... for the SDK target")
    try:
        yield target
    finally:
        target.close()


def note_not_applicable(run: RunResult, target: Target) -> None:
    """Put the target's count of cases not applicable to it (an SDK changed the input on the wire, or
    cannot express it) into the run's configuration, which results.json and the report show."""
    counts = getattr(target, "not_applicable", None)
    if counts is not None:
        run.config[NOT_APPLICABLE_KEY] = {"cases": sum(counts.values()), **dict(sorted(counts.items()))}


@contextlib.contextmanager
def open_session(settings: Settings, run: RunResult) -> Iterator[Session]:
    """The run's Session, with its target started and its inventory known."""
    register_secret(os.environ.get(KEY_ENV))
    register_secret(os.environ.get(TOKEN_ENV))
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    recorder = TrafficRecorder(settings.record) if settings.record else None
    opener = _embedded(settings, inventory or default_inventory()) if settings.embedded else _remote(settings)
    try:
        with opener as target:
            discovery = _Witnessed(target)
            if inventory is None:
                inventory = default_inventory() if settings.embedded else discover_inventory(
                    discovery, settings.api_version)
            if settings.disposable:  # the user's own throwaway emulator: every node may be reimaged
                inventory = inventory.throwaway()
            served = frozenset(versions()) if settings.embedded else None
            # the embedded emulator enforces auth exactly when the run signs; a remote target is known to
            # enforce it when the user says how to sign, and is otherwise unknown until its answers show it
            auth = (settings.auth != "none") if settings.embedded else (settings.auth != "none" or None)
            session = Session(settings, target, inventory, run, served_versions=served,
                              auth_enforced=auth, recorder=recorder)
            for request, response in discovery.exchanges:  # what discovery's answers showed counts too
                session.oracle.observe(request, response)
            try:
                if session.safety.budgeted:  # the planned reimages go first, before any property spends one
                    run_plan(session)
                yield session
            finally:
                session.finish()
                note_not_applicable(run, target)
    finally:
        if recorder is not None:
            recorder.write()


def dry_run(settings: Settings) -> str:
    """--dry-run: the reimage plan for these settings (the inventory read, or discovered with GETs only); nothing
    that could reimage is sent."""
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    if inventory is None and settings.embedded:
        inventory = default_inventory()
    if inventory is None:
        with _remote(settings) as target:
            inventory = discover_inventory(target, settings.api_version)
    if settings.disposable:
        inventory = inventory.throwaway()
    exempt = settings.embedded or settings.disposable
    plan = make_plan(settings, inventory, frozenset(settings.only or catalogue()))
    return describe(plan, settings, exempt=exempt) + "\n--dry-run: nothing that could reimage was sent."
