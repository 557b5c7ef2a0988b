"""Settings: precedence of flags, environment and config file, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.config import load_settings
from conformance.models import UsageError
from conformance.spec import default_version


def test_settings_without_anything_use_defaults() -> None:
    settings = load_settings({}, environ={})
    assert settings.api_version == default_version()
    assert settings.profile == "standard" and settings.embedded and settings.max_reimages == 1


def test_settings_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    config = tmp_path / "bc.toml"
    config.write_text('[batch-conformance]\nprofile = "thorough"\nseed = 3\nrate = 5.0\n')
    environ = {"BATCH_CONFORMANCE_PROFILE": "quick", "BATCH_CONFORMANCE_SEED": "7"}
    settings = load_settings({"seed": 11, "profile": None}, config_file=str(config), environ=environ)
    assert (settings.seed, settings.profile, settings.rate) == (11, "quick", 5.0)


@pytest.mark.parametrize(("flags", "fragment"), [
    ({"api_version": "1999-01-01.0.0"}, "api-version"),
    ({"profile": "fastest"}, "--profile"),
    ({"max_reimages": -1}, "--max-reimages"),
    ({"rate": 0}, "--rate"),
    ({"target": "http://x", "emulator_fault": "no-request-id"}, "--emulator-fault"),
    ({"auth": "sharedkey"}, "--account-name"),
])
def test_settings_invalid_value_names_the_setting(flags: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment.replace("-", r"\-")):
        load_settings(flags, environ={})


def test_settings_bad_environment_value_names_the_variable_setting() -> None:
    with pytest.raises(UsageError, match="seed"):
        load_settings({}, environ={"BATCH_CONFORMANCE_SEED": "many"})


def test_settings_sharedkey_without_key_in_environment_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCH_CONFORMANCE_ACCOUNT_KEY", raising=False)
    with pytest.raises(UsageError, match="BATCH_CONFORMANCE_ACCOUNT_KEY"):
        load_settings({"auth": "sharedkey", "account_name": "acct", "target": "http://x"}, environ={})


def test_settings_config_file_unknown_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bc.toml"
    config.write_text("[batch-conformance]\nprofle = 'quick'\n")
    with pytest.raises(UsageError, match="profle"):
        load_settings({}, config_file=str(config), environ={})
