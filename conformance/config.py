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
from conformance.spec import catalogue, default_version, versions

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
    disposable: bool = False  # the --target is the user's own throwaway emulator: reimage any node, no budget
    dry_run: bool = False  # print the reimage plan and send nothing that could reimage
    rate: float | None = None
    request_timeout: float = 30.0
    watch_seconds: float = 900.0  # how long the live-safety watch follows a reimaged node
    record: str | None = None
    account_name: str | None = None
    auth: str = "none"  # none | sharedkey | entra | bearer

    @property
    def embedded(self) -> bool:
        """Whether the run targets the embedded reference emulator."""
        return self.target is None

    def public(self) -> dict[str, Any]:
        """The configuration as shown in reports: no secret lives in Settings, so all of it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
                  environ: dict[str, str] | None = None) -> Settings:
    """Merge the layers (flags given as None count as not given) and validate the result."""
    merged: dict[str, Any] = {}
    for layer in (_from_file(config_file), _from_env(dict(os.environ if environ is None else environ)),
                  {k: v for k, v in flags.items() if v is not None}):
        merged.update({k: _coerce(k, v) for k, v in layer.items()})
    settings = Settings(**merged)
    return validate(settings)


def validate(settings: Settings) -> Settings:
    """Refuse contradictory or unknown values with a message naming the setting."""
    if not settings.api_version:
        settings = dataclasses.replace(settings, api_version=default_version())
    if settings.api_version not in versions():
        raise UsageError(f"--api-version {settings.api_version!r} is not one the suite knows "
                         f"({', '.join(versions())})")
    if settings.profile not in PROFILES:
        raise UsageError(f"--profile {settings.profile!r}: choose one of {', '.join(PROFILES)}")
    if settings.max_reimages < 0:
        raise UsageError("--max-reimages must be 0 or more")
    if settings.rate is not None and settings.rate <= 0:
        raise UsageError("--rate must be a positive number of requests per second")
    if settings.target is not None and not settings.target.removeprefix("sdk+").startswith(("http://", "https://")):
        raise UsageError(f"--target {settings.target!r}: give an http(s):// URL, or sdk+https://... for the SDK target")
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
