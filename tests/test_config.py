"""Settings: precedence of flags, environment and config file, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.config import TargetSpec, load_settings, parse_target
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


@pytest.mark.parametrize(("text", "url", "release"), [
    ("https://acct.westeurope.batch.azure.com", "https://acct.westeurope.batch.azure.com", None),
    ("sdk+http://127.0.0.1:8765", "http://127.0.0.1:8765", "14.1.0"),
    ("sdk@14.1.0+http://127.0.0.1:8765", "http://127.0.0.1:8765", "14.1.0"),
    ("sdk@15.1.0+https://acct.westeurope.batch.azure.com", "https://acct.westeurope.batch.azure.com", "15.1.0"),
])
def test_target_spec_reads_url_and_sdk_release(text: str, url: str, release: str | None) -> None:
    assert parse_target(text) == TargetSpec(url, release)


@pytest.mark.parametrize(("text", "fragment"), [
    ("ftp://x", "http(s)://"),
    ("sdk@15.1.0", "sdk@VERSION+https://"),
    ("sdk@+http://x", "sdk@VERSION+https://"),
    ("sdk@15.0.0+http://x", "supported: 14.1.0, 15.1.0"),
    ("sdk@15.1.0+x", "http(s)://"),
])
def test_target_spec_bad_target_names_the_flag(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match="--target-to") as info:
        parse_target(text, "--target-to")
    assert fragment in str(info.value)


def test_settings_sdk_target_speaks_its_release_api_version_by_default() -> None:
    assert load_settings({"target": "sdk@15.1.0+http://x"}, environ={}).api_version == "2025-06-01"
    assert load_settings({"target": "sdk+http://x"}, environ={}).api_version == "2023-11-01.18.0"


def test_settings_sdk_target_other_api_version_names_the_release() -> None:
    with pytest.raises(UsageError, match=r"azure-batch 15\.1\.0 speaks only api-version 2025-06-01"):
        load_settings({"target": "sdk@15.1.0+http://x", "api_version": "2024-07-01.20.0"}, environ={})


def test_settings_command_defaults_sit_below_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "bc.toml"
    config.write_text('[batch-conformance]\nseed = 3\n')
    defaults = {"profile": "quick", "seed": 1, "report_dir": "reports/diff"}
    settings = load_settings({}, config_file=str(config), environ={"BATCH_CONFORMANCE_REPORT_DIR": "out"},
                             defaults=defaults)
    assert (settings.profile, settings.seed, settings.report_dir) == ("quick", 3, "out")
