"""Live-service safety, proven on the wire: a recording proxy in front of the emulator sees every request."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from conformance.cli import main
from conformance.config import KEY_ENV, TOKEN_ENV, Settings
from conformance.emulator import AuthConfig, EmbeddedEmulator
from conformance.inventory import Inventory, default_inventory, parse_inventory
from conformance.models import HarnessError, Request, Response
from conformance.oracle import Oracle
from conformance.run.safety import Planned, Withheld
from conformance.run.session import Session, new_run
from conformance.targets.http import HttpTarget

from conftest import run_suite

V18, V20 = "2023-11-01.18.0", "2024-07-01.20.0"
Q = (("api-version", V18),)
EXPENDABLE = {("pool-cs", "idle-1"), ("pool-cs", "running-1")}


@dataclass
class Seen:
    """One request as it reached the wire, and the status it got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class Recorder:
    """A loopback HTTP server that records every request and answers via `answer` (or forwards upstream)."""

    upstream: str | None = None
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)  # status, headers, delay
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Recorder:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                owner.seen.append(seen)
                status, headers, payload = owner.answer(seen)
                seen.status = status
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if self.upstream is None:
            status, headers, delay = self.script.pop(0) if self.script else (202, {}, 0.0)
            time.sleep(delay)
            return status, headers, b""
        forwarded = {k: v for k, v in seen.headers.items() if k.lower() not in ("host", "content-length")}
        r = requests.request(seen.method, self.upstream + seen.path, headers=forwarded,
                             data=seen.body if seen.method != "GET" else None, timeout=10)
        keep = {k: v for k, v in r.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        return r.status_code, keep, r.content

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _inventory(expendable: set[tuple[str, str]], states: dict[str, str] | None = None) -> Inventory:
    doc = default_inventory().to_json()
    for pool in doc["pools"]:
        for node in pool["nodes"]:
            node["expendable"] = (pool["id"], node["id"]) in expendable
            node["state"] = (states or {}).get(node["id"], node["state"])
    return parse_inventory(doc, source="test inventory")


@pytest.fixture
def proxied() -> Iterator[tuple[EmbeddedEmulator, Recorder]]:
    with EmbeddedEmulator(inventory=_inventory(EXPENDABLE)) as emu:
        proxy = Recorder(upstream=emu.url).start()
        yield emu, proxy
        proxy.stop()


COMMANDS = ("run", "diff")  # one live-safety component, proven through both commands


@dataclass(frozen=True)
class Outcome:
    """What a command returned and wrote: results.json for run, diff.json for diff."""

    code: int
    doc: dict[str, Any]
    report: Path


def _command(command: str, tmp_path: Path, url: str, *flags: str, only: str = "NO-SERVER-ERROR",
             inventory: Inventory | None = None) -> Outcome:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps((inventory or _inventory(EXPENDABLE)).to_json()))
    report = tmp_path / "report"
    args = ("--target", url, "--inventory", str(path), "--only", only, *flags)
    if command == "run":
        run = run_suite(report, *args)
        return Outcome(run.code, run.results, report)
    code = main(["diff", "--from", V18, "--to", V20, "--profile", "quick", "--report-dir", str(report), *args])
    return Outcome(code, json.loads((report / "diff.json").read_text()), report)


def _could_be_accepted(seen: Seen, inventory: Inventory) -> bool:
    path, _, query = seen.path.partition("?")
    parts = path.split("/")
    if len(parts) != 6 or parts[-1] != "reimage":
        return False
    from urllib.parse import parse_qsl, unquote

    pairs = tuple(parse_qsl(query, keep_blank_values=True))
    version = dict(pairs).get("api-version", V18)
    request = Request(unquote(parts[2]), unquote(parts[4]), method=seen.method, query=pairs,
                      headers=tuple(seen.headers.items()), body=seen.body or None)
    return 202 in Oracle(inventory, version if version in (V18, V20) else V18).expect(request).statuses


@pytest.mark.parametrize("command", COMMANDS)
def test_command_without_allow_destructive_sends_no_acceptable_request(
        command: str, tmp_path: Path, proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    emu, proxy = proxied
    outcome = _command(command, tmp_path, proxy.url)
    posts = [s for s in proxy.seen if s.method == "POST"]
    assert outcome.code == 0 and posts  # the negative cases ran
    assert emu.app.accepted == 0 and not any(s.status == 202 for s in proxy.seen)
    assert not any(_could_be_accepted(s, _inventory(EXPENDABLE)) for s in posts)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_allow_destructive_at_most_n_only_expendable(command: str, tmp_path: Path,
                                                             proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    emu, proxy = proxied
    _command(command, tmp_path, proxy.url, "--allow-destructive", "--max-reimages", "2", "--watch-seconds", "1")
    accepted = [s for s in proxy.seen if s.status == 202]
    assert 1 <= len(accepted) <= 2 and emu.app.accepted == len(accepted)
    inventory = _inventory(EXPENDABLE)
    for seen in proxy.seen:
        if seen.method == "POST" and _could_be_accepted(seen, inventory):
            pool, node = seen.path.split("?")[0].split("/")[2:5:2]
            assert (pool.lower(), node) in EXPENDABLE


@pytest.mark.parametrize("command", COMMANDS)
def test_command_node_not_idle_on_service_never_reimaged(command: str, tmp_path: Path) -> None:
    only_idle_1 = {("pool-cs", "idle-1")}
    with EmbeddedEmulator(inventory=_inventory(only_idle_1, {"idle-1": "rebooting"})) as emu:
        proxy = Recorder(upstream=emu.url).start()
        outcome = _command(command, tmp_path, proxy.url, "--allow-destructive", "--max-reimages", "5",
                           only="SEM-ACCEPT", inventory=_inventory(only_idle_1))  # the command believes it idle
        proxy.stop()
    read = [s for s in proxy.seen if s.method == "GET" and s.path.startswith("/pools/pool-cs/nodes/idle-1?")]
    assert emu.app.accepted == 0 and read  # Get Node was asked before each request that could have reimaged it
    withheld = outcome.doc["withheld_reasons"] if command == "diff" else [outcome.doc["requirements"]["SEM-ACCEPT"]
                                                                          ["reason"]]
    assert any("rebooting" in reason for reason in withheld)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_slow_target_harness_error_after_request_timeout(command: str, tmp_path: Path) -> None:
    server = Recorder(script=[(202, {}, 1.5)] * 3).start()
    started = time.monotonic()
    outcome = _command(command, tmp_path, server.url, "--request-timeout", "0.3", only="SEM-POOL-NOT-FOUND")
    server.stop()
    assert outcome.code == 2 and time.monotonic() - started < 10
    assert "did not answer within 0.3 s" in json.dumps(outcome.doc)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_rate_limit_spaces_requests(command: str, tmp_path: Path,
                                            proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    _, proxy = proxied
    started = time.monotonic()
    _command(command, tmp_path, proxy.url, "--rate", "40", only="SEM-POOL-NOT-FOUND")
    elapsed = time.monotonic() - started
    assert len(proxy.seen) >= 10 and elapsed >= (len(proxy.seen) - 1) / 40 * 0.9


def _session(url: str, inventory: Inventory, *, watch_seconds: float = 900.0, max_reimages: int = 5) -> Session:
    settings = Settings(target=url, api_version=V18, allow_destructive=True, max_reimages=max_reimages,
                        watch_seconds=watch_seconds)
    return Session(settings, HttpTarget(url), inventory, new_run(settings, url, "test"))


def _planned(session: Session, request: Request) -> Planned:
    return Planned(request, session.oracle.expect(request), session.node_state)


def test_live_safety_node_not_idle_on_service_withheld_nothing_posted() -> None:
    with EmbeddedEmulator(inventory=_inventory(EXPENDABLE, {"idle-1": "rebooting"})) as emu:
        proxy = Recorder(upstream=emu.url).start()
        session = _session(proxy.url, _inventory(EXPENDABLE))  # the run believes idle-1 is idle
        with pytest.raises(Withheld, match="rebooting"):
            session.safety.admit(_planned(session, Request("pool-cs", "idle-1", query=Q)))
        proxy.stop()
    assert [s.method for s in proxy.seen] == ["GET"] and proxy.seen[0].path.startswith("/pools/pool-cs/nodes/idle-1?")
    assert session.safety.spent == 0  # a withheld request spends none of --max-reimages


def test_live_safety_idle_node_passes_negative_request_reads_nothing(
        proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    _, proxy = proxied
    session = _session(proxy.url, _inventory(EXPENDABLE))
    session.safety.admit(_planned(session, Request("pool-cs", "running-1", query=Q)))
    session.safety.admit(_planned(session, Request("no-such-pool", "idle-1", query=Q)))
    assert [s.method for s in proxy.seen] == ["GET"] and session.safety.spent == 1


def test_live_safety_budget_counts_every_request_of_one_admission(proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    _, proxy = proxied
    session = _session(proxy.url, _inventory(EXPENDABLE), max_reimages=1)
    both = [_planned(session, Request("pool-cs", node, query=Q)) for node in ("idle-1", "running-1")]
    with pytest.raises(Withheld, match="--max-reimages 1"):
        session.safety.admit(*both)
    assert session.safety.spent == 0 and proxy.seen == []


def test_live_safety_watch_polls_until_idle_again() -> None:
    with EmbeddedEmulator(inventory=_inventory(EXPENDABLE), reimage_seconds=0.3) as emu:
        session = _session(emu.url, _inventory(EXPENDABLE))
        session.safety.poll = 0.05
        planned = _planned(session, Request("pool-cs", "idle-1", query=Q))
        response = session.target.send(planned.request)
        watch = session.safety.watch(planned, response)
    assert response.status == 202 and watch is not None and watch.settled and watch.states[0] == "reimaging"
    assert watch.states[-1] == "idle" and 0.2 <= watch.waited < 5


def test_live_safety_watch_time_limit_stops_watching() -> None:
    with EmbeddedEmulator(inventory=_inventory(EXPENDABLE), reimage_seconds=60) as emu:
        session = _session(emu.url, _inventory(EXPENDABLE), watch_seconds=0.3)
        session.safety.poll = 0.05
        planned = _planned(session, Request("pool-cs", "idle-1", query=Q))
        watch = session.safety.watch(planned, session.target.send(planned.request))
    assert watch is not None and not watch.settled and set(watch.states) == {"reimaging"} and watch.waited < 2


def test_live_safety_error_response_not_watched(proxied: tuple[EmbeddedEmulator, Recorder]) -> None:
    _, proxy = proxied
    session = _session(proxy.url, _inventory(EXPENDABLE))
    assert session.safety.watch(_planned(session, Request("pool-cs", "idle-1", query=Q)), Response(409)) is None
    assert proxy.seen == []


def test_http_target_rate_limit_spaces_requests() -> None:
    server = Recorder().start()
    target = HttpTarget(server.url, rate=20)
    started = time.monotonic()
    for _ in range(5):
        target.send(Request("p", "n", query=Q))
    server.stop()
    assert time.monotonic() - started >= 4 / 20 * 0.95 and len(server.seen) == 5


def test_http_target_retries_503_per_retry_after_within_budget() -> None:
    past = "Sun, 06 Nov 1994 08:49:37 GMT"  # an HTTP-date already past: retry at once
    server = Recorder(script=[(503, {"Retry-After": "1"}, 0.0), (429, {"Retry-After": past}, 0.0)]).start()
    started = time.monotonic()
    answer = HttpTarget(server.url, retry_budget=5).send(Request("p", "n", query=Q))
    server.stop()
    assert answer.status == 202 and len(server.seen) == 3 and 1.0 <= time.monotonic() - started < 2.0


def test_http_target_retry_after_beyond_budget_not_retried() -> None:
    server = Recorder(script=[(503, {"Retry-After": "3"}, 0.0)]).start()
    answer = HttpTarget(server.url, retry_budget=1).send(Request("p", "n", query=Q))
    server.stop()
    assert answer.status == 503 and len(server.seen) == 1


def test_http_target_slow_answer_harness_error_after_timeout() -> None:
    server = Recorder(script=[(202, {}, 1.5)]).start()
    started = time.monotonic()
    with pytest.raises(HarnessError, match="did not answer within"):
        HttpTarget(server.url, timeout=0.3).send(Request("p", "n", query=Q))
    server.stop()
    assert time.monotonic() - started < 1.4


ACCOUNT = "acct"
KEY = base64.b64encode(b"safety-test-secret-key-" * 2).decode()
TOKEN = "safety-bearer-token-0123456789abcdef"


@pytest.mark.parametrize("auth", ["sharedkey", "bearer"])
def test_run_with_secrets_report_dir_never_contains_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         auth: str) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = AuthConfig(ACCOUNT, KEY, frozenset({TOKEN}))
    with EmbeddedEmulator(auth=config, fault="error-no-request-id") as emu:
        report = tmp_path / "report"
        results = run_suite(report, "--target", emu.url, "--auth", auth, "--account-name", ACCOUNT, "--only",
                            "ERR-REQUEST-ID", "--only", "SEM-POOL-NOT-FOUND", "--record",
                            str(report / "traffic.har")).requirements
    assert results["ERR-REQUEST-ID"]["status"] == "fail"  # a failure report was written
    assert results["SEM-POOL-NOT-FOUND"]["status"] == "pass"  # signed requests got through
    files = [p for p in report.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        text = path.read_text(errors="replace")
        assert KEY not in text and TOKEN not in text, path.name
        assert f"SharedKey {ACCOUNT}:" not in text.replace(f"SharedKey {ACCOUNT}:REDACTED", ""), path.name


@pytest.mark.parametrize("auth", ["sharedkey", "bearer"])
def test_diff_with_secrets_report_dir_never_contains_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          auth: str) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = AuthConfig(ACCOUNT, KEY, frozenset({TOKEN}))
    report = tmp_path / "report"
    with EmbeddedEmulator(auth=config, fault="unknown-node-500-newer-versions") as emu:  # an unexpected difference
        code = main(["diff", "--from", V18, "--to", V20, "--target-from", emu.url, "--target-to", emu.url + "/",
                     "--auth", auth, "--account-name", ACCOUNT, "--only", "SEM-NODE-NOT-FOUND", "--report-dir",
                     str(report), "--record", str(report / "traffic.har")])
    doc = json.loads((report / "diff.json").read_text())
    assert code == 1 and doc["cases"] > 0  # signed requests got through, and a difference was written up
    files = [p for p in report.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"diff.json", "junit.xml", "report.html", "traffic.har"}
    har = json.loads((report / "traffic.har").read_text())
    urls = [e["request"]["url"] for e in har["log"]["entries"]]
    assert any(f"api-version={V18}" in u for u in urls) and any(f"api-version={V20}" in u for u in urls)
    for path in files:
        text = path.read_text(errors="replace")
        assert KEY not in text and TOKEN not in text, path.name
        assert f"SharedKey {ACCOUNT}:" not in text.replace(f"SharedKey {ACCOUNT}:REDACTED", ""), path.name
