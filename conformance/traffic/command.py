"""`batch-conformance validate-traffic`: check recorded exchanges against every single-exchange requirement.

Input: HAR 1.2 files, and JSON files holding one exchange or an array of them in the shape
{"request": {"method", "uri", "headers", "body" | "body_json"}, "response": {"status", "headers",
"body" | "body_json"}} (the shape of the live-service samples). Nothing is sent anywhere.

Each exchange gets an Oracle without inventory at the api-version its URL names; reimage exchanges meet
every check registered offline=True, other Batch operations only the generic rules (request-id, BatchError,
content type, the client-request-id echo), and so do reimage exchanges at an api-version the suite has no
data for. Requirements that need a live target are reported as skipped, never as passed.

The HTML report is our own self-contained page (report.standalone_html, the same summary and matrix as the
run report) rather than a pytest-html page: a nested pytest session would add seconds and a second plugin
configuration for no information a reviewer needs.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from conformance import __version__, checks
from conformance.models import Exchange, Observations, Request, RequirementFailure, Response, UsageError
from conformance.oracle import Oracle
from conformance.redaction import register_secret
from conformance.reporting.failures import curl_command, failure_record
from conformance.reporting.report import write_html, write_reports
from conformance.reporting.results import RequirementResult, RunResult
from conformance.rules import REIMAGE_PATH
from conformance.spec import catalogue, default_version, versions

# Rules every Batch operation follows; other operations' exchanges are checked against these only.
GENERIC = tuple(rid for rid, home in checks.CHECKS.items() if home.generic)
MAX_LOCATIONS = 20


@dataclass(frozen=True)
class Recorded:
    """One recorded exchange and where it was read from."""

    location: str
    file: str
    request: Request
    response: Response
    base_url: str
    url: str

    @property
    def api_version(self) -> str | None:
        """The api-version the request's URL names, if any."""
        return self.request.query_value("api-version")

    @property
    def is_reimage_path(self) -> bool:
        """Whether the request addresses the reimage path (with any method)."""
        return REIMAGE_PATH.match(self.request.target_path) is not None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE... and --report-dir."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="HAR 1.2 or JSON exchange files")
    parser.add_argument("--report-dir", default="reports",
                        help="where results.json, junit.xml and report.html go (default: reports)")


# --- reading --------------------------------------------------------------------------------------
class _EntryError(Exception):
    """An entry that cannot be read; turned into a UsageError naming file and entry."""


def _headers(raw: Any, what: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for h in raw:
            if isinstance(h, dict) and "name" in h:
                items.append((h["name"], h.get("value", "")))
            elif isinstance(h, list | tuple) and len(h) == 2:
                items.append((h[0], h[1]))
            else:
                raise _EntryError(f"{what} headers: {h!r} is not a {{name, value}} pair")
    else:
        raise _EntryError(f"{what} headers must be an object or a list, not {type(raw).__name__}")
    for name, value in items:
        if not isinstance(name, str) or name.startswith(":"):
            continue  # HTTP/2 pseudo-headers are not headers of the exchange
        values = value if isinstance(value, list) else [value]
        pairs.append((name, ", ".join("" if v is None else str(v) for v in values)))
    return tuple(pairs)


def _body(part: dict[str, Any], what: str) -> bytes | None:
    if "body_json" in part:
        return json.dumps(part["body_json"]).encode("utf-8")
    body = part.get("body")
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, dict | list):
        return json.dumps(body).encode("utf-8")
    raise _EntryError(f"{what} body must be a string, null or JSON, not {type(body).__name__}")


def _har_content(content: Any, what: str) -> bytes | None:
    if not isinstance(content, dict) or content.get("text") is None:
        return None
    text = content["text"]
    if not isinstance(text, str):
        raise _EntryError(f"{what} text must be a string")
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise _EntryError(f"{what} text is not valid base64") from None
    return text.encode("utf-8")


def _register_credentials(headers: tuple[tuple[str, str], ...]) -> None:
    """Secrets found in the input are scrubbed wherever they appear again (bodies, messages)."""
    for name, value in headers:
        if name.lower() == "authorization":
            credential = value.split(" ", 1)[-1].strip()
            register_secret(credential)
            register_secret(credential.rsplit(":", 1)[-1])  # the Shared Key signature alone


def _exchange(file: str, index: int, method: Any, url: Any, req_headers: tuple[tuple[str, str], ...],
              req_body: bytes | None, status: Any, resp_headers: tuple[tuple[str, str], ...],
              resp_body: bytes | None) -> Recorded:
    if not isinstance(method, str) or not method:
        raise _EntryError("request.method is missing")
    if not isinstance(url, str) or not url:
        raise _EntryError("request URL is missing")
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise _EntryError(f"response.status {status!r} is not an HTTP status")
    _register_credentials(req_headers)
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    match = REIMAGE_PATH.match(parts.path)
    pool, node = (unquote(match["pool"]), unquote(match["node"])) if match else ("", "")
    request = Request(pool, node, method=method.upper(),
                      query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                      headers=req_headers, body=req_body, path=parts.path or "/")
    response = Response(int(status), resp_headers, resp_body or b"")
    return Recorded(f"{file} entry {index}", file, request, response, base, url)


def _from_har_entry(file: str, index: int, entry: Any) -> Recorded:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
            or not isinstance(entry.get("response"), dict):
        raise _EntryError("a HAR entry needs request and response objects")
    req, resp = entry["request"], entry["response"]
    return _exchange(file, index, req.get("method"), req.get("url"), _headers(req.get("headers"), "request"),
                     _har_content(req.get("postData"), "request.postData"), resp.get("status"),
                     _headers(resp.get("headers"), "response"), _har_content(resp.get("content"), "response.content"))


def _from_sample(file: str, index: int, entry: Any) -> Recorded:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict) \
            or not isinstance(entry.get("response"), dict):
        raise _EntryError("an exchange needs request and response objects")
    req, resp = entry["request"], entry["response"]
    return _exchange(file, index, req.get("method"), req.get("uri", req.get("url")),
                     _headers(req.get("headers"), "request"), _body(req, "request"), resp.get("status"),
                     _headers(resp.get("headers"), "response"), _body(resp, "response"))


def read_traffic(path: str | Path) -> list[Recorded]:
    """Every exchange in one file; UsageError naming the file (and entry) when it cannot be read."""
    name = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read traffic file {name}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"traffic file {name} is not UTF-8 text") from None
    except ValueError as err:
        raise UsageError(f"traffic file {name} is not JSON: {err}") from None
    if isinstance(doc, dict) and isinstance(doc.get("log"), dict):
        entries = doc["log"].get("entries")
        if not isinstance(entries, list):
            raise UsageError(f"traffic file {name}: HAR log has no entries array")
        reader = _from_har_entry
    elif isinstance(doc, list):
        entries, reader = doc, _from_sample
    elif isinstance(doc, dict) and "request" in doc:
        entries, reader = [doc], _from_sample
    else:
        raise UsageError(f"traffic file {name}: neither a HAR log nor exchanges "
                         '({"request": ..., "response": ...} or an array of them)')
    out = []
    for index, entry in enumerate(entries):
        try:
            out.append(reader(name, index, entry))
        except (_EntryError, TypeError, ValueError, AttributeError) as err:
            raise UsageError(f"traffic file {name}: entry {index}: {err}") from None
    return out


# --- checking -------------------------------------------------------------------------------------
def _failure(rec: Recorded, failure: RequirementFailure, exchange: Exchange) -> dict[str, Any]:
    curl = ("# the recorded request, as it was sent (this sends it again)\n"
            + curl_command(rec.request, rec.base_url or "https://ACCOUNT.REGION.batch.azure.com"))
    record = failure_record(exchange, failure, url=rec.url, curl=curl,
                            reproduce=f"batch-conformance validate-traffic {shlex.quote(rec.file)}")
    return record | {"location": rec.location}


class _Validator:
    """Applies the offline checks to recorded exchanges and accumulates per-requirement results."""

    def __init__(self, run: RunResult) -> None:
        self.run = run
        self.oracles: dict[str, Oracle] = {}
        self.offline = {rid for rid, c in checks.CHECKS.items() if c.offline}

    def _oracle(self, api_version: str) -> Oracle:
        if api_version not in self.oracles:
            self.oracles[api_version] = Oracle(None, api_version)
        return self.oracles[api_version]

    def applicable(self, rec: Recorded) -> tuple[str, list[str]]:
        """(api-version to judge by, the requirement IDs this exchange may decide)."""
        named = rec.api_version
        known = named in versions()
        judged = named if named is not None and known else default_version()
        if rec.is_reimage_path and (known or named is None):
            rids = sorted(self.offline)
        else:  # another operation, or an api-version the suite has no data for: the generic rules only
            rids = [rid for rid in GENERIC if rid in self.offline]
        return judged, [rid for rid in rids if rid in self.run.requirements]

    def check(self, rec: Recorded) -> None:
        """Decide every applicable requirement on one exchange."""
        api_version, rids = self.applicable(rec)
        oracle = self._oracle(api_version)
        exchange = Exchange(rec.request, rec.response, oracle.expect(rec.request), api_version, rec.base_url,
                            Observations(location=rec.location))
        for rid in rids:
            result = self.run.requirements[rid]
            try:
                decided = checks.evaluate(rid, exchange)
            except RequirementFailure as failure:
                result.broke()
                if result.first_failure is None:
                    result.fail(_failure(rec, failure, exchange))
                else:
                    others = result.first_failure.setdefault("other_locations", [])
                    if len(others) < MAX_LOCATIONS:
                        others.append(rec.location)
                continue
            if decided:
                result.met()

    def finish(self) -> None:
        """Settle every requirement: pass where an exchange decided it and none broke it, else say why not."""
        for rid, result in self.run.requirements.items():
            if rid in self.offline:
                result.settle("no recorded exchange could decide it", remedy="record traffic that exercises it")
            else:
                result.not_applicable("not decidable from recorded traffic: needs a live target (inventory, node "
                                      "state or several exchanges)")


def validate(files: list[str]) -> RunResult:
    """Read every file (all of them before checking any) and return the run's results."""
    started = time.monotonic()
    recorded = [rec for f in files for rec in read_traffic(f)]
    seen = sorted({rec.api_version or "(none)" for rec in recorded})
    run = RunResult(target="traffic: " + ", ".join(files), api_version=", ".join(seen) or "(none)", seed=None,
                    profile="recorded traffic", suite_version=__version__,
                    config={"files": list(files), "exchanges": len(recorded),
                            "reimage exchanges": sum(1 for r in recorded if r.is_reimage_path)})
    for rid, requirement in catalogue().items():
        run.requirements[rid] = RequirementResult(requirement)
    validator = _Validator(run)
    for rec in recorded:
        validator.check(rec)
    validator.finish()
    run.duration = time.monotonic() - started
    return run


def main(args: argparse.Namespace) -> int:
    """Validate, write the three reports, exit 0 (no MUST failed), 1 (a MUST failed) or 2 (bad input)."""
    run = validate(list(args.files))
    report_dir = Path(args.report_dir)
    try:
        write_reports(run, report_dir)
        write_html(run, report_dir / "report.html", "batch-conformance traffic validation")
    except OSError as err:
        raise UsageError(f"cannot write reports to {report_dir}: {err.strerror}") from None
    exchanges = run.config["exchanges"]
    failed = sorted(rid for rid, r in run.requirements.items() if r.status == "fail")
    print(f"batch-conformance: validated {exchanges} exchange(s); verdict {run.verdict.upper()}"
          + (f"; failing: {', '.join(failed)}" if failed else "")
          + f"; reports in {report_dir}/ (results.json, junit.xml, report.html)", file=sys.stdout)
    return 1 if run.verdict == "fail" else 0
