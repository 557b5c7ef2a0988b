"""Secrets are scrubbed at the single redaction point."""

from __future__ import annotations

from conformance.redaction import redact_headers, redact_text, redact_url, register_secret


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
