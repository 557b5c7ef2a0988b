"""Record the traffic a run sent as HAR 1.2 (redacted at the single point where it is recorded)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance import __version__
from conformance.models import Request, Response
from conformance.redaction import redact_headers, redact_text


def _headers(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in redact_headers(pairs)]


def _text(body: bytes | None) -> str:
    return redact_text(body.decode("utf-8", errors="replace")) if body else ""


def har_entry(request: Request, response: Response, base_url: str) -> dict[str, Any]:
    """One HAR entry for an exchange, secrets redacted."""
    url = base_url.rstrip("/") + request.path_and_query
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
                     "headers": _headers(response.headers), "cookies": [],
                     "content": {"size": len(response.body),
                                 "mimeType": response.header("Content-Type") or "",
                                 "text": _text(response.body)},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(response.body)},
        "cache": {}, "timings": {"send": 0, "wait": round(response.elapsed * 1000, 3), "receive": 0},
    }


class TrafficRecorder:
    """Collects exchanges and writes them as one HAR file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, request: Request, response: Response, base_url: str) -> None:
        """Record one exchange."""
        entry = har_entry(request, response, base_url)
        with self._lock:
            self.entries.append(entry)

    def write(self) -> Path:
        """Write the HAR file and return its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"log": {"version": "1.2", "creator": {"name": "batch-conformance", "version": __version__},
                       "entries": self.entries}}
        self.path.write_text(json.dumps(doc, indent=1))
        return self.path
