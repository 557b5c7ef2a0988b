"""JUnit XML, written in one place for run, validate-traffic and diff: one testcase per verdict.

Every text that reaches the file passes through xml_text(): shown() (secrets redacted, control characters and
lone surrogates replaced, so that no target's answer can make the file unparseable) and XML's own exclusions.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from conformance.reporting.failures import shown

Outcome = Literal["passed", "failure", "error", "skipped"]
MESSAGE_CHARS = 500
# Characters XML 1.0 cannot hold beyond those shown() replaces.
_NOT_XML = re.compile("[\ufffe\uffff]")


def xml_text(value: object) -> str:
    """The value as text an XML file can hold, secrets redacted: characters XML forbids become U+FFFD."""
    return _NOT_XML.sub("\ufffd", shown(value))


@dataclass(frozen=True)
class Case:
    """One testcase: where it belongs, its outcome, and what a person reads about it."""

    classname: str
    name: str
    outcome: Outcome = "passed"
    message: str = ""
    detail: str | None = None  # the body of a failure element
    kind: str = ""  # the failure's type attribute
    time: float = 0.0
    properties: tuple[tuple[str, str], ...] = ()


def _case(case: Case) -> ET.Element:
    node = ET.Element("testcase", {"classname": xml_text(case.classname), "name": xml_text(case.name),
                                   "time": f"{case.time:.3f}"})
    if case.properties:
        ET.SubElement(node, "properties").extend(
            ET.Element("property", {"name": xml_text(k), "value": xml_text(v)}) for k, v in case.properties)
    if case.outcome == "failure":
        failure = ET.SubElement(node, "failure", {"message": xml_text(case.message)[:MESSAGE_CHARS],
                                                  "type": xml_text(case.kind)})
        failure.text = None if case.detail is None else xml_text(case.detail)
    elif case.outcome in ("error", "skipped"):
        ET.SubElement(node, case.outcome, {"message": xml_text(case.message)})
    return node


def write_junit(path: Path, *, root: str, suite: str, cases: Sequence[Case], duration: float,
                properties: Sequence[tuple[str, str]] = ()) -> None:
    """One testsuite of these cases, with the suite's properties, as a JUnit XML file."""
    counts = {o: sum(1 for c in cases if c.outcome == o) for o in ("failure", "error", "skipped")}
    node = ET.Element("testsuite", {"name": xml_text(suite), "tests": str(len(cases)),
                                    "failures": str(counts["failure"]), "errors": str(counts["error"]),
                                    "skipped": str(counts["skipped"]), "time": f"{duration:.3f}"})
    ET.SubElement(node, "properties").extend(
        ET.Element("property", {"name": xml_text(k), "value": xml_text(v)}) for k, v in properties)
    node.extend(_case(c) for c in cases)
    top = ET.Element("testsuites", {"name": xml_text(root)})
    top.append(node)
    ET.indent(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(top, encoding="utf-8", xml_declaration=True))
