"""Turn a failing exchange into what a person needs: request, response, expectation, reproduction."""

from __future__ import annotations

import html
import re
import shlex
from typing import Any

from conformance.config import Settings
from conformance.models import Exchange, Request, RequirementFailure, Response
from conformance.redaction import echoable, redact_headers, redact_text
from conformance.reporting.buckets import signature

BODY_SHOWN = 2048
EMULATOR_PORT = 8765
# What no report may hold, or a terminal would obey: C0 controls but tab and line ends, DEL, lone surrogates.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def shown(value: object, extra: tuple[str, ...] = ()) -> str:
    """Text as a report or a terminal shows it: secrets redacted (registered ones and `extra`), and characters
    that HTML, XML, UTF-8 files or terminals cannot take safely replaced by U+FFFD. Whatever bytes a target
    sends, every report stays writable and parseable."""
    return _UNSHOWABLE.sub("\ufffd", redact_text(str(value), extra))


def html_text(value: object) -> str:
    """Text for an HTML report: shown() (secrets redacted, unshowable characters replaced), then escaped."""
    return html.escape(shown(value))


def body_text(body: bytes | None, extra: tuple[str, ...] = (), note: str = "") -> str | None:
    """A body as reports show it: decoded leniently, cut after BODY_SHOWN bytes (saying how long it was),
    secrets redacted; None for no body. `note` says why the body read is not the whole body sent."""
    if body is None:
        return None
    text = body[:BODY_SHOWN].decode("utf-8", errors="replace")
    if len(body) > BODY_SHOWN:
        text += f"... ({len(body)} bytes read)"
    if note:
        text += f" [{note}]"
    return shown(text, extra)


def request_record(request: Request, url: str) -> dict[str, Any]:
    """A request as reports show it (secrets redacted, big bodies cut)."""
    return {"method": request.method, "url": shown(url),
            "headers": {shown(k): shown(v) for k, v in redact_headers(request.headers)},
            "body": body_text(request.body)}


def response_record(response: Response, echoed: tuple[str, ...] = ()) -> dict[str, Any]:
    """A response as reports show it (secrets redacted, those the request carried too; big bodies cut)."""
    return {"status": response.status,
            "headers": {shown(k): shown(v) for k, v in redact_headers(response.headers, echoed)},
            "body": body_text(response.body, echoed, response.note)}


def failure_record(exchange: Exchange, failure: RequirementFailure, *, url: str, curl: str, reproduce: str,
                   flaky: bool = False) -> dict[str, Any]:
    """The first_failure entry of results.json and the report: what went wrong, the exchange, how to replay."""
    echoed = echoable((exchange.sent or exchange.request).headers)
    return {
        "requirement": failure.requirement,
        "message": shown(failure.detail, echoed),
        "expected": shown(failure.expected or exchange.expectation.describe(), echoed),
        "flaky": flaky,
        "request": request_record(exchange.request, url),
        "response": response_record(exchange.response, echoed),
        "curl": shown(curl),
        "reproduce": shown(reproduce),
        "signature": signature(exchange),  # what groups it with failures of the same cause (reporting.buckets)
    }


def curl_command(request: Request, base_url: str) -> str:
    """A curl command that sends the same request (secrets redacted; huge bodies generated)."""
    parts = ["curl", "-i", "-X", request.method, shlex.quote(base_url.rstrip("/") + request.path_and_query)]
    for name, value in redact_headers(request.headers):
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    prefix = ""
    body = request.body
    if body is not None:
        if len(body) <= BODY_SHOWN:
            parts += ["--data-binary", shlex.quote(body.decode("latin-1")) if body else "''"]
        elif body == body[:1] * len(body):
            prefix = f"head -c {len(body)} /dev/zero | tr '\\0' {shlex.quote(body[:1].decode('latin-1'))} | "
            parts += ["--data-binary", "@-"]
        else:
            parts += ["--data-binary", "@body.bin"]
    return prefix + " ".join(parts)


def reproduce_command(settings: Settings, requirement: str, also: tuple[str, ...] = ()) -> str:
    """The batch-conformance command that replays this requirement's examples exactly."""
    parts = ["batch-conformance", "run"]
    if settings.target:
        parts += ["--target", settings.target]
    if settings.inventory:
        parts += ["--inventory", settings.inventory]
    if settings.emulator_fault:
        parts += ["--emulator-fault", settings.emulator_fault]
    if settings.account_name:
        parts += ["--auth", settings.auth, "--account-name", settings.account_name]
    if settings.allow_destructive:
        parts += ["--allow-destructive", "--max-reimages", str(settings.max_reimages)]
    if settings.disposable:
        parts.append("--disposable")
    if settings.rate:
        parts += ["--rate", f"{settings.rate:g}"]
    if settings.request_timeout != Settings.request_timeout:
        parts += ["--request-timeout", f"{settings.request_timeout:g}"]
    if settings.max_body_bytes != Settings.max_body_bytes:  # a body over the cap fails: the cap decides
        parts += ["--max-body-bytes", str(settings.max_body_bytes)]
    if not settings.schemathesis:
        parts.append("--no-schemathesis")
    parts += ["--api-version", settings.api_version, "--profile", settings.profile,
              "--seed", str(settings.seed)]
    for rid in (*also, requirement):
        parts += ["--only", rid]
    return " ".join(shlex.quote(p) for p in parts)


def describe_failure(exchange: Exchange, failure: RequirementFailure, settings: Settings, *,
                     flaky: bool = False, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """A failure of a run: everything needed to see it and replay it with the same settings."""
    req, base = exchange.request, exchange.base_url
    curl = curl_command(req, base)
    if settings.embedded:
        fault = f" --fault {shlex.quote(settings.emulator_fault)}" if settings.emulator_fault else ""
        if settings.inventory:
            fault += f" --inventory {shlex.quote(settings.inventory)}"
        curl = (f"# start the emulator first: batch-conformance emulator --port {EMULATOR_PORT}{fault}\n"
                + curl_command(req, f"http://127.0.0.1:{EMULATOR_PORT}"))
    record = failure_record(exchange, failure, url=base + req.path_and_query, curl=curl, flaky=flaky,
                            reproduce=reproduce_command(settings, failure.requirement, also))
    # set when the example was generated for another requirement's property (reported as found, unshrunk)
    return record | {"observed_during": also[0] if also else None}
