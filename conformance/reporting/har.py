"""Record the traffic a run sent as HAR 1.2 (redacted at the single point where it is recorded).

Entries go to the file as they are recorded, not into memory: a long run against a target with large answers
must not grow without bound (each body is already cut at the run's --max-body-bytes).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance import __version__
from conformance.models import Request, Response
from conformance.redaction import echoable, redact_headers, redact_text


def _headers(pairs: tuple[tuple[str, str], ...], echoed: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in redact_headers(pairs, echoed)]


def _text(body: bytes | None, echoed: tuple[str, ...] = ()) -> str:
    return redact_text(body.decode("utf-8", errors="replace"), echoed) if body else ""


def har_entry(request: Request, response: Response, base_url: str) -> dict[str, Any]:
    """One HAR entry for an exchange, secrets redacted (those the request carried too, wherever the target
    echoes them)."""
    url = base_url.rstrip("/") + request.path_and_query
    echoed = echoable(request.headers)
    req: dict[str, Any] = {
        "method": request.method, "url": redact_text(url), "httpVersion": "HTTP/1.1",
        "headers": _headers(request.headers), "cookies": [],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query,
                                                                       keep_blank_values=True)],
        "headersSize": -1, "bodySize": len(request.body) if request.body is not None else 0,
    }
    if request.body is not None:
        req["postData"] = {"mimeType": request.header("Content-Type") or "", "text": _text(request.body)}
    return {
        "startedDateTime": datetime.now(UTC).isoformat(), "time": round(response.elapsed * 1000, 3),
        "request": req,
        "response": {"status": response.status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "headers": _headers(response.headers, echoed), "cookies": [],
                     "content": {"size": len(response.body),
                                 "mimeType": response.header("Content-Type") or "",
                                 "text": _text(response.body, echoed),
                                 **({"comment": response.note} if response.note else {})},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(response.body)},
        "cache": {}, "timings": {"send": 0, "wait": round(response.elapsed * 1000, 3), "receive": 0},
    }


class TrafficRecorder:
    """Writes exchanges to one HAR file as they come; write() completes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._file: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
            creator = json.dumps({"name": "batch-conformance", "version": __version__})
            self._file.write(f'{{"log": {{"version": "1.2", "creator": {creator}, "entries": [\n')
        return self._file

    def add(self, request: Request, response: Response, base_url: str) -> None:
        """Record one exchange."""
        self.add_entry(har_entry(request, response, base_url))

    def add_entry(self, entry: dict[str, Any]) -> None:
        """Write one HAR entry (already redacted)."""
        text = json.dumps(entry, indent=1)
        with self._lock:
            self._open().write((",\n" if self.count else "") + text)
            self.count += 1

    def write(self) -> Path:
        """Complete the HAR file (also when nothing was recorded) and return its path."""
        with self._lock:
            handle = self._open()
            if not handle.closed:
                handle.write("\n]}}\n")
                handle.close()
        return self.path


def join_har(parts: list[Path], path: Path) -> Path:
    """One HAR file of several (the workers' parts of a parallel run's --record): each part's entries in turn,
    one part in memory at a time."""
    recorder = TrafficRecorder(path)
    for part in parts:
        for entry in json.loads(part.read_text(encoding="utf-8"))["log"]["entries"]:
            recorder.add_entry(entry)
    return recorder.write()
