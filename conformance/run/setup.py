"""Open a run: pick the target, load or discover its inventory, and close everything at the end."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from conformance.config import KEY_ENV, TOKEN_ENV, Settings, parse_target
from conformance.inventory import Inventory, default_inventory, load_inventory
from conformance.models import Request, Response, UsageError
from conformance.redaction import register_secret, register_url_secret
from conformance.reporting.har import TrafficRecorder
from conformance.reporting.results import RunResult
from conformance.run.discovery import discover_inventory
from conformance.run.plan import describe, make_plan, run_plan
from conformance.run.safety import POLL_SECONDS
from conformance.run.session import Session
from conformance.spec import catalogue, sdk, versions
from conformance.targets.base import Target
from conformance.targets.guard import Guard
from conformance.targets.http import HttpTarget

# results.json's config entry: the cases not applicable to the SDK target (it counts them; HTTP targets have none)
NOT_APPLICABLE_KEY = "sdk_not_applicable"


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

    def express(self, request: Request) -> None:
        """What the target can send, as the target says."""
        self.target.express(request)

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
def open_embedded(settings: Settings, inventory: Inventory, guard: Guard | None = None, *,
                  reimage_seconds: float | None = None) -> Iterator[Target]:
    """The embedded emulator (with --emulator-fault, enforcing the run's --auth) and an HTTP target for it; its
    reimage lasts MODELLED_REIMAGE_SECONDS unless `reimage_seconds` says otherwise."""
    from conformance.emulator import EmbeddedEmulator
    from conformance.emulator.state import MODELLED_REIMAGE_SECONDS

    if settings.auth == "entra":
        raise UsageError("--auth entra needs a real target (--target URL): the embedded emulator cannot "
                         "verify Microsoft Entra tokens")
    seconds = MODELLED_REIMAGE_SECONDS if reimage_seconds is None else reimage_seconds
    emulator = EmbeddedEmulator(inventory=inventory, api_versions=list(versions()), fault=settings.emulator_fault,
                                auth=_emulator_auth(settings), reimage_seconds=seconds)
    emulator.start()
    target = HttpTarget(emulator.url, timeout=settings.request_timeout, signer=_signer(settings), guard=guard,
                        max_body=settings.max_body_bytes)
    try:
        yield target
    finally:
        target.close()
        emulator.stop()


def prepare_sdk(text: str) -> None:
    """Make sure the environment of an SDK target's release exists (installing it now), so that a run or diff that
    cannot have it stops with one line before anything is sent; nothing for other targets."""
    release = parse_target(text).sdk
    if release is not None and not sdk(release).in_process:
        from conformance.targets.sdk_env import ensure

        ensure(sdk(release))


def _sdk_target(settings: Settings, url: str, release: str) -> HttpTarget:
    data = sdk(release)
    if data.in_process:
        from conformance.targets.sdk import SdkTarget

        return SdkTarget(url, settings)
    from conformance.targets.sdk_env import ensure
    from conformance.targets.sdk_process import SdkProcessTarget

    # after a 202 the release's poller follows the node as live safety's watch does: same interval and limit
    return SdkProcessTarget(url, settings, data, ensure(data), poll_interval=POLL_SECONDS,
                            poll_budget=settings.watch_seconds)


@contextlib.contextmanager
def open_target(settings: Settings, text: str, guard: Guard | None = None) -> Iterator[Target]:
    """The target a --target value names (`URL`, `sdk+URL`, `sdk@VERSION+URL`), signing per --auth, paced per
    --rate, timed per --request-timeout, bounded by the guard (the run's deadline, breaker and stop; its own
    when none is given); an SDK target speaks settings.api_version. Shared by run and diff."""
    spec = parse_target(text)
    target: Target
    if spec.sdk is not None:
        sdk_target = _sdk_target(settings, spec.url, spec.sdk)
        if guard is not None:
            sdk_target.govern(guard, settings.max_body_bytes)  # its plain-HTTP GETs and its retries
        target = sdk_target
    else:
        target = HttpTarget(spec.url, timeout=settings.request_timeout, rate=settings.rate, signer=_signer(settings),
                            guard=guard, max_body=settings.max_body_bytes)
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


def auth_enforced(settings: Settings, *, embedded: bool) -> bool | None:
    """Whether the target enforces authentication: the embedded emulator exactly when the run signs; a remote
    target is known to when the user says how to sign, and is otherwise unknown."""
    return (settings.auth != "none") if embedded else (settings.auth != "none" or None)


def register_env_secrets() -> None:
    """Register the secrets the environment holds for redaction, before anything is sent or recorded."""
    register_secret(os.environ.get(KEY_ENV))
    register_secret(os.environ.get(TOKEN_ENV))


@contextlib.contextmanager
def open_session(settings: Settings, run: RunResult, guard: Guard | None = None) -> Iterator[Session]:
    """The run's Session, with its target started and its inventory known; the guard (the run's deadline,
    breaker and stop) bounds every request, discovery's included."""
    register_env_secrets()
    register_url_secret(settings.target)
    own_guard = guard is None
    guard = guard or Guard(max_duration=settings.max_duration)
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    recorder = TrafficRecorder(settings.record) if settings.record else None
    opener = (open_embedded(settings, inventory or default_inventory(), guard) if settings.target is None
              else open_target(settings, settings.target, guard))
    try:
        with opener as target:
            discovery = _Witnessed(target)
            if inventory is None:
                inventory = default_inventory() if settings.embedded else discover_inventory(
                    discovery, settings.api_version)
            if settings.disposable:  # the user's own throwaway emulator: every node may be reimaged
                inventory = inventory.throwaway()
            served = frozenset(versions()) if settings.embedded else None
            session = Session(settings, target, inventory, run, served_versions=served,
                              auth_enforced=auth_enforced(settings, embedded=settings.embedded), recorder=recorder,
                              guard=guard)
            for request, response in discovery.exchanges:  # what discovery's answers showed counts too
                session.oracle.observe(request, response)
            shared = getattr(guard, "shared", None)
            if shared is not None:  # the workers of a parallel run spend one --max-reimages
                session.safety.shared_budget = shared
                session.safety.shared_nodes = not settings.embedded  # and share a remote target's nodes
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
        if own_guard:
            guard.close()


def dry_run(settings: Settings) -> str:
    """--dry-run: the reimage plan for these settings (the inventory read, or discovered with GETs only); nothing
    that could reimage is sent."""
    inventory = load_inventory(settings.inventory) if settings.inventory else None
    if inventory is None and settings.embedded:
        inventory = default_inventory()
    if inventory is None:
        with open_target(settings, settings.target or "") as target:
            inventory = discover_inventory(target, settings.api_version)
    if settings.disposable:
        inventory = inventory.throwaway()
    exempt = settings.embedded or settings.disposable
    plan = make_plan(settings, inventory, frozenset(settings.only or catalogue()))
    return describe(plan, settings, exempt=exempt) + "\n--dry-run: nothing that could reimage was sent."
