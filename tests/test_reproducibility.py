"""--seed replays a run exactly: the same seed sends the same requests, another seed does not."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.cli import main


def _requests_sent(tmp_path: Path, name: str, seed: str) -> list[tuple[str, str, str, str]]:
    har = tmp_path / f"{name}.har"
    code = main(["run", "-q", "--profile", "quick", "--no-schemathesis", "--seed", seed, "--record", str(har),
                 "--report-dir", str(tmp_path / name), "--only", "SEM-BAD-HEADER", "--only", "SEM-BAD-BODY"])
    assert code == 0
    entries = json.loads(har.read_text())["log"]["entries"]
    port = entries[0]["request"]["url"].split("/")[2]  # each run's emulator listens on its own port
    return [(e["request"]["method"], e["request"]["url"].replace(port, "HOST"),
             json.dumps(e["request"]["headers"]), e["request"].get("postData", {}).get("text", ""))
            for e in entries]


def test_same_seed_sends_the_same_requests(tmp_path: Path) -> None:
    first, again = _requests_sent(tmp_path, "a", "11"), _requests_sent(tmp_path, "b", "11")
    assert len(first) > 10 and first == again


def test_other_seed_sends_other_requests(tmp_path: Path) -> None:
    assert _requests_sent(tmp_path, "a", "11") != _requests_sent(tmp_path, "c", "12")
