"""Bad input and broken targets end in a clear message and exit 2, never a traceback; reports are kept."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main

from conftest import read_results, run_suite


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """A run refused before it starts: its exit code and stderr (no results.json is written, unlike run_suite)."""
    code = main(["run", "-q", "--profile", "quick", "--report-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(("args", "fragment"), [
    (["--profile", "fastest"], "--profile"),
    (["--api-version", "1999-01-01"], "--api-version"),
    (["--only", "NOT-A-REQUIREMENT"], "--only NOT-A-REQUIREMENT"),
    (["--target", "ftp://example"], "--target"),
    (["--inventory", "/no/such/inventory.json"], "cannot read inventory"),
    (["--emulator-fault", "no-such-fault"], "no-such-fault"),
])
def test_run_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             args: list[str], fragment: str) -> None:
    code, err = _run(tmp_path, capsys, *args)
    assert code == 2 and fragment in err and err.startswith("batch-conformance: error:")


def test_run_malformed_inventory_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps({"pools": [{"id": "p", "configuration": "cloudServiceConfiguration",
                                                "nodes": [{"id": "n", "state": "napping"}]}]}))
    code, err = _run(tmp_path, capsys, "--inventory", str(inventory))
    assert code == 2 and "pools[0].nodes[0].state" in err


def test_run_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--definitely-not-a-flag"])
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_unreachable_target_exits_2_and_still_writes_reports(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = run_suite(tmp_path, "--target", f"http://127.0.0.1:{_closed_port()}", profile=None, schemathesis=True)
    assert run.code == 2
    results = run.results
    assert results["verdict"] == "error" and results["harness_errors"]
    assert {r["status"] for r in results["requirements"].values()} == {"error"}
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "report.html").is_file()
    assert "cannot reach" in capsys.readouterr().out


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A TCP server that answers every connection with bytes that are not HTTP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"garbage garbage\r\n\r\n{not http")

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_run_target_answering_garbage_is_a_harness_error(tmp_path: Path, garbage_server: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = run_suite(tmp_path, "--target", garbage_server, profile=None, schemathesis=True)
    assert run.code == 2
    assert "not HTTP" in capsys.readouterr().out
    assert run.results["verdict"] == "error"


def test_run_stopped_early_reports_unrun_requirements_as_errors(tmp_path: Path) -> None:
    from conformance.run.command import SUITE_DIR

    # -x stops at the first failure: what never ran must not look like a pass
    pytest.main([str(SUITE_DIR), "-q", "-p", "no:cacheprovider", "-c", str(SUITE_DIR / "pytest.ini"),
                 "--rootdir", str(SUITE_DIR), "-x", "--bc-profile", "quick", "--bc-no-schemathesis",
                 "--bc-emulator-fault", "status-200", "--bc-report-dir", str(tmp_path)])
    results = read_results(tmp_path)
    statuses = {rid: r["status"] for rid, r in results["requirements"].items()}
    assert "fail" in statuses.values() and "error" in statuses.values()
    assert all(r["reason"].startswith("not run: the run stopped early") for r in results["requirements"].values()
               if r["status"] == "error")
    assert results["verdict"] == "fail"


def test_run_url_target_without_inventory_discovers_it_and_withholds_reimages(tmp_path: Path) -> None:
    from conformance.emulator import EmbeddedEmulator

    with EmbeddedEmulator() as emulator:
        run = run_suite(tmp_path, "--target", emulator.url)
        reimaged = [n.id for p in emulator.state.pools.values() for n in p.nodes.values() if n.reimages]
    results = run.requirements
    # discovered nodes are never expendable: nothing was reimaged, so what needs a 202 stays undecided (exit 3)
    assert run.code == 3 and reimaged == [] and run.results["verdict"] == "incomplete"
    assert results["SEM-POOL-NOT-FOUND"]["status"] == "pass"  # the discovered inventory decides 404s
    assert results["SEM-ACCEPT"]["status"] == "undecided" and "expendable" in results["SEM-ACCEPT"]["reason"]


def test_run_url_target_answering_non_json_pools_is_a_harness_error(tmp_path: Path, garbage_json_server: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "-q", "--target", garbage_json_server, "--report-dir", str(tmp_path)])
    assert code == 2 and "not JSON" in capsys.readouterr().out


@pytest.fixture
def garbage_json_server() -> Iterator[str]:
    """An HTTP server whose every answer is 200 with a body that is not JSON."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not json</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
