"""What bounds a run (targets/guard.py) and how the HTTP target reads what comes back: deadlines, the
breaker, the stop, Retry-After per RFC 9110, bodies under a cap; against the hostile target's real server."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from conformance.config import load_settings
from conformance.models import HarnessError, Request, Response, UsageError
from conformance.targets.guard import Guard, Stopped
from conformance.targets.http import HttpTarget, retry_after

from hostile import HostileServer

Q = (("api-version", "2023-11-01.18.0"),)
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("0", 0.0),
    ("Thu, 01 Jan 2026 12:01:00 GMT", 60.0),  # IMF-fixdate
    ("Thursday, 01-Jan-26 12:00:30 GMT", 30.0),  # RFC 850, obsolete but to be read
    ("Thu Jan  1 12:00:10 2026", 10.0),  # asctime, obsolete but to be read
    ("Wed, 31 Dec 2025 12:00:00 GMT", 0.0),  # a date already past: retry at once
])
def test_retry_after_delay_seconds_or_http_date_read(value: str, seconds: float) -> None:
    assert retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize("value", ["NaN", "1.5", "-1", "inf", "soon", "", "1e3", "0x10", "١٢"])
def test_retry_after_anything_else_counts_as_absent(value: str) -> None:
    assert retry_after(value, now=NOW) is None


def test_guard_breaker_opens_after_troubles_in_a_row_only() -> None:
    guard = Guard(trouble_limit=3)
    for _ in range(2):
        guard.trouble("timed out")
    guard.answered()  # a good answer in between: the count starts again
    guard.trouble("timed out")
    guard.trouble("timed out")
    assert not guard.stopped
    guard.trouble("503")
    with pytest.raises(Stopped, match=r"3 requests in a row met trouble .* the last: 503"):
        guard.check()


def test_guard_max_duration_stops_once_passed() -> None:
    guard = Guard(max_duration=0.05)
    guard.check()
    time.sleep(0.06)
    with pytest.raises(Stopped, match=r"--max-duration of 0\.05 s"):
        guard.check()


def test_http_target_request_deadline_covers_trickled_headers() -> None:
    with HostileServer("slow-headers") as server:
        target = HttpTarget(server.url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(HarnessError, match=r"did not answer within 0\.3 s"):
            target.send(Request("p", "n", query=Q))
        target.close()
    assert time.monotonic() - started < 2  # a byte every 0.05 s never trips a per-read timeout


def test_http_target_stop_cuts_the_request_in_flight() -> None:
    guard = Guard()
    with HostileServer("silent") as server:
        target = HttpTarget(server.url, timeout=30, guard=guard)
        threading.Timer(0.2, guard.stop, args=("interrupted by SIGTERM",)).start()
        started = time.monotonic()
        with pytest.raises(Stopped, match="interrupted by SIGTERM"):
            target.send(Request("p", "n", query=Q))
        with pytest.raises(Stopped):  # and nothing more is sent
            target.send(Request("p", "n", query=Q))
        target.close()
        guard.close()
    assert time.monotonic() - started < 2 and len(server.seen) == 1


def test_http_target_body_over_cap_kept_cut_with_note() -> None:
    with HostileServer("huge-body") as server:
        target = HttpTarget(server.url, max_body=4096)
        response = target.send(Request("p", "n", query=Q))
        target.close()
    assert response.status == 404 and len(response.body) == 4096
    assert response.note.startswith("larger than the 4096-byte cap (Content-Length 209715200)")
    with pytest.raises(ValueError, match="not read whole"):
        response.json()


def test_http_target_gzip_body_decoded_across_members() -> None:
    with HostileServer("gzipped") as server:
        target = HttpTarget(server.url)
        response = target.send(Request("p", "n", query=Q))
        target.close()
    assert response.note == "" and response.json()["code"] == "PoolNotFound"


def test_response_json_too_deep_is_value_error() -> None:
    with pytest.raises(ValueError, match="nests deeper than the parser follows"):
        Response(404, body=b"[" * 100_000 + b"]" * 100_000).json()


@pytest.mark.parametrize(("flag", "value"), [("request_timeout", "0"), ("request_timeout", "nan"),
                                             ("max_duration", "-1"), ("max_body_bytes", "10")])
def test_settings_limits_refuse_values_that_bound_nothing(flag: str, value: str) -> None:
    with pytest.raises(UsageError, match="--" + flag.replace("_", "-")):
        load_settings({flag: value}, environ={})
