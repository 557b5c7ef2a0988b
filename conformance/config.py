"""One frozen Settings object: CLI flags > environment (BATCH_CONFORMANCE_*) > config file > defaults."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.models import UsageError
from conformance.spec import catalogue, default_sdk, default_version, sdk, versions

PROFILES = ("quick", "standard", "thorough")
ENV_PREFIX = "BATCH_CONFORMANCE_"
KEY_ENV = ENV_PREFIX + "ACCOUNT_KEY"  # the shared key: only ever read from the environment
TOKEN_ENV = ENV_PREFIX + "BEARER_TOKEN"
# The Azure Batch service's own hosts (public cloud, Azure China, Azure Government): never a throwaway target.
SERVICE_DOMAINS = ("batch.azure.com", "batch.chinacloudapi.cn", "batch.usgovcloudapi.net")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved once and handed out by a fixture."""

    target: str | None = None  # None: the embedded emulator
    inventory: str | None = None
    api_version: str = ""
    profile: str = "standard"
    seed: int = 0
    report_dir: str = "reports"
    schemathesis: bool = True
    emulator_fault: str | None = None
    only: tuple[str, ...] = ()
    allow_destructive: bool = False
    max_reimages: int = 1
    parallel_target: bool = False  # several workers may send to the --target URL at once (--workers, pytest -n)
    disposable: bool = False  # the --target is the user's own throwaway emulator: reimage any node, no budget
    dry_run: bool = False  # print the reimage plan and send nothing that could reimage
    rate: float | None = None
    request_timeout: float = 30.0  # seconds for each request: connect plus the whole response
    max_duration: float | None = None  # seconds for the whole run; then it stops sending and writes its reports
    max_body_bytes: int = 4 * 1024 * 1024  # a response body is read (and decompressed) up to this many bytes
    watch_seconds: float = 900.0  # how long the live-safety watch follows a reimaged node
    record: str | None = None
    account_name: str | None = None
    auth: str = "none"  # none | sharedkey | entra | bearer
    expectations: str | None = None  # a TOML file of known deviations: the exit code counts only what is unexpected
    strict_expectations: bool = False  # an expected failure that now passes fails the run too

    @property
    def embedded(self) -> bool:
        """Whether the run targets the embedded reference emulator."""
        return self.target is None

    def public(self) -> dict[str, Any]:
        """The configuration as shown in reports: no secret lives in Settings, so all of it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TargetSpec:
    """A target as written (`URL`, `sdk+URL`, `sdk@VERSION+URL`): its base URL and the azure-batch release that
    drives it (None: plain HTTP)."""

    url: str
    sdk: str | None = None


def parse_target(text: str, flag: str = "--target") -> TargetSpec:
    """Read a target; UsageError naming the flag for anything but an http(s) URL, optionally behind an SDK."""
    release: str | None = None
    url = text
    if text.startswith("sdk+"):
        release, url = default_sdk(), text.removeprefix("sdk+")
    elif text.startswith("sdk@"):
        release, plus, url = text.removeprefix("sdk@").partition("+")
        if not plus or not release:
            raise UsageError(f"{flag} {text!r}: write an SDK target as sdk@VERSION+https://...")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{flag} {text!r}: give an http(s):// URL, sdk+URL (azure-batch {default_sdk()}) or "
                         "sdk@VERSION+URL")
    if release is not None:
        try:
            sdk(release)
        except ValueError as err:
            raise UsageError(f"{flag} {text!r}: {err}") from None
    return TargetSpec(url, release)


def _coerce(name: str, raw: Any) -> Any:
    field = next(f for f in fields(Settings) if f.name == name)
    kind = str(field.type)
    try:
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return None if raw in (None, "") else float(raw)
        if kind.startswith("tuple"):
            return tuple(raw) if isinstance(raw, list | tuple) else tuple(s for s in str(raw).split(",") if s)
        return None if raw is None else str(raw)
    except (TypeError, ValueError):
        raise UsageError(f"setting {name}: {raw!r} is not a valid {kind}") from None


def _from_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as err:
        raise UsageError(f"cannot read config file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config file {path} is not TOML: {err}") from None
    section = data.get("batch-conformance", data)
    known = {f.name for f in fields(Settings)}
    for key in section:
        if key.replace("-", "_") not in known:
            raise UsageError(f"config file {path}: unknown setting {key!r}")
    return {k.replace("-", "_"): v for k, v in section.items()}


def _from_env(environ: dict[str, str]) -> dict[str, Any]:
    out = {}
    for f in fields(Settings):
        value = environ.get(ENV_PREFIX + f.name.upper())
        if value is not None:
            out[f.name] = value
    return out


def load_settings(flags: dict[str, Any], *, config_file: str | None = None,
                  environ: dict[str, str] | None = None, defaults: dict[str, Any] | None = None) -> Settings:
    """Merge the layers (flags given as None count as not given) and validate the result; `defaults` are a
    command's own defaults, below the config file (diff's quick profile, for one)."""
    merged: dict[str, Any] = {}
    for layer in (defaults or {}, _from_file(config_file), _from_env(dict(os.environ if environ is None else environ)),
                  {k: v for k, v in flags.items() if v is not None}):
        merged.update({k: _coerce(k, v) for k, v in layer.items()})
    settings = Settings(**merged)
    return validate(settings)


def validate(settings: Settings) -> Settings:
    """Refuse contradictory or unknown values with a message naming the setting."""
    target = parse_target(settings.target) if settings.target is not None else TargetSpec("")
    if not settings.api_version:  # an SDK target speaks its release's api-version; others the default one
        settings = dataclasses.replace(settings, api_version=sdk(target.sdk).api_version if target.sdk
                                       else default_version())
    if settings.api_version not in versions():
        raise UsageError(f"--api-version {settings.api_version!r} is not one the suite knows "
                         f"({', '.join(versions())})")
    if settings.profile not in PROFILES:
        raise UsageError(f"--profile {settings.profile!r}: choose one of {', '.join(PROFILES)}")
    if settings.max_reimages < 0:
        raise UsageError("--max-reimages must be 0 or more")
    if not settings.request_timeout > 0:  # also refuses NaN
        raise UsageError("--request-timeout must be a positive number of seconds")
    if settings.max_duration is not None and not settings.max_duration > 0:
        raise UsageError("--max-duration must be a positive number of seconds")
    if settings.max_body_bytes < 1024:
        raise UsageError("--max-body-bytes must be at least 1024")
    if settings.rate is not None and settings.rate <= 0:
        raise UsageError("--rate must be a positive number of requests per second")
    if target.sdk and settings.api_version != sdk(target.sdk).api_version:
        raise UsageError(f"--target {settings.target}: azure-batch {target.sdk} speaks only api-version "
                         f"{sdk(target.sdk).api_version}; run with --api-version {sdk(target.sdk).api_version}")
    unknown = [rid for rid in settings.only if rid not in catalogue()]
    if unknown:
        raise UsageError(f"--only {', '.join(unknown)}: not a requirement ID of the catalogue "
                         "(see README or spec/requirements.json)")
    if settings.disposable:
        _check_disposable(settings.target)
    if settings.emulator_fault and not settings.embedded:
        raise UsageError("--emulator-fault applies only to the embedded emulator (drop --target)")
    if settings.auth not in ("none", "sharedkey", "entra", "bearer"):
        raise UsageError(f"--auth {settings.auth!r}: choose none, sharedkey, entra or bearer")
    if settings.auth == "sharedkey" and not settings.account_name:
        raise UsageError("--auth sharedkey needs --account-name")
    if settings.auth == "sharedkey" and not os.environ.get(KEY_ENV):
        raise UsageError(f"--auth sharedkey reads the key from the environment variable {KEY_ENV}, "
                         "which is not set")
    if settings.strict_expectations and not settings.expectations:
        raise UsageError("--strict-expectations needs --expectations FILE")
    return settings


def _check_disposable(target: str | None) -> None:
    """--disposable only for a URL target, and never for the Batch service itself."""
    if target is None:
        raise UsageError("--disposable declares a --target URL to be your own throwaway emulator; the embedded "
                         "emulator needs no such flag")
    host = (urlsplit(target.removeprefix("sdk+")).hostname or "").lower().rstrip(".")
    service = next((d for d in SERVICE_DOMAINS if host == d or host.endswith("." + d)), None)
    if service is not None:
        raise UsageError(f"--disposable is refused for {host}: hosts under {service} are the Azure Batch service, "
                         "whose nodes are never throwaway (use --allow-destructive with --max-reimages and nodes "
                         "marked expendable)")
