"""Secrets are scrubbed at the single redaction point."""

from __future__ import annotations

from conformance.redaction import (
    echoable,
    redact_headers,
    redact_text,
    redact_url,
    register_secret,
    register_url_secret,
)


def test_redact_headers_authorization_keeps_scheme_only() -> None:
    headers = redact_headers([("Authorization", "SharedKey acct:c2lnbmF0dXJl"), ("request-id", "x")])
    assert headers == (("Authorization", "SharedKey REDACTED"), ("request-id", "x"))


def test_redact_text_bearer_and_shared_key_shapes() -> None:
    text = "Authorization: Bearer eyJ0eXAi.abc.def and SharedKey acct:AbCd+/== and AccountKey=Zm9vYmFy;"
    out = redact_text(text)
    assert "eyJ0eXAi" not in out and "AbCd+/==" not in out and "Zm9vYmFy" not in out


def test_redact_text_registered_secret_anywhere() -> None:
    register_secret("s3cr3t-value-xyz")
    assert "s3cr3t-value-xyz" not in redact_text("the key s3cr3t-value-xyz leaked")


def test_redact_text_url_userinfo_never_shows_the_password() -> None:
    out = redact_text("target https://vendor:pa55w0rd-xyz@batch.example/ and http://tok3n-abcdef@h:1/p?x=a@b")
    assert "pa55w0rd-xyz" not in out and "tok3n-abcdef" not in out and "vendor" not in out
    assert "https://REDACTED@batch.example/" in out and "?x=a@b" in out


def test_redact_url_keeps_scheme_host_port_path_and_hides_query_values() -> None:
    assert redact_url("https://u:p@acct.region.batch.azure.com:443/base?sig=abc&flag#frag") == (
        "https://REDACTED@acct.region.batch.azure.com:443/base?sig=REDACTED&flag")


def test_redact_text_url_userinfo_removed_host_kept() -> None:
    out = redact_text("batch-conformance run --target https://user:p%40ss@acct.westeurope.batch.azure.com/x")
    assert out == "batch-conformance run --target https://REDACTED@acct.westeurope.batch.azure.com/x"


def test_register_url_secret_scrubs_an_echoed_password() -> None:
    register_url_secret("sdk+https://alice:pa55-word-in-url@example.invalid")
    assert redact_text('{"message": "user alice, password pa55-word-in-url"}') == \
        '{"message": "user alice, password REDACTED"}'


def test_redact_text_shared_key_in_json_escaped_form() -> None:
    assert "c2ln\\/bmF0dXJl" not in redact_text('{"value": "SharedKey acct:c2ln\\/bmF0dXJlLXh5eg=="}')


def test_echoable_bare_signature_scrubbed_from_an_echo() -> None:
    signature = "k7oR8wX1yZ2aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV="
    echoed = echoable([("Authorization", f"SharedKey acct:{signature}"), ("client-request-id", "x" * 36)])
    body = f"The MAC signature found in the HTTP request '{signature}' is not the same"
    assert signature in echoed and redact_text(body, echoed) == \
        "The MAC signature found in the HTTP request 'REDACTED' is not the same"


def test_shown_replaces_controls_and_lone_surrogates_keeps_layout() -> None:
    from conformance.reporting.failures import shown

    assert shown("a\x00b\x1b[31mc\ud800d\te\nf\x7f") == "a\ufffdb\ufffd[31mc\ufffdd\te\nf\ufffd"
