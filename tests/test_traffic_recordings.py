"""validate-traffic on recordings as users have them: test-proxy files, bodiless answers, sanitizer placeholders."""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.models import Exchange, Expectation, NotApplicable, Request, Response

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _exchange(method: str, status: int, body: bytes = b"") -> Exchange:
    return Exchange(Request("p", "n", method=method), Response(status, (("request-id", GUID),), body),
                    Expectation(frozenset()), "2023-11-01.18.0")


@pytest.mark.parametrize("requirement", ["ERR-CONTENT-TYPE", "ERR-BODY-SCHEMA", "ERR-MESSAGE-REQUEST-ID",
                                         "ERR-CODE-EXPECTED"])
def test_error_body_rules_head_answer_not_applicable(requirement: str) -> None:
    with pytest.raises(NotApplicable, match="a 404 answer to HEAD carries no body"):
        checks.CHECKS.get(requirement)(_exchange("HEAD", 404))


@pytest.mark.parametrize(("status", "decided"), [(503, False), (500, False), (502, True)])
def test_no_server_error_head_5xx_bodiless_only_transient_ones_undecided(status: int, decided: bool) -> None:
    exchange = _exchange("HEAD", status)
    if decided:
        with pytest.raises(AssertionError, match="server error 502"):
            checks.evaluate("NO-SERVER-ERROR", exchange)
    else:
        assert checks.evaluate("NO-SERVER-ERROR", exchange) is False
