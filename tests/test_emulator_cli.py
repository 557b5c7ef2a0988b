"""`batch-conformance emulator`: fault listing, clear usage errors, serving in the foreground."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conformance import cli
from conformance.emulator import catalogue
from conformance.targets import sharedkey

CLI = [sys.executable, "-m", "conformance.cli", "emulator"]
ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30, cwd=ROOT)


def test_cli_list_faults_one_line_per_fault() -> None:
    result = _run("--list-faults")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(catalogue())
    first = catalogue()[0]
    assert lines[0].split()[:2] == [first.name, ",".join(first.breaks)]


@pytest.mark.parametrize(("args", "message"), [
    (["--inventory", "/nonexistent/inv.json"], "cannot read inventory"),
    (["--fault", "nope"], "unknown fault 'nope'"),
    (["--api-version", "1999-01-01"], "unknown api-version '1999-01-01'"),
    (["--account-name", "acct"], "BATCH_CONFORMANCE_ACCOUNT_KEY"),
    (["--reimage-seconds", "-1"], "must not be negative"),
])
def test_cli_bad_input_exit_2_one_line(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BATCH_CONFORMANCE_ACCOUNT_KEY", raising=False)
    assert cli.main(["emulator", *args, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_bad_inventory_content_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "inv.json"
    bad.write_text('{"pools": [{"id": "p", "configuration": "other"}]}')
    assert cli.main(["emulator", "--inventory", str(bad)]) == 2
    assert "configuration must be one of" in capsys.readouterr().err


def test_cli_serves_until_interrupted() -> None:
    key = base64.b64encode(b"s" * 32).decode()
    env = dict(os.environ, BATCH_CONFORMANCE_ACCOUNT_KEY=key)
    proc = subprocess.Popen([*CLI, "--port", "0", "--account-name", "acct", "--reimage-seconds", "5",
                             "--api-version", "2025-06-01"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        path = "/pools/pool-cs/nodes/idle-1/reimage?api-version=2025-06-01"
        auth = sharedkey.sign("POST", path, {"content-length": "0"}, "acct", key)
        r = requests.post(url + path, headers={"Authorization": auth})
        assert r.status_code == 202, r.text
        assert requests.post(url + path).status_code == 400  # no Authorization
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert key not in err
