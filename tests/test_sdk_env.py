"""Each azure-batch release's own environment: where it lives, `sdk install`, and an index that cannot be reached."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.spec import sdk
from conformance.targets import sdk_env

UNREACHABLE = "http://127.0.0.1:9/simple/"


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SDK cache and a pip that can reach no index: no configuration files, no other index or link."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(sdk_env.CACHE_ENV, str(cache))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", UNREACHABLE)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    return cache


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_sdk_install_unreachable_index_exits_2_with_one_line(offline: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk", "install", "15.1.0"]) == 2
    err = _one_line_error(capsys)
    assert err.startswith("batch-conformance: error: cannot install azure-batch 15.1.0")
    assert "could not reach the package index" in err and "PIP_INDEX_URL" in err
    assert not (offline / "15.1.0").exists()  # nothing half-made is left behind


@pytest.mark.parametrize("command", [
    ["run", "--target", "sdk@15.1.0+http://127.0.0.1:9"],
    ["diff", "--from", "2023-11-01.18.0", "--to", "2025-06-01", "--target-from", "sdk+http://127.0.0.1:9",
     "--target-to", "sdk@15.1.0+http://127.0.0.1:9"],
], ids=["run", "diff"])
def test_command_needing_uninstallable_sdk_exits_2_before_sending(offline: Path, tmp_path: Path, command: list[str],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--report-dir", str(tmp_path / "r")]) == 2
    assert "cannot install azure-batch 15.1.0" in _one_line_error(capsys)


def test_interrupted_install_is_redone_not_trusted(offline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    half = offline / "15.1.0" / "bin"
    half.mkdir(parents=True)
    (half / "python").write_text("")  # an interpreter file, but no marker: the install never finished
    assert sdk_env.installed("15.1.0") is None
    assert main(["sdk", "install", "15.1.0"]) == 2  # it tries again (and here cannot)
    assert not (offline / "15.1.0").exists()


def test_sdk_install_own_dependency_needs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk", "install", "14.1.0"]) == 0
    assert "runs in-process: nothing to install" in capsys.readouterr().out


def test_sdk_install_unknown_release_exits_2_naming_the_supported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk", "install", "9.9.9"]) == 2
    assert "14.1.0, 15.1.0" in _one_line_error(capsys)


def test_sdk_install_existing_environment_is_reused(sdk15: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdk", "install", "15.1.0"]) == 0
    assert f"ready: {sdk15}" in capsys.readouterr().out
    assert sdk_env.ensure(sdk("15.1.0")) == sdk15


def test_sdk_list_names_each_release_and_where_it_runs(capsys: pytest.CaptureFixture[str], offline: Path) -> None:
    assert main(["sdk", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("azure-batch 14.1.0  api-version 2023-11-01.18.0") and "in-process" in out[0]
    assert out[1].startswith("azure-batch 15.1.0  api-version 2025-06-01") and "not installed" in out[1]


@pytest.mark.parametrize(("environ", "expected"), [
    ({sdk_env.CACHE_ENV: "/srv/sdk", "XDG_CACHE_HOME": "/xdg"}, "/srv/sdk"),
    ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/batch-conformance/sdk"),
    ({}, str(Path.home() / ".cache" / "batch-conformance" / "sdk")),
])
def test_cache_dir_variable_beats_xdg_beats_home(environ: dict[str, str], expected: str) -> None:
    assert str(sdk_env.cache_dir(environ)) == expected
