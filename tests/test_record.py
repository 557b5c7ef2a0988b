"""The certification record names exactly the suite, spec documents, settings and target of a run; the badge."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import platform
import xml.etree.ElementTree as ET
from pathlib import Path

from tiny_batch import TinyBatch, inventory, serving

from conformance.cli import main
from conformance.config import Settings
from conformance.reporting.record import spec_documents, target_identity
from conformance.reporting.report import run_badge
from conformance.reporting.results import RequirementResult, RunResult
from conformance.spec import catalogue, default_version

from conftest import REPO_ROOT, run_suite

PASSWORD = "s3cret-pa55w0rd"


def _sha256(name: str) -> str:
    return hashlib.sha256((REPO_ROOT / name).read_bytes()).hexdigest()


def test_record_spec_digests_match_the_files_the_run_read(tmp_path: Path) -> None:
    run = run_suite(tmp_path, "--only", "SPEC-STATUS-CODE", schemathesis=True)  # the spec-driven layer reads Swagger
    record = run.results["record"]
    swagger = f"spec/reimage-{default_version()}.json"
    assert {d["name"]: d["sha256"] for d in record["spec_documents"]} == {
        name: _sha256(name) for name in ("spec/requirements.json", "spec/versions.json", swagger)}
    assert (record["suite_version"], record["api_version"], record["profile"], record["seed"]) == (
        run.results["suite_version"], default_version(), "quick", 0)
    assert record["versions"]["python"] == platform.python_version()
    assert set(record["versions"]) == {"python", "hypothesis", "schemathesis", "azure-batch"}
    assert record["target"] == {"kind": "embedded emulator", "url": None, "server": [], "emulator_fault": None}
    assert record["started"] <= record["finished"]


def test_record_without_the_spec_driven_layer_names_no_swagger_document() -> None:
    assert [d.name for d in spec_documents(default_version(), swagger=False)] == ["spec/requirements.json",
                                                                                  "spec/versions.json"]


def test_record_names_the_emulator_fault() -> None:
    assert target_identity(Settings(emulator_fault="status-200"), []).emulator_fault == "status-200"


def test_record_url_target_password_never_leaves_and_its_server_header_is_named(tmp_path: Path) -> None:
    (tmp_path / "inventory.json").write_text(json.dumps(inventory(TinyBatch.nodes, TinyBatch.pool)))
    out, err = io.StringIO(), io.StringIO()
    with serving(TinyBatch) as url, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        target = url.replace("http://", f"http://vendor:{PASSWORD}@")
        code = main(["run", "-q", "--target", target, "--inventory", str(tmp_path / "inventory.json"), "--profile",
                     "quick", "--no-schemathesis", "--request-timeout", "5", "--only", "SEM-POOL-NOT-FOUND",
                     "--report-dir", str(tmp_path / "r")])
    assert code == 0
    record = json.loads((tmp_path / "r" / "results.json").read_text())["record"]
    assert record["target"]["url"] == url.replace("http://", "http://REDACTED@")
    assert record["target"]["server"] == [f"BaseHTTP/0.6 Python/{platform.python_version()}"]
    leaked = [p.name for p in (tmp_path / "r").iterdir() if PASSWORD in p.read_text(encoding="utf-8")]
    assert leaked == [] and PASSWORD not in out.getvalue() + err.getvalue()


def _run_with(statuses: dict[str, str]) -> RunResult:
    run = RunResult(target="embedded emulator", api_version=default_version(), seed=0, profile="quick",
                    suite_version="0.1.0")
    for rid, status in statuses.items():
        run.requirements[rid] = RequirementResult(catalogue()[rid], status=status)  # type: ignore[arg-type]
    return run


def test_badge_counts_decided_of_applicable_must_requirements() -> None:
    run = _run_with({"SEM-ACCEPT": "pass", "SEM-BAD-BODY": "fail", "SEM-NODE-STATE": "undecided",
                     "AUTH-MISSING": "not-applicable", "SEM-METHOD": "fail"})
    svg = ET.fromstring(run_badge(run))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[-1] == "fail | 2/3 MUST decided"
    assert "2 of 3 applicable MUST requirements decided (1 not applicable)" in svg.get("aria-label", "")
