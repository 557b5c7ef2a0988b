"""Failure buckets: one root cause usually breaks several requirements, so failures are grouped by signature.

A failure's signature is the answer's status and error code and the class of input that drew it, read from the
oracle's expectation for the failing request: the requirement that governs each fault the request holds (the
oracle names it on every fault), or "valid request" when it holds none. The descriptions of those faults, with
the drawn values masked, say it in words. A request may hold several faults (a bad body to an unknown pool), so a
failure has a set of input classes; within one status and code, each failing requirement joins the bucket of
the class most failures share (greedy, ties by name): a 500 for every bad body is one bucket whether the
example also named an unknown pool or not.

An answer whose status the oracle allowed broke its requirement by its shape (a header, the body), not by
answering the wrong thing to an input class: such a failure is a bucket of its own, named by that requirement.

Each requirement's first failure stands for it (its own property's shrunk example where it has one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.models import Exchange

VALID = "valid request"
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"(?<![\w.-])[-+]?\d[\d.:-]*(?![\w])")


def mask(text: str) -> str:
    """A fault description without the values drawn: quoted values become '…', numbers N."""
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[0], text)
    return _NUMBER.sub("N", text)


def signature(exchange: Exchange) -> dict[str, Any]:
    """The signature of a failing exchange, as its failure record keeps it: status, error code, whether the
    oracle allowed that status, and each input class with its (masked) descriptions."""
    from conformance.checks import batch_error  # lazily: results.json readers need no Hypothesis

    expectation, response = exchange.expectation, exchange.response
    inputs: dict[str, set[str]] = {}
    if expectation.faults:
        for fault in expectation.faults:
            inputs.setdefault(fault.requirement, set()).add(mask(fault.description))
    else:
        inputs[VALID] = set()
        for point in expectation.open_points:  # a valid request with an open point: that point is a class too
            if point.requirement:
                inputs.setdefault(point.requirement, set()).add(mask(point.description))
    error = batch_error(response)
    return {"status": response.status, "code": error["code"] if error else None,
            "status_allowed": response.status in expectation.statuses,
            "inputs": {label: sorted(texts) for label, texts in sorted(inputs.items())}}


@dataclass(frozen=True)
class Bucket:
    """One distinct failure signature and every requirement whose first failure has it."""

    status: int | None
    code: str | None
    input: str  # the shared input class (a governing requirement ID or "valid request"), or the broken requirement
    shape: bool  # the status was allowed: the answer's shape broke the requirement
    described: tuple[str, ...]
    requirements: tuple[str, ...]
    levels: tuple[str, ...]

    @property
    def key(self) -> str:
        """The signature as text: stable from run to run for the same cause."""
        kind = "shape of the answer" if self.shape else "input"
        return f"{self.status} {self.code or '-'} | {kind}: {self.input}"

    @property
    def id(self) -> str:
        """A short stable name of the signature (for CI logs and comparisons)."""
        return hashlib.sha256(self.key.encode("utf-8", "surrogatepass")).hexdigest()[:10]

    @property
    def answer(self) -> str:
        """'500 InternalError' or '202'."""
        return f"{self.status} {self.code}" if self.code else str(self.status)

    @property
    def title(self) -> str:
        """One line a person reads: the answer, and the input class that draws it."""
        if self.shape:
            return f"{self.answer} answered, but shaped against {self.input}"
        if self.input == VALID:
            return f"{self.answer} to a valid request"
        words = "; ".join(self.described)
        return f"{self.answer} to {self.input} input" + (f" ({words})" if words else "")

    def to_json(self) -> dict[str, Any]:
        """The results.json entry."""
        return {"id": self.id, "signature": self.key, "title": self.title, "status": self.status, "code": self.code,
                "input": self.input, "shape": self.shape, "described": list(self.described),
                "requirements": list(self.requirements), "levels": list(self.levels)}


@dataclass(frozen=True)
class _Failed:
    requirement: str
    level: str
    status: int | None
    code: str | None
    shape: bool
    inputs: dict[str, list[str]]


def _failed(requirement: str, level: str, first_failure: dict[str, Any]) -> _Failed:
    sig = first_failure.get("signature")
    if not isinstance(sig, dict):  # a record from before signatures: the response's status alone
        status = (first_failure.get("response") or {}).get("status")
        return _Failed(requirement, level, status if isinstance(status, int) else None, None, False,
                       {"unknown input": []})
    shape = bool(sig.get("status_allowed"))
    inputs = {requirement: []} if shape else dict(sig.get("inputs") or {"unknown input": []})
    return _Failed(requirement, level, sig.get("status"), sig.get("code"), shape, inputs)


def bucket_failures(failures: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Bucket]:
    """Buckets of (requirement ID, level, first failure) triples: MUST-breaking buckets first, then by size."""
    groups: dict[tuple[Any, Any, bool], list[_Failed]] = {}
    for rid, level, first in failures:
        f = _failed(rid, level, first)
        groups.setdefault((f.status, f.code, f.shape), []).append(f)
    out = []
    for (status, code, shape), members in groups.items():
        left = list(members)
        while left:
            counts: dict[str, int] = {}
            for f in left:
                for label in f.inputs:
                    counts[label] = counts.get(label, 0) + 1
            label = min(counts, key=lambda name: (-counts[name], name))
            taken = [f for f in left if label in f.inputs]
            left = [f for f in left if label not in f.inputs]
            described = sorted({text for f in taken for text in f.inputs[label]})
            out.append(Bucket(status, code, label, shape, tuple(described), tuple(f.requirement for f in taken),
                              tuple(f.level for f in taken)))
    return sorted(out, key=lambda b: ("MUST" not in b.levels, -len(b.requirements), b.key))
