"""The suite against a hostile target (tests/hostile.py), one test per mode: the run ends within a bound, the
memory it adds at its peak stays bounded, all three reports exist and parse, nothing prints a traceback, the
exit code is right, and the target's fault is blamed on the right requirement (or the run says why it
stopped)."""

from __future__ import annotations

import base64
import contextlib
import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.config import KEY_ENV
from conformance.inventory import parse_inventory
from conformance.run.discovery import discover_inventory
from conformance.targets.http import HttpTarget

from conftest import REPO_ROOT
from hostile import HostileServer, Seen

BOUND = 30.0  # seconds: every run ends well within it (the modes below used to run until killed)
PEAK = 64 * 2**20  # bytes a run may add at its peak (a 200 MB body was once held whole: 881 MB resident)
TIMEOUT = ("--request-timeout", "0.1")  # the trickling modes send a byte every 0.05 s: only a deadline ends them
INVENTORY = {"pools": [{"id": "pool-a", "configuration": "cloudServiceConfiguration",
                        "nodes": [{"id": "node-1", "state": "idle"}]}]}
ACCOUNT_KEY = base64.b64encode(b"hostile-test-account-key-" * 2).decode()


@dataclass
class HostileRun:
    """What one run against a hostile target did and wrote."""

    code: int
    seconds: float
    peak: int
    out: str
    report_dir: Path
    seen: list[Seen] = field(default_factory=list)
    elsewhere: list[Seen] = field(default_factory=list)  # what reached the other server (redirects, links)

    @property
    def results(self) -> dict[str, Any]:
        return dict(json.loads((self.report_dir / "results.json").read_text(encoding="utf-8")))

    @property
    def requirements(self) -> dict[str, dict[str, Any]]:
        return dict(self.results["requirements"])

    def status(self, status: str) -> dict[str, str]:
        """Requirement -> its failure message (fail) or reason (others), for the requirements in this status
        (the spec-driven layer's own, which these runs switch off, left out)."""
        return {rid: (r["first_failure"] or {}).get("message", "") or r["reason"]
                for rid, r in self.requirements.items() if r["status"] == status and not rid.startswith("SPEC-")}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.verdict = ""
        self._in_verdict = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_verdict = ("id", "bc-verdict") in attrs

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict += data.strip()


def _strict_json(text: str) -> Any:
    def refuse(value: str) -> None:
        raise ValueError(f"not JSON: {value}")
    return json.loads(text, parse_constant=refuse)


def _surrogates(doc: Any) -> list[str]:
    """The strings of a parsed document that hold a lone surrogate (valid JSON escapes, but no text)."""
    if isinstance(doc, str):
        return [doc] if any("\ud800" <= c <= "\udfff" for c in doc) else []
    items = [*doc.keys(), *doc.values()] if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    return [bad for item in items for bad in _surrogates(item)]


def assert_reports_valid(run: HostileRun) -> None:
    """All three reports exist and parse; no traceback; the verdict is the same in each."""
    assert "Traceback" not in run.out, run.out[-2000:]
    results = _strict_json((run.report_dir / "results.json").read_text(encoding="utf-8"))
    assert not _surrogates(results)
    suite = ET.parse(run.report_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    verdict = next(p.get("value") for p in suite.iter("property") if p.get("name") == "verdict")
    page = _Text()
    page.feed((run.report_dir / "report.html").read_text(encoding="utf-8"))
    assert verdict == results["verdict"] and page.verdict == results["verdict"].upper()


_PROC_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _kib(field: str) -> int:
    return int(next(line.split()[1] for line in _PROC_STATUS.read_text().splitlines() if line.startswith(field)))


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The memory the block adds at its peak, in bytes (yielded list, filled on exit): on Linux the process's
    resident high-water mark, reset first (bodies, decompression buffers and sockets included, at no cost);
    elsewhere the peak of Python's own allocations (tracemalloc, slower)."""
    out: list[int] = []
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM to the current resident size
        resident = True
    except OSError:
        resident = False
    if resident:
        before = _kib("VmRSS:")
        yield out
        out.append((_kib("VmHWM:") - before) * 1024)
        return
    tracemalloc.start()
    try:
        yield out
    finally:
        out.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


@pytest.fixture
def hostile_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Run `batch-conformance run -q --profile quick` in-process against a mode, its peak memory measured
    (what a run imports on first use is imported first, so that it is not counted)."""
    import pytest_html  # noqa: F401

    import conformance.run.session
    import conformance.run.spec_driven  # noqa: F401

    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(INVENTORY))

    def run(mode: str, *args: str, discover: bool = False, userinfo: str = "",
            schemathesis: bool = False) -> HostileRun:
        report_dir = tmp_path / mode
        with HostileServer("plain") as other, HostileServer(mode, elsewhere=other.url) as server:
            url = server.url.replace("http://", f"http://{userinfo}@") if userinfo else server.url
            argv = ["run", "-q", "--profile", "quick", "--target", url, "--report-dir", str(report_dir),
                    "--request-timeout", "0.5", *([] if schemathesis else ["--no-schemathesis"]),
                    *([] if discover else ["--inventory", str(inventory)]), *args]
            # a hang ends the test process with every thread's stack, rather than blocking it for good
            faulthandler.dump_traceback_later(BOUND * 4, exit=True, file=sys.__stderr__)
            started = time.monotonic()
            try:
                with peak_memory() as peak:
                    code = main(argv)
            finally:
                seconds = time.monotonic() - started
                faulthandler.cancel_dump_traceback_later()
            captured = capsys.readouterr()
            return HostileRun(code, seconds, peak[0], captured.out + captured.err, report_dir, list(server.seen),
                              list(other.seen))
    yield run


def _bounded(run: HostileRun) -> None:
    assert run.seconds < BOUND and run.peak < PEAK, (run.seconds, run.peak)
    assert_reports_valid(run)


# --- targets that hold a request open: the per-request deadline and the breaker end the run -------------------
@pytest.mark.parametrize("mode", ["silent", "slow-headers", "continue-forever", "slow-body"])
def test_hostile_target_holding_requests_open_stops_run_with_reports(hostile_run: Any, mode: str) -> None:
    run = hostile_run(mode, *TIMEOUT)
    _bounded(run)
    results = run.results
    assert run.code == 2 and results["verdict"] == "error"
    assert "5 requests in a row met trouble" in results["stopped"]
    assert "did not answer within 0.1 s" in results["stopped"]
    errors, skipped = run.status("error"), run.status("undecided")
    assert errors and all("did not answer within 0.1 s" in why for why in errors.values())
    assert len(skipped) > 20 and all("the run stopped sending" in why for why in skipped.values())
    assert not run.status("fail") and not run.status("pass")


def test_hostile_target_throttling_forever_is_never_waited_out(hostile_run: Any) -> None:
    run = hostile_run("throttle-forever")
    _bounded(run)
    assert run.code == 3 and run.seconds < 10  # Retry-After: 3600 is beyond the retry budget: not waited
    assert "429" in run.results["stopped"] and "Retry-After: '3600'" in run.results["stopped"]
    assert not run.status("fail")  # a 429 decides no requirement: the target throttles, it does not misbehave
    assert len(run.seen) == 5


def test_hostile_target_unusable_retry_after_counts_as_absent(hostile_run: Any) -> None:
    run = hostile_run("busy-bad-retry-after")  # NaN, soon, 1.5, -1, a date without a time: in turn
    _bounded(run)
    assert run.code == 3 and "suite error" not in run.out and "ValueError" not in run.out
    assert "unusable: read as absent" in run.results["stopped"]
    assert not run.status("fail") and len(run.seen) == 5  # 503 ServerBusy is transient: it decides nothing


# --- bodies: judged as the target's failure under the requirement they break; reports stay valid -------------
BODY_MODES = [
    ("huge-body", "larger than the 4194304-byte cap (Content-Length 209715200)"),
    ("gzip-bomb", "larger than the 4194304-byte cap (no Content-Length; gzip decoded)"),
    ("lone-surrogate", "holds an unpaired surrogate escape"),
    ("control-chars", "the body is not JSON (Invalid control character"),
    ("invalid-utf8", "the body is not UTF-8 (byte b'\\xff' at 22)"),
    ("deep-json", "the JSON nests deeper than the parser follows"),
    ("lying-length", "the connection closed after 23 of the 1000 bytes Content-Length declared"),
]


@pytest.mark.parametrize(("mode", "why"), BODY_MODES)
def test_hostile_target_body_fails_error_body_schema(hostile_run: Any, mode: str, why: str) -> None:
    run = hostile_run(mode, "--only", "ERR-BODY-SCHEMA", "--only", "SEM-POOL-NOT-FOUND")
    _bounded(run)
    assert run.code == 1 and run.results["verdict"] == "fail" and not run.results["harness_errors"]
    assert set(run.status("fail")) == {"ERR-BODY-SCHEMA"} and why in run.status("fail")["ERR-BODY-SCHEMA"]
    assert run.requirements["SEM-POOL-NOT-FOUND"]["status"] == "pass"  # the status was right all along


def test_hostile_target_deep_json_with_spec_driven_layer_no_suite_error(hostile_run: Any) -> None:
    run = hostile_run("deep-json", "--only", "ERR-BODY-SCHEMA", "--only", "SPEC-STATUS-CODE", schemathesis=True)
    _bounded(run)
    assert run.code == 1 and not run.results["harness_errors"] and "suite error" not in run.out
    assert run.requirements["ERR-BODY-SCHEMA"]["status"] == "fail"


# --- answers that are not HTTP, or no answer at all --------------------------------------------------------
@pytest.mark.parametrize(("mode", "why"), [("not-http", "answered something that is not HTTP"),
                                           ("reset", "closed the connection without answering")])
def test_hostile_target_without_http_answer_is_harness_error(hostile_run: Any, mode: str, why: str) -> None:
    run = hostile_run(mode)
    _bounded(run)
    assert run.code == 2 and why in run.results["stopped"]
    assert run.status("error") and all(why in reason for reason in run.status("error").values())


def test_hostile_target_redirect_never_followed_nor_credentials_sent_elsewhere(
        hostile_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, ACCOUNT_KEY)
    run = hostile_run("redirect", "--only", "SEM-POOL-NOT-FOUND", "--auth", "sharedkey", "--account-name", "acct")
    _bounded(run)
    assert run.code == 1 and "status 307" in run.status("fail")["SEM-POOL-NOT-FOUND"]
    assert run.seen and all(s.headers.get("authorization", "").startswith("SharedKey acct:") for s in run.seen)
    assert run.elsewhere == []  # the Location's server never saw a request, let alone a signature


def test_hostile_target_echoed_signature_and_url_password_never_reach_a_report(
        hostile_run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEY_ENV, ACCOUNT_KEY)
    har = tmp_path / "echo-secrets" / "run.har"
    run = hostile_run("echo-secrets", "--auth", "sharedkey", "--account-name", "acct", "--record", str(har),
                      "--only", "ERR-BODY-SCHEMA", "--only", "ERR-CODE-EXPECTED", userinfo="user:hunter2-secret")
    _bounded(run)
    signatures = {s.headers["authorization"].rpartition(":")[2] for s in run.seen}
    assert signatures and run.code in (0, 1)
    for path in [*run.report_dir.iterdir(), har]:
        text = path.read_text(encoding="utf-8")
        assert "hunter2-secret" not in text, path.name
        assert not [s for s in signatures if s in text or s.replace("/", "\\/") in text], path.name
    assert "REDACTED@127.0.0.1" in (run.report_dir / "results.json").read_text()
    assert "hunter2" not in run.out


# --- discovery ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "why"), [
    ("pools-not-objects", "item 0 is 1, not a pool object"),
    ("page-loop", "names a page already read (a loop after page 1)"),
    ("page-elsewhere", "points to another host; discovery never follows it"),
    ("million-nodes", "larger than the 4194304-byte cap (no Content-Length)"),
])
def test_hostile_target_broken_discovery_exits_2_naming_the_cause(hostile_run: Any, mode: str, why: str) -> None:
    run = hostile_run(mode, discover=True)
    _bounded(run)
    results = run.results
    assert run.code == 2 and results["verdict"] == "error" and why in results["harness_errors"][0]
    assert why in run.out  # printed, not only written
    assert {r["status"] for r in results["requirements"].values()} == {"error"}
    assert run.elsewhere == []


def test_discovery_follows_next_links_to_every_page() -> None:
    with HostileServer("pages") as server:
        target = HttpTarget(server.url)
        inventory = discover_inventory(target, "2023-11-01.18.0")
        target.close()
    assert [p.id for p in inventory.pools] == [f"pool-{page}-{i}" for page in range(3) for i in range(2)]
    assert all([n.id for n in p.nodes] == [f"{p.id}-node-0", f"{p.id}-node-1"] for p in inventory.pools)


def test_discovery_endless_pages_stop_at_the_item_cap_in_bounded_memory() -> None:
    from conformance.models import UsageError

    with HostileServer("endless-pages") as server:
        target = HttpTarget(server.url)
        with peak_memory() as peak, pytest.raises(UsageError, match="lists more than 20,000 pools and nodes"):
            discover_inventory(target, "2023-11-01.18.0", max_items=20_000)
        target.close()
    assert len(server.seen) == 1 + 20 and peak[0] < PEAK  # List Pools, then 20 pages: their last node tips it


def test_discovery_against_emulator_reads_every_page_of_a_big_pool() -> None:
    from conformance.emulator import EmbeddedEmulator

    nodes = [{"id": f"n{i}", "state": "idle"} for i in range(2_345)]
    inventory = parse_inventory({"pools": [{"id": "big", "configuration": "cloudServiceConfiguration",
                                            "nodes": nodes}]})
    with EmbeddedEmulator(inventory=inventory) as emulator:
        target = HttpTarget(emulator.url)
        found = discover_inventory(target, "2023-11-01.18.0")
        target.close()
    assert [n.id for n in found.pools[0].nodes] == [n["id"] for n in nodes]  # three pages of 1,000


# --- the run's own limits: --max-duration, SIGTERM, SIGINT --------------------------------------------------
def test_max_duration_stops_sending_and_reports_the_rest_undecided(hostile_run: Any) -> None:
    run = hostile_run("slow", "--max-duration", "1")
    _bounded(run)
    assert run.code == 3 and run.seconds < 5 and "--max-duration of 1 s" in run.results["stopped"]
    skipped = run.status("undecided")
    assert len(skipped) > 20 and all("the run stopped sending" in why for why in skipped.values())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_run_within_seconds_and_writes_every_report(tmp_path: Path, signum: signal.Signals) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(INVENTORY))
    output = tmp_path / "output.txt"
    with HostileServer("slow") as server, output.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "run", "-q", "--profile", "quick", "--no-schemathesis",
             "--target", server.url, "--inventory", str(inventory), "--report-dir", str(tmp_path / "reports")],
            cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOUND
        while not server.seen and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signum)
        signalled = time.monotonic()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak memory, unlike Popen.wait
        stopped_in = time.monotonic() - signalled
        proc.returncode = os.waitstatus_to_exitcode(status)
    run = HostileRun(proc.returncode, stopped_in, 0, output.read_text(), tmp_path / "reports")
    assert_reports_valid(run)
    assert server.seen and run.code == 3 and stopped_in < 10 and usage.ru_maxrss * 1024 < 512 * 2**20
    assert run.results["stopped"] == f"interrupted by {signum.name}"
    assert f"verdict INCOMPLETE (the run stopped sending: interrupted by {signum.name})" in run.out
    assert all("the run stopped sending" in why for why in run.status("undecided").values())
